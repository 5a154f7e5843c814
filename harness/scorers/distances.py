"""Distances between two sets of image features: Fréchet distance (FID), KID and CMMD.

Pure functions of feature matrices (rows are images) in float64; FID/KID follow torchmetrics' conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def enough_for_covariance(n: int, dim: int) -> bool:
    """A sample covariance of n rows in dim dimensions is non-singular only if n >= dim + 1."""
    return n >= dim + 1


def gaussian_moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (n - 1) covariance of the rows, as pytorch-fid, clean-fid and torchmetrics take them."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


# A covariance read from a file or computed in float32 features is symmetric and PSD only up to round-off:
# asymmetry and negative eigenvalues up to this share of the largest absolute entry / eigenvalue are accepted.
MOMENTS_RTOL = 1e-6


def moments_problem(mu: np.ndarray, sigma: np.ndarray) -> str | None:
    """Why (mu, sigma) are no Gaussian's moments (non-finite, asymmetric or not PSD beyond round-off), else None.

    FID is a distance only between valid moments: a negative-definite sigma gives a negative "FID", a NaN a
    null one.
    """
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    for name, array in (("mu", mu), ("sigma", sigma)):
        bad = int(np.size(array) - np.isfinite(array).sum())
        if bad:
            return f"{name} has {bad} non-finite value(s) (NaN or infinity)"
    scale = float(np.abs(sigma).max(initial=0.0))
    asymmetry = float(np.abs(sigma - sigma.T).max(initial=0.0))
    if asymmetry > MOMENTS_RTOL * scale:
        return f"sigma is not symmetric (largest |sigma - sigma^T| {asymmetry:.3g}, largest |sigma| {scale:.3g})"
    eigvals = np.linalg.eigvalsh((sigma + sigma.T) / 2.0)
    largest = float(np.abs(eigvals).max(initial=0.0))
    if eigvals.size and eigvals[0] < -MOMENTS_RTOL * largest:
        return (
            f"sigma is not positive semi-definite (smallest eigenvalue {eigvals[0]:.3g}, largest |eigenvalue| "
            f"{largest:.3g})"
        )
    return None


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (round-off negatives -> 0)."""
    sym = (matrix + matrix.T) / 2.0
    eigvals, eigvecs = np.linalg.eigh(sym)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


@dataclass(frozen=True)
class GaussianReference:
    """Moments of a reference set with the square root of its covariance, computed once for many distances."""

    mu: np.ndarray
    sigma: np.ndarray
    sigma_sqrt: np.ndarray

    @classmethod
    def from_moments(cls, mu: np.ndarray, sigma: np.ndarray) -> GaussianReference:
        mu = np.asarray(mu, dtype=np.float64)
        sigma = np.asarray(sigma, dtype=np.float64)
        return cls(mu, sigma, psd_sqrt(sigma))

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def frechet_to_reference(mu: np.ndarray, sigma: np.ndarray, reference: GaussianReference) -> float:
    """||mu - mu_r||^2 + tr(sigma + sigma_r - 2 (sigma sigma_r)^(1/2)).

    tr((sigma sigma_r)^(1/2)) is the sum of the square roots of the eigenvalues of
    sigma_r^(1/2) sigma sigma_r^(1/2), a symmetric PSD matrix with the same spectrum as sigma sigma_r,
    so a symmetric eigensolver suffices and no complex round-off enters.
    """
    inner = reference.sigma_sqrt @ sigma @ reference.sigma_sqrt
    eigvals = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = np.sqrt(np.clip(eigvals, 0.0, None)).sum()
    diff = mu - reference.mu
    return float(diff @ diff + np.trace(sigma) + np.trace(reference.sigma) - 2.0 * trace_sqrt)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2)."""
    return frechet_to_reference(
        np.asarray(mu1, dtype=np.float64),
        np.asarray(sigma1, dtype=np.float64),
        GaussianReference.from_moments(mu2, sigma2),
    )


@dataclass(frozen=True)
class KidEstimate:
    """KID's mean over subsets, their spread, and the draws behind them."""

    mean: float
    std: float | None  # None when every draw is the same pair of sets: one estimate has no spread
    subsets: int  # distinct draws: 1 when every subset is the whole set
    subset_size: int


def kid(real: np.ndarray, fake: np.ndarray, *, subsets: int, subset_size: int, seed: int) -> KidEstimate:
    """Kernel Inception Distance: mean and (population) std of the unbiased MMD^2 over random subsets.

    Kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018) through torchmetrics' `poly_mmd`; each subset
    draws `subset_size` rows without replacement from each set with a generator seeded by `seed`. When the size
    is both sets' whole size, every draw is the same pair of sets (permuted): KID is computed once and the std,
    which would be 0 and read as certainty, is None.
    """
    import torch
    from torchmetrics.image.kid import poly_mmd

    real_t = torch.from_numpy(np.asarray(real, dtype=np.float64))
    fake_t = torch.from_numpy(np.asarray(fake, dtype=np.float64))
    if subset_size == real_t.shape[0] == fake_t.shape[0]:
        subsets = 1
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(subsets):
        r = torch.from_numpy(rng.choice(real_t.shape[0], subset_size, replace=False))
        f = torch.from_numpy(rng.choice(fake_t.shape[0], subset_size, replace=False))
        scores.append(float(poly_mmd(real_t[r], fake_t[f], degree=3, gamma=None, coef=1.0)))
    values = np.array(scores)
    std = float(values.std()) if subsets > 1 else None
    return KidEstimate(float(values.mean()), std, subsets, subset_size)


def _rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.exp(-gamma * np.clip(sq, 0.0, None))


def _off_diagonal_mean(kernel: np.ndarray) -> float:
    n = kernel.shape[0]
    return float((kernel.sum() - np.trace(kernel)) / (n * (n - 1)))


def cmmd(x: np.ndarray, y: np.ndarray, *, sigma: float, scale: float) -> float:
    """CMMD (Jayasumana et al. 2024): MMD^2 with the Gaussian RBF kernel exp(-|x-y|^2 / (2 sigma^2)), times `scale`
    (1000), on unit-normalised CLIP image embeddings, which the caller passes; at least 2 rows in each set.

    The unbiased U-statistic (Gretton et al. 2012, eq. 3): within each set the mean over pairs of distinct rows,
    leaving out k(x, x) = 1. The V-statistic that keeps the diagonal exceeds MMD^2 by about
    2 (1 - E k(x, x')) / n for equal set sizes n, so it stays above 0 for two samples of the same distribution
    and shrinks only as the sets grow: a fixed offset in every comparison of runs of different sizes.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    gamma = 1.0 / (2.0 * sigma**2)
    within = _off_diagonal_mean(_rbf(x, x, gamma)) + _off_diagonal_mean(_rbf(y, y, gamma))
    return scale * (within - 2.0 * float(_rbf(x, y, gamma).mean()))
