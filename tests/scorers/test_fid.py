"""The fid scorer against closed forms on independently computed features, and torchmetrics' FID/KID."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from scipy.spatial.distance import cdist
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from harness.scorers import ScorerConfigError, build_scorers
from harness.scorers.configs import ExtractorConfig, ResizeMode
from harness.scorers.fid_features import ImageFeatures
from harness.scorers.images import load_square_uint8

DIM = 6  # features of the test extractor


def closed_form_fid(x: np.ndarray, y: np.ndarray) -> float:
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2.0 * covmean))


def _extractor(spec: str) -> torch.nn.Module:
    path, _, name = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("half_colours_for_test", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, name)()


def _uint8_batch(paths: list[Path]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.array(Image.open(p).convert("RGB")) for p in paths])).permute(0, 3, 1, 2)


@pytest.fixture
def setup(scorer_cfg, make_images, make_samples, tmp_path):
    """18 generated images in two styles of 9 and a reference folder of 18 images (CLIP-FD needs 16 + 1)."""
    gen = make_images("gen", 18, seed=21)
    ref = make_images("ref", 18, seed=22)
    styles = ["oil painting"] * 9 + ["pixel art"] * 9
    samples = make_samples(gen, [f"{s} of a corgi" for s in styles], **{"tag.style": styles})
    scorer_cfg["fid"]["reference"]["folder"] = str(ref[0].parent)
    return scorer_cfg, samples, gen, ref, tmp_path / "cache"


def _score(cfg, samples, cache):
    (scorer,) = build_scorers(["fid"], cfg, cache_dir=cache)
    return scorer.score(samples)


def test_fid_of_the_run_equals_the_closed_form_on_independent_features(setup, features_by_hand):
    cfg, samples, gen, ref, cache = setup
    result = _score(cfg, samples, cache)
    expected = closed_form_fid(features_by_hand(gen), features_by_hand(ref))
    assert result.metrics["fid/fid"] == pytest.approx(expected, rel=1e-6)
    assert result.metrics["fid/n"] == 18 and result.metrics["fid/n_ref"] == 18
    assert "fid/fid_ci_low" not in result.metrics  # set metrics get no interval


def test_fid_equals_torchmetrics_frechet_inception_distance_with_the_same_extractor(setup, tiny_features):
    cfg, samples, gen, ref, cache = setup
    metric = FrechetInceptionDistance(feature=_extractor(tiny_features), input_img_size=(3, 256, 256))
    metric.update(_uint8_batch(ref), real=True)
    metric.update(_uint8_batch(gen), real=False)
    assert _score(cfg, samples, cache).metrics["fid/fid"] == pytest.approx(float(metric.compute()), rel=1e-6)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_equals_torchmetrics_kernel_inception_distance_on_whole_sets(setup, make_images, tiny_features):
    cfg, samples, gen, _, cache = setup
    ref = make_images("ref10", 10, seed=23)
    samples = samples.iloc[:10]
    cfg["fid"]["reference"]["folder"] = str(ref[0].parent)
    cfg["fid"].update(kid_subsets=1, kid_subset_size=1000)
    metric = KernelInceptionDistance(feature=_extractor(tiny_features), subsets=1, subset_size=10)
    metric.update(_uint8_batch(ref), real=True)
    metric.update(_uint8_batch(gen[:10]), real=False)
    expected_mean, _ = metric.compute()
    cfg["fid"]["kid_subsets"] = 20
    result = _score(cfg, samples, cache)
    assert result.metrics["fid/kid_mean"] == pytest.approx(float(expected_mean), rel=1e-6)
    # The configured 1000 is a ceiling: the subsets are min(1000, 10 generated, 10 reference) images, so each
    # of the 20 subsets would be the whole of both sets: one estimate, and no std (0 would read as certainty).
    assert result.metrics["fid/kid_subset_size"] == 10 and result.metrics["fid/kid_subsets"] == 1
    assert result.metrics["fid/kid_std"] is None
    note = "fid[all]: every KID subset would be the whole set (10 generated, 10 reference images), so KID is one MMD^2"
    assert f"{note}; no kid_std" in result.notes


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_over_differing_subsets_agrees_with_torchmetrics_and_the_whole_set_u_statistic(
    setup, tiny_features, features_by_hand
):
    cfg, samples, gen, ref, cache = setup
    subsets, size = 3000, 6
    cfg["fid"].update(kid_subsets=subsets, kid_subset_size=size)
    result = _score(cfg, samples, cache)
    metric = KernelInceptionDistance(feature=_extractor(tiny_features), subsets=subsets, subset_size=size)
    metric.update(_uint8_batch(ref), real=True)
    metric.update(_uint8_batch(gen), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tm_mean, tm_std = (float(v) for v in metric.compute())
    mean, std = result.metrics["fid/kid_mean"], result.metrics["fid/kid_std"]
    assert result.metrics["fid/kid_subsets"] == subsets and result.metrics["fid/kid_subset_size"] == size
    # Two independent sets of 3,000 random subsets: the means differ by Monte-Carlo error only (4 standard
    # errors); the stds estimate the same spread (relative MC error of an SD over 3,000 draws is about 2%).
    assert abs(mean - tm_mean) < 4 * np.sqrt((std**2 + tm_std**2) / subsets)
    assert std == pytest.approx(tm_std, rel=0.1)
    # Over random subsets the mean MMD^2 U-statistic has the whole sets' U-statistic as its expectation.
    x, y = features_by_hand(ref), features_by_hand(gen)
    k = lambda a, b: (a @ b.T / DIM + 1.0) ** 3  # noqa: E731
    off = ~np.eye(len(x), dtype=bool)
    whole = k(x, x)[off].mean() + k(y, y)[off].mean() - 2.0 * k(x, y).mean()
    assert abs(mean - whole) < 4 * std / np.sqrt(subsets)


def test_fid_per_tag_group_equals_the_closed_form_on_that_group(setup, features_by_hand):
    cfg, samples, gen, ref, cache = setup
    cfg["fid"]["groups"] = ["all", "tag.style"]
    result = _score(cfg, samples, cache)
    features, reference = features_by_hand(gen), features_by_hand(ref)
    for style, rows in (("oil painting", slice(0, 9)), ("pixel art", slice(9, 18))):
        name = f"fid/fid[tag.style={style}]"
        assert result.metrics[name] == pytest.approx(closed_form_fid(features[rows], reference), rel=1e-6)
        assert result.metrics[f"fid/n[tag.style={style}]"] == 9
    table = result.tables["fid/groups"].set_index("group")
    assert list(table.index) == ["all", "tag.style=oil painting", "tag.style=pixel art"]
    assert table.loc["tag.style=pixel art", "fid"] == pytest.approx(result.metrics["fid/fid[tag.style=pixel art]"])


def test_groups_too_small_for_fid_say_so_instead_of_a_number(setup):
    cfg, samples, gen, ref, cache = setup
    cfg["fid"]["groups"] = ["prompt_id"]
    samples = samples.iloc[[0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 15]]  # 6 oil paintings, 7 pixel art
    result = _score(cfg, samples, cache)  # the score step logs the notes (tests/test_cli.py checks it)
    # 6 images in 6 dims have a singular covariance: FID needs dims + 1 = 7.
    assert result.metrics["fid/fid[prompt_id=p0]"] is None
    assert result.metrics["fid/fid[prompt_id=p1]"] is not None
    assert result.metrics["fid/kid_subset_size[prompt_id=p0]"] == 6
    note = "fid[prompt_id=p0]: 6 images < 7 (feature dims + 1); FID not computed"
    assert note in result.notes
    table = result.tables["fid/groups"].set_index("group")
    assert "6 images < 7 (feature dims + 1)" in table.loc["prompt_id=p0", "note"]
    assert (table["resize_mode"] == "torch_fidelity").all()


def test_subset_of_size_n_is_drawn_with_a_fixed_seed_independent_of_row_order(setup, features_by_hand):
    cfg, samples, gen, ref, cache = setup
    cfg["fid"]["subset_size"] = 16
    result = _score(cfg, samples, cache)
    shuffled = _score(cfg, samples.sample(frac=1.0, random_state=0), cache)
    assert result.metrics["fid/n"] == 16
    assert shuffled.metrics["fid/fid"] == pytest.approx(result.metrics["fid/fid"], rel=1e-12)
    features, reference = features_by_hand(gen), features_by_hand(ref)
    candidates = [closed_form_fid(features[list(rows)], reference) for rows in itertools.combinations(range(18), 16)]
    assert min(abs(c - result.metrics["fid/fid"]) / c for c in candidates) < 1e-6
    cfg["fid"]["subset_seed"] = 1
    assert _score(cfg, samples, cache).metrics["fid/fid"] != pytest.approx(result.metrics["fid/fid"])


def test_groups_smaller_than_the_subset_size_are_not_scored(setup):
    cfg, samples, gen, ref, cache = setup
    cfg["fid"].update(subset_size=12, groups=["all", "tag.style"])
    result = _score(cfg, samples, cache)
    assert result.metrics["fid/n"] == 12
    assert result.metrics["fid/n[tag.style=oil painting]"] is None
    assert result.metrics["fid/fid[tag.style=oil painting]"] is None
    assert "fid[tag.style=oil painting]: 9 images < subset_size 12; not scored" in result.notes


def test_clip_fd_and_cmmd_reuse_the_clip_embeddings(setup, clip_by_hand):
    cfg, samples, gen, ref, cache = setup
    result = _score(cfg, samples, cache)
    x, y = clip_by_hand(gen), clip_by_hand(ref)
    assert result.metrics["fid/clip_fd"] == pytest.approx(closed_form_fid(x, y), rel=1e-4, abs=1e-7)
    kernel = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * 10.0**2))  # noqa: E731
    off_x, off_y = ~np.eye(len(x), dtype=bool), ~np.eye(len(y), dtype=bool)
    cmmd = 1000 * (kernel(x, x)[off_x].mean() + kernel(y, y)[off_y].mean() - 2 * kernel(x, y).mean())
    assert result.metrics["fid/cmmd"] == pytest.approx(cmmd, rel=1e-4, abs=1e-7)
    # The CLIP embeddings of the generated images are the clip scorer's cache entries.
    assert len(list((cache / "features").iterdir())) == 2
    # A group of 9 images has a singular covariance in 16 CLIP dims: no CLIP-FD, but CMMD.
    cfg["fid"]["groups"] = ["tag.style"]
    grouped = _score(cfg, samples, cache)
    assert grouped.metrics["fid/clip_fd[tag.style=pixel art]"] is None
    assert grouped.metrics["fid/cmmd[tag.style=pixel art]"] is not None


def test_cmmd_embeds_with_its_own_clip_model_when_it_differs(setup, tiny_clip):
    cfg, samples, _, _, cache = setup
    cfg["fid"]["cmmd"].update(pretrained=None, random_init_seed=7)
    result = _score(cfg, samples, cache)
    assert result.metrics["fid/cmmd"] is not None
    clip_dirs = [d.name for d in (cache / "features").iterdir() if d.name.startswith("clip-")]
    assert len(clip_dirs) == 1 and clip_dirs[0].endswith("-random7")  # the CMMD model's, not scorer.clip's
    assert any(f"cmmd_model={tiny_clip['model']}:None" in note for note in result.notes)


def _write_coco(tmp_path: Path, ref: list[Path], captions: list[str]) -> Path:
    data = {
        "images": [{"id": i, "file_name": p.name} for i, p in enumerate(ref)],
        "annotations": [{"id": 100 + i, "image_id": i, "caption": c} for i, c in enumerate(captions)],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_reference_uses_the_images_whose_captions_are_the_prompts(setup, features_by_hand):
    cfg, samples, gen, ref, cache = setup
    captions = ["Oil painting of a corgi.", "pixel  art of a corgi", "a cat"] * 6
    cfg["fid"]["reference"] = {
        "folder": None,
        "coco_captions": str(_write_coco(cache.parent, ref, captions)),
        "coco_images": str(ref[0].parent),
        "stats": None,
        "match_prompts": True,
    }
    cfg["fid"]["groups"] = ["all"]
    result = _score(cfg, samples, cache)
    matched = [p for p, c in zip(ref, captions, strict=True) if "corgi" in c]
    assert result.metrics["fid/n_ref"] == len(matched) == 12
    expected = closed_form_fid(features_by_hand(gen), features_by_hand(matched))
    assert result.metrics["fid/fid"] == pytest.approx(expected, rel=1e-6)

    cfg["fid"]["reference"]["match_prompts"] = False
    assert _score(cfg, samples, cache).metrics["fid/n_ref"] == 18


def _stats_file(path: Path, features: np.ndarray, **provenance) -> Path:
    np.savez(path, mu=features.mean(0), sigma=np.cov(features, rowvar=False), **provenance)
    return path


def _provenance(tiny_features: str, **changes) -> dict:
    made = {"feature_extractor": f"custom:{tiny_features}", "resize_mode": "torch_fidelity", "image_size": 256}
    return made | changes


def test_precomputed_statistics_give_the_same_fid_as_the_folder(setup, features_by_hand, tiny_features):
    cfg, samples, gen, ref, cache = setup
    reference = features_by_hand(ref)
    stats = _stats_file(cache.parent / "ref_stats.npz", reference, n=18, **_provenance(tiny_features))
    cfg["fid"]["reference"].update(folder=None, stats=str(stats))
    result = _score(cfg, samples, cache)
    assert result.metrics["fid/fid"] == pytest.approx(closed_form_fid(features_by_hand(gen), reference), rel=1e-6)
    assert result.metrics["fid/kid_mean"] is None and result.metrics["fid/cmmd"] is None
    assert result.metrics["fid/n_ref"] == 18
    assert any("precomputed statistics" in note for note in result.notes)


def test_bare_mu_sigma_statistics_need_trust_and_then_get_a_note(setup, features_by_hand):
    cfg, samples, gen, ref, cache = setup
    reference = features_by_hand(ref)
    stats = _stats_file(cache.parent / "foreign.npz", reference)
    cfg["fid"]["reference"].update(folder=None, stats=str(stats))
    with pytest.raises(ScorerConfigError, match="records no provenance .*fid.reference.trust_foreign_stats=true"):
        build_scorers(["fid"], cfg, cache_dir=cache)
    cfg["fid"]["reference"]["trust_foreign_stats"] = True
    result = _score(cfg, samples, cache)
    assert result.metrics["fid/fid"] == pytest.approx(closed_form_fid(features_by_hand(gen), reference), rel=1e-6)
    assert any("carry no provenance; trusted (trust_foreign_stats)" in note for note in result.notes)


def _bad_reference(tmp_path: Path, case: str, tiny_features: str) -> dict:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    (empty / "notes.txt").write_text("no images here")
    no_mu = tmp_path / "no_mu.npz"
    np.savez(no_mu, mean=np.zeros(6), sigma=np.eye(6))
    wrong_dim = tmp_path / "wrong_dim.npz"
    np.savez(wrong_dim, mu=np.zeros(2048), sigma=np.eye(2048))
    features = np.random.default_rng(0).normal(size=(20, 6))
    at_64 = _stats_file(tmp_path / "at64.npz", features, **_provenance(tiny_features, image_size=64))
    clean = _stats_file(tmp_path / "clean.npz", features, **_provenance(tiny_features, resize_mode="pil_bicubic"))
    other = _stats_file(tmp_path / "other.npz", features, **_provenance(tiny_features, feature_extractor="inception"))
    singular = _stats_file(tmp_path / "singular.npz", features, n=6, **_provenance(tiny_features))
    (tmp_path / "zero.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("mu sigma\n1 2\n")
    whole = at_64.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    np.save(tmp_path / "bare.npy", np.zeros(6))
    base = {"folder": None, "coco_captions": None, "coco_images": None, "stats": None, "match_prompts": True}
    stats = lambda path: {**base, "stats": str(path)}  # noqa: E731
    return {
        "missing folder": {**base, "folder": str(tmp_path / "nowhere")},
        "empty folder": {**base, "folder": str(empty)},
        "stats without mu": stats(no_mu),
        "stats of the wrong dimension": stats(wrong_dim),
        "two sources": {**base, "folder": str(empty), "stats": str(no_mu)},
        "no source": base,
        "stats at another image size": stats(at_64),
        "stats of another resize mode": stats(clean),
        "stats of another extractor": stats(other),
        "stats of too few images": stats(singular),
        "empty stats file": stats(tmp_path / "zero.npz"),
        "text stats file": stats(tmp_path / "text.npz"),
        "truncated stats file": stats(tmp_path / "truncated.npz"),
        "npy stats file": stats(tmp_path / "bare.npy"),
    }[case]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing folder", "does not exist or is not a folder"),
        ("empty folder", "holds no images (.png, .jpg"),
        ("stats without mu", "lacks mu (expected mu of shape (d,) and sigma of shape (d, d); it holds mean, sigma)"),
        ("stats of the wrong dimension", "has dimension 2048, but the configured feature extractor gives 6-d features"),
        ("two sources", "set exactly one of folder, coco_captions (with coco_images) or stats; got folder, stats"),
        ("no source", "got none (e.g. scorer.fid.reference.folder=/data/reference_images)"),
        ("stats at another image size", "was made with image_size=64; this run uses image_size=256"),
        (
            "stats of another resize mode",
            "was made with resize_mode=pil_bicubic; this run uses resize_mode=torch_fidelity",
        ),
        ("stats of another extractor", "feature_extractor=inception; this run uses feature_extractor=custom:"),
        ("stats of too few images", "comes from 6 images < 7 (feature dims + 1)"),
        ("empty stats file", "is empty; expected a NumPy .npz archive with mu and sigma"),
        ("text stats file", "is not a readable .npz file (not a NumPy file)"),
        ("truncated stats file", "is not a readable .npz file (BadZipFile"),
        ("npy stats file", "holds a bare array, not an .npz archive"),
    ],
)
def test_a_bad_reference_is_one_clear_error(scorer_cfg, tmp_path, tiny_features, case, message):
    scorer_cfg["fid"]["reference"] = _bad_reference(tmp_path, case, tiny_features)
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["fid"], scorer_cfg, cache_dir=tmp_path / "cache")
    assert message in str(err.value) and "scorer.fid.reference" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"feature_extractor": "no_such_module:Net"}, "cannot import feature extractor 'no_such_module:Net'"),
        ({"feature_extractor": "collections:OrderedDict"}, "is not a torch.nn.Module class"),
        (
            {"inception_weights": "/nowhere/pt_inception.pth"},
            "scorer.fid.inception_weights: '/nowhere/pt_inception.pth'",
        ),
        ({"groups": ["all", "all"]}, "scorer.fid.groups: duplicate entries"),
        ({"kid_subset_size": 1}, "scorer.fid.kid_subset_size: expected an integer >= 2, got 1"),
        ({"resize_mode": "bilinear"}, "scorer.fid.resize_mode: Invalid value 'bilinear', expected one of"),
        ({"inception_features": 1000}, "scorer.fid.inception_features: expected one of 64, 192, 768, 2048"),
        ({"cmmd": {"sigma": -1.0}}, "scorer.fid.cmmd.sigma: expected a number > 0, got -1.0"),
        ({"cmmd": {"model": "ViT-Q-99"}}, "scorer.fid.cmmd.model: unknown open_clip model 'ViT-Q-99'"),
        ({"bootstrap": {"resamples": 10}}, "scorer.fid: unknown option 'bootstrap'"),
    ],
)
def test_bad_fid_options_raise_one_clear_error(setup, update, message):
    cfg, _, _, _, cache = setup
    cfg["fid"].update(update)
    with pytest.raises(ScorerConfigError) as err:
        build_scorers(["fid"], cfg, cache_dir=cache)
    assert message in str(err.value)


def test_every_image_takes_one_pixel_path_centre_crop_then_bicubic(tmp_path):
    rng = np.random.default_rng(5)
    centre = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    wide = np.concatenate([np.zeros((256, 64, 3), np.uint8), centre, np.full((256, 64, 3), 255, np.uint8)], axis=1)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    np.testing.assert_array_equal(load_square_uint8(tmp_path / "wide.png", 256), centre)

    tall = rng.integers(0, 256, size=(600, 400, 3), dtype=np.uint8)
    Image.fromarray(tall).save(tmp_path / "tall.png")
    expected = Image.fromarray(tall[100:500]).resize((256, 256), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(load_square_uint8(tmp_path / "tall.png", 256), np.asarray(expected))

    Image.fromarray(centre).save(tmp_path / "generated.png")
    np.testing.assert_array_equal(load_square_uint8(tmp_path / "generated.png", 256), centre)


def test_pil_bicubic_mode_resizes_straight_to_299_with_pil_bicubic(tmp_path, tiny_features):
    tall = np.random.default_rng(6).integers(0, 256, size=(600, 400, 3), dtype=np.uint8)
    Image.fromarray(tall).save(tmp_path / "tall.png")
    config = ExtractorConfig(feature_extractor=tiny_features, resize_mode=ResizeMode.pil_bicubic, batch_size=1)
    features = ImageFeatures(config, cache_dir=None, device="cpu").features([tmp_path / "tall.png"], ["k"])
    pixels = np.asarray(Image.fromarray(tall[100:500]).resize((299, 299), Image.Resampling.BICUBIC), np.float64)
    # The test extractor's features: mean colour of the top and bottom halves (adaptive pooling of 299 rows).
    top, bottom = pixels[:150].mean(axis=(0, 1)), pixels[149:].mean(axis=(0, 1))
    np.testing.assert_allclose(features[0], np.stack([top, bottom], axis=1).reshape(-1) / 127.5 - 1.0, rtol=1e-10)
    assert config.model_id.endswith("-pil_bicubic-px299")
