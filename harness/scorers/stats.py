"""Intervals chosen by what a quantity is, paired comparisons of sweep cells, and class-distribution measures.

Pure functions on NumPy arrays; every random draw comes from a generator seeded by the caller.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from harness.scorers.options import BootstrapOptions

PROPORTION_METHOD = "clopper_pearson"
STUDENT_T = "student_t"
BOOTSTRAP_T = "bootstrap_t"
T_BOOTSTRAP_T_HULL = "t_bootstrap_t_hull"
NO_INTERVAL = "no_interval"
# Below this many units no interval of a mean covered 0.93 on the simulated per-prompt scores (mean_interval).
MIN_INTERVAL_UNITS = 5
# Rows of a batch times resamples times sample size held in memory at once by the studentized bootstrap.
_CHUNK_ELEMENTS = 2**22


def proportion_interval(k: np.ndarray | int, n: np.ndarray | int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson ("exact") interval of k successes in n trials, elementwise; NaN where n == 0.

    Chosen over Wilson because its coverage is at least `level` for every p and n: Wilson covers only 0.875
    at n=4, p=0.5 (k=0 or 4 give intervals that exclude 0.5). No interval has zero width for n >= 1.
    Equal to scipy.stats.binomtest(k, n).proportion_ci(level, method="exact"), in closed form via Beta quantiles.
    """
    from scipy import stats as sps

    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, sps.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, sps.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def mean_interval_method(n: int, options: BootstrapOptions) -> str:
    """The interval a mean of n independent units gets: none below `min_units(options)`, else the hull of
    Student t and bootstrap-t (see `mean_interval`)."""
    return NO_INTERVAL if n < min_units(options) else T_BOOTSTRAP_T_HULL


def min_units(options: BootstrapOptions) -> int:
    """The fewest units an interval is shown for: `options.min_n`, and never fewer than MIN_INTERVAL_UNITS."""
    return max(MIN_INTERVAL_UNITS, options.min_n)


