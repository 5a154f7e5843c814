"""The quality scorer against SciPy's Laplacian, PyWavelets' DWT, scikit-image's estimator and known noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pywt
from by_hand import prompt_mean_by_hand
from omegaconf import OmegaConf
from PIL import Image
from scipy import ndimage
from scipy.stats import norm
from skimage.restoration import estimate_sigma

from harness.scorers.configs import QualityConfig
from harness.scorers.options import BootstrapOptions, ScorerConfigError
from harness.scorers.quality import QualityScorer, grey, laplacian_variance, noise_sigma


def _smooth(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth float RGB image in [40, 215]: a coarse random grid upsampled bilinearly."""
    coarse = rng.uniform(40, 215, size=(4, 4, 3))
    return ndimage.zoom(coarse, (size / 4, size / 4, 1), order=1)


def _png(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).save(path)
    return str(path)


def _grey_by_hand(path: str) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _mad_sigma_by_hand(image: np.ndarray) -> float:
    """Donoho-Johnstone: median(|HH1|) / Phi^-1(0.75) of the finest diagonal db2 band (zeros masked)."""
    _, (_, _, hh) = pywt.dwt2(image, "db2")
    hh = hh[hh != 0]
    return float(np.median(np.abs(hh)) / norm.ppf(0.75))


def _scorer(**options) -> QualityScorer:
    return QualityScorer(QualityConfig(bootstrap=BootstrapOptions(resamples=200), **options))


def test_sharpness_is_the_variance_of_scipys_laplacian_inside_the_border():
    image = np.random.default_rng(0).uniform(0, 255, size=(37, 41))
    expected = ndimage.laplace(image)[1:-1, 1:-1].var()
    assert laplacian_variance(image) == pytest.approx(expected, rel=1e-12)


def test_grey_is_bt601_luma_as_pil_computes_it_before_rounding():
    rgb = np.random.default_rng(1).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64)
    assert np.abs(grey(rgb) - pil).max() <= 0.51


@pytest.mark.parametrize("sigma", [2.0, 5.0, 20.0])
def test_noise_estimate_recovers_the_sigma_of_added_gaussian_noise(sigma):
    rng = np.random.default_rng(int(sigma))
    clean = grey(_smooth(rng, 256))
    noisy = clean + rng.normal(0.0, sigma, size=clean.shape)
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)
    assert noise_sigma(clean) < 0.2


def test_noise_estimate_equals_the_wavelet_mad_formula_and_scikit_image():
    rng = np.random.default_rng(3)
    image = grey(_smooth(rng, 64)) + rng.normal(0.0, 7.0, size=(64, 64))
    assert noise_sigma(image) == pytest.approx(_mad_sigma_by_hand(image), rel=1e-12)
    assert noise_sigma(image) == pytest.approx(float(estimate_sigma(image)), rel=1e-12)


@pytest.fixture
def stages(tmp_path: Path) -> pd.DataFrame:
    """Two prompts x two seeds: a smooth 64px base image and a 256px image with grain of sigma 6 or 12."""
    rng = np.random.default_rng(4)
    rows = []
    for i, sigma in enumerate((6.0, 12.0, 6.0, 12.0)):
        base = _smooth(rng, 64)
        up = ndimage.zoom(base, (4, 4, 1), order=1) + rng.normal(0.0, sigma, size=(256, 256, 1))
        rows.append(
            {
                "key": f"k{i}",
                "prompt_id": f"p{i % 2}",
                "prompt": ["a house by the lake", "a corgi"][i % 2],
                "seed": i,
                "path_64": _png(tmp_path / f"base{i}.png", base),
                "path_256": _png(tmp_path / f"up{i}.png", up),
            }
        )
    return pd.DataFrame(rows, index=pd.RangeIndex(10, 14))


def test_columns_per_stage_equal_an_independent_computation_on_the_files(stages):
    result = _scorer().score(stages)
    assert list(result.columns.index) == list(stages.index)
    for stage in ("64", "256"):
        greys = [_grey_by_hand(p) for p in stages[f"path_{stage}"]]
        sharp = [ndimage.laplace(g)[1:-1, 1:-1].var() for g in greys]
        noise = [_mad_sigma_by_hand(g) for g in greys]
        np.testing.assert_allclose(result.columns[f"quality.sharpness_{stage}"], sharp, rtol=1e-10)
        np.testing.assert_allclose(result.columns[f"quality.noise_{stage}"], noise, rtol=1e-10)


