"""Fréchet distance, KID and CMMD against closed forms and independent NumPy/SciPy computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from harness.scorers.distances import GaussianReference, cmmd, frechet_distance, frechet_to_reference, kid


def _correlated(rng: np.random.Generator, n: int, d: int, shift: float) -> np.ndarray:
    mixing = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mixing + shift


def _scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """The closed form with SciPy's general matrix square root, as pytorch-fid computes it."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def test_frechet_distance_equals_scipy_closed_form_to_1e6_relative():
    rng = np.random.default_rng(0)
    x, y = _correlated(rng, 80, 6, 0.0), _correlated(rng, 60, 6, 0.7)
    ours = frechet_distance(*_moments(x), *_moments(y))
    assert ours == pytest.approx(_scipy_frechet(x, y), rel=1e-6)


def test_frechet_of_a_set_against_itself_is_zero():
    x = _correlated(np.random.default_rng(1), 50, 8, 0.3)
    mu, sigma = _moments(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_frechet_distance_of_gaussians_with_diagonal_covariances():
    # Commuting covariances: d = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_non_commuting_2d_gaussians():
    # For 2x2 PSD matrices tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)), with M similar to s1 s2.
    s1 = np.array([[2.0, 0.6], [0.6, 1.0]])
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    s2 = rot @ np.diag([3.0, 0.5]) @ rot.T
    mu1, mu2 = np.array([0.5, -1.0]), np.array([0.0, 2.0])
    trace_sqrt = np.sqrt(np.trace(s1 @ s2) + 2.0 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = 0.25 + 9.0 + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_large_samples_approaches_that_of_their_gaussians():
    rng = np.random.default_rng(2)
    s1, s2 = np.diag([1.0, 2.0, 0.5]), np.diag([2.0, 0.5, 0.5])
    x = rng.multivariate_normal([0.0, 0.0, 0.0], s1, size=40_000)
    y = rng.multivariate_normal([1.0, 0.0, 0.0], s2, size=40_000)
    expected = 1.0 + (1 - np.sqrt(2)) ** 2 + (np.sqrt(2) - np.sqrt(0.5)) ** 2
    assert frechet_distance(*_moments(x), *_moments(y)) == pytest.approx(expected, rel=0.05)


def test_frechet_to_a_precomputed_reference_equals_the_pairwise_form():
    rng = np.random.default_rng(3)
    x, y = _correlated(rng, 40, 5, 0.0), _correlated(rng, 40, 5, 1.0)
    reference = GaussianReference.from_moments(*_moments(y))
    assert frechet_to_reference(*_moments(x), reference) == pytest.approx(_scipy_frechet(x, y), rel=1e-6)


def _unbiased_poly_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """MMD^2 U-statistic with k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018), written out in NumPy."""
    d, m = x.shape[1], x.shape[0]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    off = ~np.eye(m, dtype=bool)
    return float(kxx[off].mean() + kyy[off].mean() - 2.0 * kxy.mean())


def test_kid_with_one_subset_of_every_row_equals_the_unbiased_mmd():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(30, 5)), rng.normal(0.4, 1.2, size=(30, 5))
    estimate = kid(real, fake, subsets=1, subset_size=30, seed=0)
    assert estimate.mean == pytest.approx(_unbiased_poly_mmd(real, fake), rel=1e-10)
    assert estimate.std is None and estimate.subsets == 1  # one estimate has no spread, not a spread of 0


def test_kid_of_whole_sets_is_one_estimate_however_many_subsets_are_asked_for():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(30, 5)), rng.normal(0.4, 1.2, size=(30, 5))
    estimate = kid(real, fake, subsets=50, subset_size=30, seed=0)
    assert estimate.mean == pytest.approx(_unbiased_poly_mmd(real, fake), rel=1e-10)
    assert (estimate.std, estimate.subsets, estimate.subset_size) == (None, 1, 30)
    # Whole generated set but subsets of a larger reference: the draws differ, the spread is real.
    larger = kid(rng.normal(size=(40, 5)), fake, subsets=50, subset_size=30, seed=0)
    assert larger.subsets == 50 and larger.std > 0


