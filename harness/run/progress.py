"""Progress of a sampling run: one bar over all images, one per-step bar per batch, and a time estimate.

The loops report `progress(done, total)` per model evaluation; a batch's bar follows it, with tqdm's rate and ETA.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from tqdm.auto import tqdm

log = logging.getLogger(__name__)

STAGES = {"base": "base 64px", "upsample": "upsample 256px"}


def format_seconds(seconds: float) -> str:
    """`42s`, `3m05s` or `2h07m`: an estimate, not a timestamp."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class SamplingProgress:
    """Bars for one `sample_missing` call; `file` is where tqdm writes (stderr unless given)."""

    def __init__(self, todo: dict[str, int], *, file: IO[str] | None = None):
        self.todo = dict(todo)
        self.file = file
        self.per_image: dict[str, float] = {}
        self.start = time.perf_counter()
        self.overall = tqdm(total=sum(todo.values()), desc="images", unit="img", position=0, file=file)

    def close(self) -> None:
        self.overall.close()

    @contextmanager
    def batch(self, stage: str, size: int) -> Iterator[Callable[[int, int], None]]:
        """A per-step bar for one batch of `size` images of `stage`; yields the loop's `progress` callable."""
        bar = tqdm(desc=f"{STAGES[stage]} x{size}", unit="step", position=1, leave=False, file=self.file)

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.reset(total=total)
            bar.update(done - bar.n)
            if done == total:
                bar.refresh()  # tqdm skips updates within `mininterval`: the last one must show

        started = time.perf_counter()
        try:
            yield progress
        finally:
            bar.close()
        if stage not in self.per_image:
            self.per_image[stage] = (time.perf_counter() - started) / size
            self._log_estimate(stage)

    def done(self, images: int) -> None:
        """`images` more are in the store (computed here or by a run sharing the store)."""
        self.overall.update(images)

    def _log_estimate(self, stage: str) -> None:
        # Only stages with a measured batch are estimated: the upsampler's cost per image is not the base model's.
        remaining = {s: n for s, n in self.todo.items() if n and s in self.per_image}
        estimate = sum(self.per_image[s] * n for s, n in remaining.items())
        unknown = [STAGES[s] for s, n in self.todo.items() if n and s not in self.per_image]
        log.info(
            "%s: %.2fs per image from the first batch; estimated sampling time %s%s",
            STAGES[stage],
            self.per_image[stage],
            format_seconds(estimate),
            f" plus the {', '.join(unknown)} stage" if unknown else "",
        )