def mean_interval(values: np.ndarray, options: BootstrapOptions) -> tuple[np.ndarray, np.ndarray]:
    """Interval of the mean of each row of `values` (..., n) over its last axis; NaN below `min_units`.

    The hull (union) of the Student t and the studentized bootstrap (bootstrap-t: resample, studentize each
    resample's mean by its own standard error, invert the t* quantiles) intervals: per-prompt scores are
    skewed or bounded, and on seeded simulations at 4-16 prompts (tests/scorers/test_coverage.py, 3,000
    data sets each) t alone covered a lognormal(sigma=0.5) mean 0.91-0.93, bootstrap-t alone 0.92-0.94,
    their hull 0.94-0.95; bounded scores and clustered shares (ICC 0.1-0.3) 0.93-0.99. Per-prompt rates
    of a 0/1 outcome, whose values tie, are not covered by it (0.86 at 5 prompts): they get `rate_interval`. Below 5
    prompts no method held 0.93: t covered a share of 0.1 at ICC 0.3 0.63-0.81, so no interval is shown.
    A lognormal(sigma=1) mean is covered only 0.90-0.92 at up to 16 prompts by any of them. Every row uses
    the same resample indices, drawn from `options.seed`, so one sample's interval is reproducible.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[-1]
    if n < min_units(options):
        nan = np.full(x.shape[:-1], np.nan)
        return nan, nan.copy()
    from scipy import stats as sps

    mean = x.mean(axis=-1)
    se = x.std(axis=-1, ddof=1) / np.sqrt(n)
    half = sps.t.ppf((1 + options.level) / 2, n - 1) * se
    q_low, q_high = _studentized_quantiles(x, mean, options)
    return np.fmin(mean - half, mean - q_high * se), np.fmax(mean + half, mean - q_low * se)


def _studentized_quantiles(x: np.ndarray, mean: np.ndarray, options: BootstrapOptions) -> tuple[np.ndarray, np.ndarray]:
    """(1-level)/2 and (1+level)/2 quantiles of t* = (mean* - mean) / se* per row of x."""
    n = x.shape[-1]
    idx = np.random.default_rng(options.seed).integers(0, n, size=(options.resamples, n))
    flat, flat_mean = x.reshape(-1, n), mean.reshape(-1)
    alpha = (1 - options.level) / 2
    q = np.empty((2, flat.shape[0]))
    rows = max(1, _CHUNK_ELEMENTS // (options.resamples * n))
    for start in range(0, flat.shape[0], rows):
        block = flat[start : start + rows]
        resampled = block[:, idx]  # (rows, resamples, n)
        m = resampled.mean(axis=-1)
        s = resampled.std(axis=-1, ddof=1) / np.sqrt(n)
        # A resample of one repeated value has se* = 0 and no t*: with tied scores (a rate, a coverage that
        # is often the same) such resamples are common, and counting them as +-inf would put a quantile at
        # infinity. Values equal but for rounding (slopes of a law the prompts share, 0.121875 and
        # 0.12187499999999999) leave an se* of 1e-17, whose t* put a bound at -3e12: an se* below 1e-9 of the
        # row's largest magnitude counts as a tie. The t* distribution is taken over the resamples that have
        # one; a row with none (every value equal) keeps the Student t interval alone.
        tie = 1e-9 * np.abs(block).max(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(s > tie, (m - flat_mean[start : start + rows, None]) / s, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled below
            q[:, start : start + rows] = np.nanquantile(t, [alpha, 1 - alpha], axis=1)
    return q[0].reshape(mean.shape), q[1].reshape(mean.shape)


def rate_interval(rates: np.ndarray, options: BootstrapOptions) -> tuple[np.ndarray, np.ndarray]:
    """Interval of the mean of per-prompt rates of a 0/1 outcome (each row of `rates` (..., n), values in
    [0, 1]); NaN below `min_units`, as `mean_interval`.

    Rates over a few seeds tie and pile up at 0 or 1, and there t and bootstrap-t fail: on seeded simulations
    (tests/scorers/test_coverage.py) a rare outcome (prompt rates from Beta(0.5, 4.5) over 2 seeds) was covered
    0.61 at 5 prompts and 0.81 at 16, a common one (Beta(9, 1), one seed) 0.40 to 0.81. The interval is
    therefore the hull of `mean_interval` and Clopper-Pearson with each prompt as one trial (the rates' sum as
    fractional successes): one trial a prompt is the smallest effective sample size its seeds can have, so it
    holds at any intra-prompt correlation, and it covered 0.996 or more in every case simulated. Clipped to
    [0, 1], which changes no coverage.
    """
    x = np.asarray(rates, dtype=np.float64)
    n = x.shape[-1]
    low, high = mean_interval(x, options)  # NaN below min_units: the hull keeps it (np.minimum propagates NaN)
    cp_low, cp_high = proportion_interval(x.sum(axis=-1), np.full(x.shape[:-1], n), options.level)
    return np.clip(np.minimum(low, cp_low), 0, 1), np.clip(np.maximum(high, cp_high), 0, 1)


def is_rate(values: np.ndarray) -> bool:
    """Whether per-sample scores are a 0/1 outcome (presence, adherence), whose per-prompt means are rates."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return bool(values.size) and bool(np.isin(values, (0.0, 1.0)).all())


def mean_ci(
    values: np.ndarray, options: BootstrapOptions, *, rate: bool = False
) -> tuple[float, float] | tuple[None, None]:
    """`mean_interval` (`rate_interval` for rates) of a 1-d sample as floats; (None, None) where it shows none
    (too few values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < 2:
        return None, None
    low, high = (rate_interval if rate else mean_interval)(values, options)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, None
    return float(low), float(high)


def cluster_means(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Mean of `values` per cluster label, in sorted label order: prompts, not images, are the units."""
    labels, inverse = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64), minlength=len(labels))
    return sums / np.bincount(inverse, minlength=len(labels))


