"""`python -m harness.scorers.fid_stats FOLDER -o OUT.npz`: reference statistics in pytorch-fid's layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import sqrtm

from harness.scorers import build_scorers
from harness.scorers.distances import moments_problem
from harness.scorers.fid_stats import main
from harness.scorers.tiny_features import TinyFeatures

REPO = Path(__file__).resolve().parents[2]


def test_writes_mu_and_sigma_of_the_folder_features(make_images, tiny_features, features_by_hand, tmp_path):
    ref = make_images("ref", 9, seed=31)
    out = tmp_path / "stats" / "ref.npz"
    assert main([str(ref[0].parent), "-o", str(out), "--feature-extractor", tiny_features]) == 0
    features = features_by_hand(ref)
    with np.load(out) as data:
        np.testing.assert_allclose(data["mu"], features.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(data["sigma"], np.cov(features, rowvar=False), rtol=1e-10, atol=1e-14)
        assert int(data["n"]) == 9
        assert str(data["feature_extractor"]) == f"custom:{tiny_features}"
        assert str(data["resize_mode"]) == "torch_fidelity" and int(data["image_size"]) == 256
    assert [p.name for p in out.parent.iterdir()] == ["ref.npz"]  # no temporary file left behind


def test_the_written_file_is_a_reference_for_the_fid_scorer(
    scorer_cfg, make_images, make_samples, tiny_features, features_by_hand, tmp_path
):
    ref = make_images("ref", 10, seed=32)
    gen = make_images("gen", 8, seed=33)
    out = tmp_path / "ref.npz"
    main([str(ref[0].parent), "-o", str(out), "--feature-extractor", tiny_features])
    scorer_cfg["fid"]["reference"]["stats"] = str(out)
    (scorer,) = build_scorers(["fid"], scorer_cfg, cache_dir=tmp_path / "cache")
    fid = scorer.score(make_samples(gen, ["a corgi"] * 8)).metrics["fid/fid"]
    x, y = features_by_hand(gen), features_by_hand(ref)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert fid == pytest.approx(expected, rel=1e-6)


def test_a_folder_with_no_more_images_than_feature_dims_is_refused(make_images, tiny_features, tmp_path, capsys):
    ref = make_images("ref", 6, seed=35)  # 6 images, 6-d features: a singular covariance
    with pytest.raises(SystemExit) as exit_info:
        main([str(ref[0].parent), "-o", str(tmp_path / "x.npz"), "--feature-extractor", tiny_features])
    assert exit_info.value.code == 2
    assert "holds 6 images < 7 (feature dims + 1)" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_statistics_made_in_another_resize_mode_are_refused_by_the_scorer(
    scorer_cfg, make_images, tiny_features, tmp_path
):
    ref = make_images("ref", 8, seed=36)
    out = tmp_path / "pil_bicubic.npz"
    main([str(ref[0].parent), "-o", str(out), "--feature-extractor", tiny_features, "--resize-mode", "pil_bicubic"])
    scorer_cfg["fid"]["reference"]["stats"] = str(out)
    with pytest.raises(
        ValueError, match="was made with resize_mode=pil_bicubic; this run uses resize_mode=torch_fidelity"
    ):
        build_scorers(["fid"], scorer_cfg, cache_dir=tmp_path / "cache")


def test_a_folder_without_images_is_one_error_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "empty"), "-o", str(tmp_path / "x.npz")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: fid_stats: reference folder") and "holds no images" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_module_runs_as_a_command(make_images, tmp_path):
    ref = make_images("ref", 6, seed=34)
    out = tmp_path / "tiny.npz"
    extractor = "harness.scorers.tiny_features:TinyFeatures"
    command = [sys.executable, "-m", "harness.scorers.fid_stats", str(ref[0].parent), "-o", str(out)]
    done = subprocess.run(
        [*command, "--feature-extractor", extractor], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with np.load(out) as data:
        assert data["mu"].shape == (TinyFeatures.num_features,)
        assert data["sigma"].shape == (TinyFeatures.num_features,) * 2
    assert "wrote statistics of 6 images" in done.stderr


def _edit_stats(path: Path, out: Path, edit) -> Path:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    edit(arrays)
    np.savez(out, **arrays)
    return out


def _negate_sigma(arrays):
    arrays["sigma"] = -arrays["sigma"]


def _nan_mu(arrays):
    arrays["mu"][0] = np.nan


def _infinite_sigma(arrays):
    arrays["sigma"][1, 1] = np.inf


def _asymmetric_sigma(arrays):
    arrays["sigma"][0, 1] += 1e-3 * np.abs(arrays["sigma"]).max()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_negate_sigma, "not positive semi-definite"),
        (_nan_mu, "mu has 1 non-finite value"),
        (_infinite_sigma, "sigma has 1 non-finite value"),
        (_asymmetric_sigma, "not symmetric"),
    ],
)
def test_statistics_that_are_no_gaussian_are_refused_when_the_scorer_is_built(
    scorer_cfg, make_images, tiny_features, tmp_path, edit, words
):
    ref = make_images("ref", 9, seed=37)
    good = tmp_path / "good.npz"
    main([str(ref[0].parent), "-o", str(good), "--feature-extractor", tiny_features])
    scorer_cfg["fid"]["reference"]["stats"] = str(_edit_stats(good, tmp_path / "bad.npz", edit))
    with pytest.raises(ValueError, match=words):
        build_scorers(["fid"], scorer_cfg, cache_dir=tmp_path / "cache")


def test_moments_at_round_off_from_psd_are_accepted():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6))
    sigma = np.cov(features, rowvar=False)
    # A rank-deficient covariance (the usual case of few images) has eigenvalues at -1e-16 by round-off.
    low_rank = np.cov(features[:3], rowvar=False)
    assert np.linalg.eigvalsh(low_rank).min() < 1e-12
    for matrix in (sigma, low_rank, sigma + 1e-12 * np.triu(np.ones((6, 6)), 1)):
        assert moments_problem(features.mean(0), matrix) is None
