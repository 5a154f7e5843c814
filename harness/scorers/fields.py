"""Value checks for the fields of scorer config dataclasses (plain typed fields with defaults, for Hydra).

Each raises ScorerConfigError with one line naming the dotted key, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.scorers.options import ScorerConfigError
from harness.scorers.weights import ALLOWED_WEIGHTS, folder_weights_problem

# Stage name -> the samples column holding that stage's PNG.
STAGE_COLUMNS = {"64": "path_64", "256": "path_256"}


def check_integer(key: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScorerConfigError(f"{key}: expected an integer >= {minimum}, got {value!r}")


def check_fraction(key: str, value: object) -> None:
    """A number strictly between 0 and 1 (a threshold on a probability, a confidence level)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ScorerConfigError(f"{key}: expected a number in (0, 1), got {value!r}")


def check_source(key: str, value: object) -> None:
    """A hub model id or a local folder; a folder's weight files must read without running code."""
    if not isinstance(value, str) or not value.strip():
        raise ScorerConfigError(f"{key}: expected a hub model id or a local folder, got {value!r}")
    if problem := folder_weights_problem(value):
        raise ScorerConfigError(f"{key}: {problem}; a model folder's weights must be {ALLOWED_WEIGHTS}")


def check_stage(key: str, value: object) -> None:
    if value not in STAGE_COLUMNS:
        raise ScorerConfigError(f"{key}: expected one of {', '.join(STAGE_COLUMNS)}, got {value!r}")


def choice_list(key: str, value: object, choices: Sequence[str]) -> tuple[str, ...]:
    """A non-empty list of distinct members of `choices`, as a tuple (Hydra hands lists over as ListConfig)."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or any(v not in choices for v in value):
        raise ScorerConfigError(f"{key}: expected a non-empty list of {', '.join(choices)}, got {value!r}")
    if len(set(value)) != len(value):
        raise ScorerConfigError(f"{key}: {list(value)} names an entry twice")
    return tuple(value)
