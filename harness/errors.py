"""What a user can cause, as one family of errors, and how such an error is shown: one line, exit code 2.

Anything that is not a UsageError (or the model package's GlideInputError) is a bug and shows its traceback.
"""

from __future__ import annotations

from harness.glide.bad_input import GlideInputError


class UsageError(Exception):
    """Something the user can fix: a config value, a file, missing weights, a device, a full disk."""


class ConfigError(UsageError, ValueError):
    """A config value outside what is allowed; the message names the key, the value and what is allowed."""


class InputFileError(UsageError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class MissingWeightsError(UsageError):
    """Model weights that are not on disk and cannot be fetched now; the message says how to fetch them."""


class DiskFullError(UsageError):
    """A write failed for lack of space; the message names the path and the space needed."""


USAGE_ERRORS: tuple[type[BaseException], ...] = (UsageError, GlideInputError)


def error_line(err: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