def test_kid_mean_and_std_are_over_the_subsets():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(40, 4)), rng.normal(0.5, 1.0, size=(40, 4))
    estimate = kid(real, fake, subsets=25, subset_size=10, seed=3)
    # Same draws as the scorer's documented protocol: one generator, real then fake indices per subset.
    draw = np.random.default_rng(3)
    values = []
    for _ in range(25):
        r, f = draw.choice(40, 10, replace=False), draw.choice(40, 10, replace=False)
        values.append(_unbiased_poly_mmd(real[r], fake[f]))
    assert estimate.mean == pytest.approx(np.mean(values), rel=1e-10)
    assert estimate.std == pytest.approx(np.std(values), rel=1e-10)
    assert (estimate.subsets, estimate.subset_size) == (25, 10)


def test_kid_is_unbiased_for_identical_distributions():
    rng = np.random.default_rng(6)
    draws = 400
    values = np.array(
        [
            kid(rng.normal(size=(12, 4)), rng.normal(size=(12, 4)), subsets=1, subset_size=12, seed=i).mean
            for i in range(draws)
        ]
    )
    standard_error = values.std() / np.sqrt(draws)
    assert abs(values.mean()) < 3.0 * standard_error
    # The test has power: the biased V-statistic of the same kind of sets is clearly positive.
    biased = []
    for _ in range(draws):
        x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4))
        biased.append(
            ((x @ x.T / 4 + 1) ** 3).mean() + ((y @ y.T / 4 + 1) ** 3).mean() - 2 * ((x @ y.T / 4 + 1) ** 3).mean()
        )
    assert np.mean(biased) > 10.0 * standard_error


def _u_statistic_rbf_mmd(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """MMD^2 U-statistic (Gretton et al. 2012, eq. 3) with k(a, b) = exp(-|a - b|^2 / (2 sigma^2)), by the formula:
    sums over i != j within each set, over all pairs across."""
    m, n = len(x), len(y)
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2.0 * sigma**2))  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k(x, y).sum() / (m * n))


def _v_statistic_rbf_mmd(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2.0 * sigma**2))  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2.0 * k(x, y).mean())


def _unit_rows(rng: np.random.Generator, n: int, dim: int, shift: float = 0.0) -> np.ndarray:
    rows = rng.normal(shift, 1.0, size=(n, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_cmmd_is_the_u_statistic_rbf_mmd_with_sigma_10_times_1000():
    rng = np.random.default_rng(7)
    x, y = _unit_rows(rng, 20, 8), _unit_rows(rng, 15, 8, shift=0.3)
    expected = 1000.0 * _u_statistic_rbf_mmd(x, y, 10.0)
    assert cmmd(x, y, sigma=10.0, scale=1000.0) == pytest.approx(expected, rel=1e-9)
    assert expected > 0


def test_cmmd_of_a_set_against_itself_is_minus_two_over_n_of_one_minus_the_mean_off_diagonal_kernel():
    # With the diagonal k = 1 left out within each set but kept across: 2 (mean_off - mean_all) = -(2/n)(1 - mean_off).
    x = _unit_rows(np.random.default_rng(8), 10, 8)
    kernel = np.exp(-cdist(x, x, "sqeuclidean") / 200.0)
    mean_off = kernel[~np.eye(10, dtype=bool)].mean()
    assert cmmd(x, x, sigma=10.0, scale=1.0) == pytest.approx(-(2 / 10) * (1 - mean_off), rel=1e-9)


def test_cmmd_is_unbiased_for_identical_distributions_where_the_v_statistic_is_not():
    rng = np.random.default_rng(10)
    draws, n, dim, sigma = 2000, 10, 8, 1.0
    pairs = [(_unit_rows(rng, n, dim), _unit_rows(rng, n, dim)) for _ in range(draws)]
    unbiased = np.array([cmmd(x, y, sigma=sigma, scale=1.0) for x, y in pairs])
    biased = np.array([_v_statistic_rbf_mmd(x, y, sigma) for x, y in pairs])
    # Mean within 4 Monte-Carlo standard errors of the true MMD^2 = 0 (a false failure about 1 in 16,000).
    standard_error = unbiased.std(ddof=1) / np.sqrt(draws)
    assert abs(unbiased.mean()) < 4.0 * standard_error
    # The test has power: on the same sets the V-statistic sits far above 0, by its bias 2 (1 - E k) / n.
    assert biased.mean() > 20.0 * standard_error
