"""Summary statistics of scorers: percentile-bootstrap intervals and measures of a class distribution.

Pure functions on NumPy arrays; every random draw comes from a generator seeded by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as sps
from tqdm.auto import tqdm

from harness.scorers.options import BootstrapOptions

# Resamples are drawn in chunks so that memory stays bounded for large runs.
_CHUNK = 128


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 - level) / 2 and (1 + level) / 2 quantiles of bootstrap replicates along axis 0."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(replicates, dtype=np.float64), [alpha, 1.0 - alpha], axis=0)
    return low, high


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` resamples (with replacement, over axis 0) of `values`: shape (resamples, ...)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, *values.shape[1:]), dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def mean_ci(values: np.ndarray, options: BootstrapOptions) -> tuple[float, float] | tuple[None, None]:
    """Percentile-bootstrap interval of the mean of a 1-d sample; (None, None) below two values."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < 2:
        return None, None
    low, high = percentile_interval(bootstrap_means(values, options.resamples, options.seed), options.level)
    return float(low), float(high)


def share_cis(labels: np.ndarray, n_classes: int, options: BootstrapOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per-class percentile intervals of class shares; labels are class indices, resampled jointly."""
    onehot = np.eye(n_classes)[np.asarray(labels, dtype=np.int64)]
    if onehot.shape[0] < 2:
        nan = np.full(n_classes, np.nan)
        return nan, nan
    return percentile_interval(bootstrap_means(onehot, options.resamples, options.seed), options.level)


def bootstrap_statistic_ci(
    n: int, statistic: Callable[[np.ndarray], float], options: BootstrapOptions, desc: str | None = None
) -> tuple[float, float] | tuple[None, None]:
    """Percentile interval of `statistic(indices)` over resampled index sets of a sample of size n.

    `desc` labels a progress bar, for statistics slow enough to need one (FID: one eigensolve each).
    """
    if n < 2:
        return None, None
    rng = np.random.default_rng(options.seed)
    draws = tqdm(range(options.resamples), desc=desc, unit="resample", leave=False, disable=desc is None)
    replicates = np.array([statistic(rng.integers(0, n, size=n)) for _ in draws])
    low, high = percentile_interval(replicates, options.level)
    return float(low), float(high)


def normalized_entropy(shares: np.ndarray) -> float:
    """Shannon entropy of a distribution over K classes divided by log K: 1 is uniform, 0 is one class."""
    p = np.asarray(shares, dtype=np.float64)
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum() / np.log(p.size))


def tv_from_uniform(shares: np.ndarray) -> float:
    """Total variation distance to the uniform distribution: half the L1 distance, in [0, 1 - 1/K]."""
    p = np.asarray(shares, dtype=np.float64)
    return float(0.5 * np.abs(p - 1.0 / p.size).sum())


def chi_square_uniform_pvalue(counts: np.ndarray) -> float | None:
    """p-value of Pearson's chi-square goodness-of-fit test against equal class frequencies."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return None
    return float(sps.chisquare(counts).pvalue)


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean of the finite values and the Student-t confidence interval of that mean (not a bootstrap).

    NaN mean for no finite value; no interval (None, None) below two values.
    """
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return float("nan"), None, None
    mean = float(data.mean())
    if data.size < 2:
        return mean, None, None
    half = float(sps.t.ppf((1 + level) / 2, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size))
    return mean, mean - half, mean + half