def prompt_mean(
    values: np.ndarray, prompts: np.ndarray, options: BootstrapOptions
) -> tuple[float | None, float | None, float | None, int]:
    """(mean, ci_low, ci_high, n_prompts) of a per-sample score pooled over prompts: each prompt's seeds are
    averaged first and the interval is over prompts, the independent units (`rate_interval` where the score
    is a 0/1 outcome, `mean_interval` otherwise). NaN scores are left out."""
    values = np.asarray(values, dtype=np.float64)
    kept = ~np.isnan(values)
    if not kept.any():
        return None, None, None, 0
    means = cluster_means(values[kept], np.asarray(prompts)[kept])
    low, high = mean_ci(means, options, rate=is_rate(values[kept]))
    return float(means.mean()), low, high, len(means)


# --- paired comparisons of sweep cells -----------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """Mean over prompts of (b - a), its interval, the sign-flip p-value and how they were computed."""

    diff: float
    ci_low: float
    ci_high: float
    p: float
    n_prompts: int
    method: str


def prompt_differences(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per-prompt mean of b - a over the (prompt_id, seed) pairs both cells hold, in sorted prompt order."""
    joined = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    if joined.empty:
        return np.empty(0)
    prompts = joined.index.get_level_values(0).astype(str).to_numpy()
    return cluster_means((joined["b"] - joined["a"]).to_numpy(dtype=np.float64), prompts)


def sign_flip_pvalue(d: np.ndarray, resamples: int, seed: int) -> tuple[float, str]:
    """Two-sided p of mean(d) = 0 against random signs of the per-prompt differences d (exchangeable under H0).

    All 2^J sign vectors when 2^J <= resamples (exact); else `resamples` random ones and p = (1 + hits) /
    (1 + resamples), which never reports 0. A flip ties the observed |mean| within 1e-12 relative.
    """
    d = np.asarray(d, dtype=np.float64)
    j = d.shape[0]
    observed = abs(d.mean())
    tie = observed * (1 - 1e-12)
    if 2**j <= resamples:
        signs = ((np.arange(2**j)[:, None] >> np.arange(j)) & 1) * 2.0 - 1.0
        return float(np.mean(np.abs(signs @ d) / j >= tie)), f"sign-flip permutation over prompts (exact, {2**j})"
    signs = np.random.default_rng(seed).integers(0, 2, size=(resamples, j)) * 2.0 - 1.0
    hits = int(np.sum(np.abs(signs @ d) / j >= tie))
    return (1 + hits) / (1 + resamples), f"sign-flip permutation over prompts ({resamples} random)"


def paired_comparison(a: pd.Series, b: pd.Series, options: BootstrapOptions) -> PairedComparison:
    """b - a for two cells scored on the same prompts and seeds; series indexed by (prompt_id, seed).

    Prompts are the independent units: each prompt's seeds are averaged first, then the per-prompt
    differences get the interval of a mean (`mean_interval`: the hull of Student t and bootstrap-t over prompts, i.e. a
    cluster bootstrap resampling whole prompts) and a sign-flip permutation p-value.
    """
    return difference_comparison(prompt_differences(a, b), options)


def difference_comparison(d: np.ndarray, options: BootstrapOptions) -> PairedComparison:
    """Mean of the per-prompt differences `d` with its interval over prompts and the sign-flip p-value."""
    d = np.asarray(d, dtype=np.float64)
    j = d.shape[0]
    if j < 2:
        diff = float(d.mean()) if j else float("nan")
        return PairedComparison(diff, float("nan"), float("nan"), float("nan"), j, "fewer than 2 shared prompts")
    low, high = mean_interval(d, options)
    p, p_method = sign_flip_pvalue(d, options.resamples, options.seed)
    interval = {NO_INTERVAL: f"no interval below {min_units(options)} prompts"}.get(
        mean_interval_method(j, options), "hull of Student t and bootstrap-t"
    )
    method = f"{interval} over {j} per-prompt mean differences; {p_method}"
    return PairedComparison(float(d.mean()), float(low), float(high), p, j, method)


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjustment: sorted p_(i) times (m - i), made monotone, capped at 1; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m:
        order = valid[np.argsort(p[valid], kind="stable")]
        steps = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        adjusted[order] = np.minimum(steps, 1.0)
    return adjusted


def _ordered(values: pd.Series) -> list:
    distinct = list(pd.unique(values.dropna()))
    try:
        return sorted(distinct, key=float)
    except (TypeError, ValueError):
        return sorted(distinct, key=str)


def adjacent_comparisons(
    table: pd.DataFrame, param: str, options: BootstrapOptions, *, metric: str = "metric", value: str = "value"
) -> pd.DataFrame:
    """Paired comparisons of each pair of adjacent values of the swept column `param`, for every metric.

    `table` is long: columns `param`, prompt_id, seed, `metric` (its name) and `value`. diff is the later
    value's cell minus the earlier one's (values in numeric order). p_holm is Holm-adjusted over every row
    returned; callers that compare several parameters adjust again over their whole family (comparisons.py).
    """
    missing = [c for c in (param, "prompt_id", "seed", metric, value) if c not in table.columns]
    if missing:
        raise ValueError(f"adjacent_comparisons: the table lacks column(s) {', '.join(missing)}")
    rows = []
    levels = _ordered(table[param])
    for name, frame in table.groupby(metric, sort=True):
        cells = {v: frame[frame[param] == v].set_index(["prompt_id", "seed"])[value] for v in levels}
        for left, right in zip(levels, levels[1:], strict=False):
            result = paired_comparison(cells[left], cells[right], options)
            rows.append({"param": param, "value_a": left, "value_b": right, "metric": name, **asdict(result)})
    columns = ["param", "value_a", "value_b", "metric", "diff", "ci_low", "ci_high", "p", "n_prompts", "method"]
    out = pd.DataFrame(rows, columns=columns)
    out.insert(out.columns.get_loc("p") + 1, "p_holm", holm(out["p"].to_numpy(dtype=np.float64)))
    return out


# --- monotone trends and unpaired groups ----------------------------------------------------------------


@dataclass(frozen=True)
class TrendTest:
    """A monotone trend over every value of a swept parameter, paired by prompt.

    slope: the mean over prompts of each prompt's least-squares slope of the metric against the values' ranks
    (metric units per step), with its interval over prompts. p_increase / p_decrease: one-sided sign-flip
    p-values of that mean. steps: the paired comparison of each pair of adjacent values.
    """

    slope: float
    ci_low: float
    ci_high: float
    p_increase: float
    p_decrease: float
    n_prompts: int
    steps: tuple[PairedComparison, ...]


def rank_slopes(means: np.ndarray) -> np.ndarray:
    """Each row's least-squares slope against the ranks 1..K of its K columns (the swept values in order)."""
    means = np.asarray(means, dtype=np.float64)
    ranks = np.arange(means.shape[-1], dtype=np.float64)
    centred = ranks - ranks.mean()
    return (means - means.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)


def one_sided_sign_flip(d: np.ndarray, alternative: str, resamples: int, seed: int) -> float:
    """One-sided p of mean(d) > 0 ("greater") or < 0 ("less") against random signs of the per-prompt values d.

    scipy.stats.permutation_test with one sample flips signs: exact over all 2^J sign vectors when
    2^J <= resamples, else `resamples` random ones with p = (1 + hits) / (1 + resamples).
    """
    from scipy import stats as sps

    result = sps.permutation_test(
        (np.asarray(d, dtype=np.float64),),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        alternative=alternative,
        n_resamples=resamples,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def trend_test(means: np.ndarray, options: BootstrapOptions) -> TrendTest:
    """Monotone trend of a (prompts, K) array of per-prompt means at K swept values in their order.

    Each prompt's slope against the values' ranks uses every value, weighs each step alike whatever the
    spacing of the values, and is paired by construction; the prompts are the units. The test is a
    one-sided sign-flip over prompts rather than a t-test because at 5-16 prompts a skewed or bounded
    score leaves t's level unknown, while under a flat curve with noise exchangeable across the values
    each prompt's slope is symmetric about 0 (reversing the order negates it), so the sign-flip is exact.
    Rank-within-prompt tests (Page's L) were not chosen: they test "no prompt changes", and prompts that
    rise and fall alike would make them reject a flat mean curve.
    """
    means = np.asarray(means, dtype=np.float64)
    slopes = rank_slopes(means)
    j = slopes.shape[0]
    steps = tuple(difference_comparison(means[:, k + 1] - means[:, k], options) for k in range(means.shape[1] - 1))
    if j < 2:
        nan = float("nan")
        return TrendTest(float(slopes.mean()) if j else nan, nan, nan, nan, nan, j, steps)
    low, high = mean_interval(slopes, options)
    p_up = one_sided_sign_flip(slopes, "greater", options.resamples, options.seed)
    p_down = one_sided_sign_flip(slopes, "less", options.resamples, options.seed)
    return TrendTest(float(slopes.mean()), float(low), float(high), p_up, p_down, j, steps)


def two_sample_pvalue(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> float:
    """Two-sided permutation p of mean(x) = mean(y) for two groups of different prompts (prompts relabelled
    between groups; exact when every relabelling fits in `resamples`), via scipy.stats.permutation_test."""
    from scipy import stats as sps

    result = sps.permutation_test(
        (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)),
        lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=resamples,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


# --- class distributions -------------------------------------------------------------------------------


def normalized_entropy(shares: np.ndarray) -> float:
    """Shannon entropy of a distribution over K classes divided by log K: 1 is uniform, 0 is one class."""
    p = np.asarray(shares, dtype=np.float64)
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum() / np.log(p.size))


def tv_from_uniform(shares: np.ndarray) -> float:
    """Total variation distance to the uniform distribution: half the L1 distance, in [0, 1 - 1/K]."""
    p = np.asarray(shares, dtype=np.float64)
    return float(0.5 * np.abs(p - 1.0 / p.size).sum())


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
    from scipy import stats as sps

    half = float(sps.t.ppf((1 + level) / 2, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size))
    return mean, mean - half, mean + half


# --- the smallest p-value each test can give: what a design can decide before any sample exists ------------


def smallest_sign_flip_p(units: int, resamples: int, *, two_sided: bool) -> float:
    """The smallest p `one_sided_sign_flip` (two_sided=False) or `sign_flip_pvalue` (True) can return over
    `units` prompts: every prompt's difference on one side. Exact tests reach 1 / 2^J one-sided (2 / 2^J
    two-sided, both all-same-sign vectors tie); random flips never go below 1 / (1 + resamples)."""
    if units < 1:
        return 1.0
    exact = 2**units <= resamples
    one = 2.0**-units if exact else 1 / (1 + resamples)
    return min(1.0, 2 * one if two_sided and exact else one)


def smallest_two_sample_p(n1: int, n2: int, resamples: int) -> float:
    """The smallest two-sided p `two_sample_pvalue` can return for groups of n1 and n2 prompts: the observed
    split is the most extreme of the C(n1 + n2, n1) relabellings (exact), or of `resamples` random ones."""
    if n1 < 2 or n2 < 2:
        return 1.0  # two_sample_pvalue is not run: one prompt leaves no spread to test against
    splits = math.comb(n1 + n2, n1)
    one = 1 / splits if splits <= resamples else 1 / (1 + resamples)
    return min(1.0, 2 * one)