def test_grain_of_the_upsampled_stage_is_measured_in_grey_levels(stages):
    noise = _scorer().score(stages).columns["quality.noise_256"].to_numpy()
    # The RGB channels share one noise draw, so the grey image carries the same sigma (weights sum to 1).
    np.testing.assert_allclose(noise, [6.0, 12.0, 6.0, 12.0], rtol=0.06)


def test_blurring_lowers_sharpness_and_noise(tmp_path):
    rng = np.random.default_rng(5)
    sharp = _smooth(rng, 128) + rng.normal(0.0, 8.0, size=(128, 128, 1))
    blurred = ndimage.gaussian_filter(sharp, sigma=(1.5, 1.5, 0))
    paths = [_png(tmp_path / "sharp.png", sharp), _png(tmp_path / "blurred.png", blurred)]
    samples = pd.DataFrame({"prompt_id": ["p", "p"], "prompt": ["x", "x"], "path_256": paths})
    columns = _scorer(stages=("256",)).score(samples).columns
    assert list(columns.columns) == ["quality.sharpness_256", "quality.noise_256"]
    assert columns["quality.sharpness_256"][0] > 10 * columns["quality.sharpness_256"][1]
    assert columns["quality.noise_256"][0] > 3 * columns["quality.noise_256"][1]


def test_run_metrics_are_means_over_prompts_with_their_interval(stages):
    result = _scorer().score(stages)
    for column in result.columns:
        name = column.removeprefix("quality.")
        mean, low, high = prompt_mean_by_hand(result.columns[column], stages["prompt_id"])
        assert result.metrics[f"quality/{name}_mean"] == pytest.approx(mean)
        bounds = [result.metrics[f"quality/{name}_ci_{end}"] for end in ("low", "high")]
        assert bounds == ([None, None] if np.isnan(low) else [pytest.approx(low), pytest.approx(high)])
    assert result.metrics["quality/n"] == 4.0


def test_per_prompt_table_holds_the_mean_of_each_prompt(stages):
    result = _scorer().score(stages)
    table = result.tables["quality/per_prompt"].set_index("prompt_id")
    expected = result.columns.groupby(stages["prompt_id"]).mean()
    np.testing.assert_allclose(table.loc[expected.index, "noise_256_mean"], expected["quality.noise_256"])
    assert table.loc["p0", "prompt"] == "a house by the lake"
    assert list(table["n"]) == [2, 2]


def test_a_sample_without_a_base_image_gets_nan_and_a_note(stages):
    stages.loc[11, "path_64"] = None
    result = _scorer().score(stages)
    assert np.isnan(result.columns.loc[11, "quality.sharpness_64"])
    assert not np.isnan(result.columns.loc[11, "quality.sharpness_256"])
    mean, _, _ = prompt_mean_by_hand(result.columns["quality.sharpness_64"], stages["prompt_id"])
    assert result.metrics["quality/sharpness_64_mean"] == pytest.approx(mean)
    assert any("1 sample(s) have no path_64" in note for note in result.notes)


def test_a_missing_stage_column_is_an_error(stages):
    with pytest.raises(ValueError, match="lacks column"):
        _scorer().score(stages.drop(columns="path_64"))


def test_weights_lists_nothing():
    assert _scorer().weights() == ()


def test_config_composes_as_a_structured_config():
    merged = OmegaConf.merge(OmegaConf.structured(QualityConfig), {"stages": ["256"], "bootstrap": {"level": 0.9}})
    config = OmegaConf.to_object(merged)
    assert config == QualityConfig(stages=("256",), bootstrap=BootstrapOptions(level=0.9))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stages": ("128",)}, "scorer.quality.stages: expected a non-empty list of 64, 256, got ('128',)"),
        ({"stages": ()}, "scorer.quality.stages: expected a non-empty list"),
        ({"stages": "64"}, "scorer.quality.stages: expected a non-empty list"),
        ({"stages": ("64", "64")}, "names an entry twice"),
        ({"bootstrap": BootstrapOptions(resamples=0)}, "scorer.quality.bootstrap.resamples: expected an integer >= 1"),
        ({"bootstrap": BootstrapOptions(level=95)}, "scorer.quality.bootstrap.level: expected a number in (0, 1)"),
    ],
)
def test_bad_options_raise_one_clear_error(options, message):
    with pytest.raises(ScorerConfigError) as err:
        QualityConfig(**options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
