"""Console logging of a job: the harness's own lines and every warning; other libraries' INFO lines go to the
job's log file only (conf/config.yaml installs this filter on Hydra's console handler).
"""

from __future__ import annotations

import logging

OWN_LOGGERS = ("harness", "__main__")


class LibraryInfoFilter(logging.Filter):
    """Passes the harness's records at any level and others' from WARNING up (open_clip logs INFO on the root)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return any(record.name == name or record.name.startswith(f"{name}.") for name in OWN_LOGGERS)
