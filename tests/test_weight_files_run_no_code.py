"""No weight file the harness loads, its own or through a library, runs code.

Each loader is handed a pickle that creates a marker file when it is unpickled; every one must refuse it in one
line naming the file, and the marker must never appear. The command-line cases refuse before any sampling.
"""

# ruff: noqa: E402 (the hub goes offline before transformers is imported)
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the transformers loaders below read local folders only
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import TINY, check, cli_env, run_cli
from PIL import Image
from planted import plant
from safetensors.torch import save_file

from harness.config.schema import FidelityConfig
from harness.errors import USAGE_ERRORS
from harness.glide.checkpoints import load_state_dict
from harness.glide.models import ModelSpec, load_pipeline, model_id, random_model
from harness.glide.noised_clip import load_encoders
from harness.glide.presets import clip_preset
from harness.run.job import check_scorer_weights
from harness.scorers import build_scorers
from harness.scorers.clip_encoder import ClipEncoder
from harness.scorers.configs import (
    ClipConfig,
    CmmdConfig,
    DetectConfig,
    ExtractorConfig,
    InpaintConfig,
    PreferenceConfig,
    ResizeMode,
    open_clip_registry,
)
from harness.scorers.detect import DetectScorer
from harness.scorers.feature_cache import FeatureCache
from harness.scorers.fid_features import build_extractor
from harness.scorers.perceptual import lpips_network
from harness.scorers.preference import HpsModel, PickScoreModel
from harness.scorers.reference import load_stats
from harness.scorers.tiny_models import CLIPSEG, OWLV2, PICKSCORE
from harness.scorers.tiny_models import build as build_tiny
from harness.scorers.weights import weights_only_loads

TINY_CLIP = "harness-tiny-clip"
# torch-fidelity's download, kept by torch hub under $TORCH_HOME/hub/checkpoints/ (the default FID weights).
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
# torchvision's AlexNet, which LPIPS's pretrained backbone loads the same way.
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "code-ran"


@pytest.fixture
def evil(tmp_path: Path, marker: Path) -> Path:
    return plant(tmp_path / "evil.pt", marker)


def assert_refused(info: pytest.ExceptionInfo, path: Path, marker: Path) -> str:
    """The error is one the command line shows as one `error:` line, it names the file, and no code ran."""
    assert not marker.exists(), "loading the file ran the code it carries"
    assert isinstance(info.value, USAGE_ERRORS), f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert "\n" not in message.strip() and str(path) in message, message
    return message


def refuses(call, path: Path, marker: Path, *args, **kwargs) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017 (the kind of error is what assert_refused checks)
        call(*args, **kwargs)
    return assert_refused(info, path, marker)


@pytest.mark.parametrize("form", ["torch", "legacy", "pickle"])
def test_the_planted_file_runs_its_code_when_unpickled_without_weights_only(tmp_path, marker, form):
    path = plant(tmp_path / "evil.pt", marker, form)
    with path.open("rb") as f:
        torch.load(f, weights_only=False) if form != "pickle" else pickle.load(f)  # noqa: S301
    assert marker.exists()


# ---------------------------------------------------------------- FID Inception (torch-fidelity, torchmetrics)


@pytest.mark.parametrize("mode", [ResizeMode.torch_fidelity, ResizeMode.torchmetrics])
def test_fid_inception_file_given_is_refused_in_both_inception_variants(evil, marker, mode):
    config = ExtractorConfig(inception_weights=str(evil), resize_mode=mode)
    refuses(build_extractor, evil, marker, config)


def test_fid_inception_file_given_is_refused_when_the_scorer_checks_its_options(evil, marker):
    config = ExtractorConfig(inception_weights=str(evil))
    message = refuses(config.check, evil, marker, "scorer.fid")
    assert "scorer.fid.inception_weights" in message


@pytest.mark.parametrize("mode", [ResizeMode.torch_fidelity, ResizeMode.torchmetrics])
def test_fid_inception_in_the_torch_hub_cache_is_refused(tmp_path, marker, monkeypatch, mode):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cached = plant(tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION_FILE, marker)
    refuses(build_extractor, cached, marker, ExtractorConfig(resize_mode=mode))


def test_a_poisoned_torch_hub_file_stops_the_run_before_sampling(tmp_path, marker, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cached = plant(tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION_FILE, marker)
    (tmp_path / "ref").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "ref" / "r0.png")
    options = {
        "clip": {"model": TINY_CLIP, "pretrained": None},
        "fid": {"reference": {"folder": str(tmp_path / "ref")}, "cmmd": {"model": TINY_CLIP, "pretrained": None}},
    }
    scorers = build_scorers(["fid"], options, cache_dir=None)
    message = refuses(check_scorer_weights, cached, marker, scorers)
    assert message.startswith("scorer fid: Inception (FID) weights:")


def test_the_guard_makes_a_library_load_that_asks_for_pickles_read_tensors_only(evil, marker, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(Exception) as info, weights_only_loads(evil):  # noqa: B017
        torch.load(evil, weights_only=False)
    assert "more than a state dict of tensors" in assert_refused(info, evil, marker)
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1" and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def test_torch_forcing_variables_of_the_user_are_restored_after_a_load(tmp_path, marker, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    cached = plant(tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION_FILE, marker)
    refuses(build_extractor, cached, marker, ExtractorConfig())
    assert os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") == "1"
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


# ---------------------------------------------------------------- LPIPS


LPIPS_CONFIGS = {
    "scorer.inpaint.lpips_backbone": lambda path: InpaintConfig(lpips_backbone=path),
    "fidelity.lpips_backbone": lambda path: FidelityConfig(lpips_backbone=path),
}


@pytest.mark.parametrize("key", list(LPIPS_CONFIGS))
def test_lpips_backbone_file_is_refused_when_the_config_is_typed(evil, marker, key):
    message = refuses(LPIPS_CONFIGS[key], evil, marker, str(evil))
    assert key in message and "state-dict" in message


def test_lpips_network_refuses_a_backbone_file_that_is_a_pickle(evil, marker):
    refuses(lpips_network, evil, marker, "alex", str(evil), False)


def test_lpips_pretrained_backbone_in_the_torch_hub_cache_is_refused(tmp_path, marker, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cached = plant(tmp_path / "torch_home" / "hub" / "checkpoints" / ALEXNET_FILE, marker)
    refuses(lpips_network, cached, marker, "alex", "pretrained", False)


# ---------------------------------------------------------------- open_clip (clip, bias, style, fid.cmmd)


def test_clip_pretrained_file_is_refused_when_the_config_is_typed(evil, marker):
    with pytest.raises(Exception) as info:  # noqa: B017
        ClipConfig(model=TINY_CLIP, pretrained=str(evil))
    message = assert_refused(info, evil, marker)
    assert "scorer.clip.pretrained" in message


def test_cmmd_pretrained_file_is_refused_when_the_scorer_checks_its_options(evil, marker):
    config = CmmdConfig(model=TINY_CLIP, pretrained=str(evil))
    message = refuses(config.check, evil, marker, "scorer.fid.cmmd")
    assert "scorer.fid.cmmd.pretrained" in message


def test_clip_encoder_refuses_a_pickle_put_in_place_of_checked_weights(tmp_path, marker):
    weights = tmp_path / "tiny_clip.pt"
    torch.save(open_clip_registry().create_model(TINY_CLIP).state_dict(), weights)
    config = ClipConfig(model=TINY_CLIP, pretrained=str(weights))
    plant(weights, marker)
    encoder = ClipEncoder(config, cache_dir=None, device="cpu")
    refuses(encoder.text_embeddings, weights, marker, ["a corgi"])


# ---------------------------------------------------------------- preference (HPS file, PickScore folder)


def test_hps_checkpoint_file_is_refused_when_the_config_is_typed(evil, marker):
    with pytest.raises(Exception) as info:  # noqa: B017
        PreferenceConfig(models=("hps",), hps_architecture=TINY_CLIP, hps_checkpoint=str(evil))
    assert "scorer.preference.hps_checkpoint" in assert_refused(info, evil, marker)


def test_hps_model_refuses_a_pickle_put_in_place_of_checked_weights(tmp_path, marker):
    weights = tmp_path / "hps.pt"
    torch.save(open_clip_registry().create_model(TINY_CLIP).state_dict(), weights)
    config = PreferenceConfig(models=("hps",), hps_architecture=TINY_CLIP, hps_checkpoint=str(weights))
    plant(weights, marker)
    refuses(HpsModel, weights, marker, config, torch.device("cpu"))


def pretrained_folder(root: Path, tiny: str, marker: Path) -> tuple[Path, Path]:
    """A transformers folder of a tiny model whose weights are a planted pytorch_model.bin; (folder, file)."""
    model, processor = build_tiny(tiny)
    model.save_pretrained(root)
    processor.save_pretrained(root)
    (root / "model.safetensors").unlink()
    return root, plant(root / "pytorch_model.bin", marker)


FOLDER_OPTIONS = {
    "pickscore": (PICKSCORE, "scorer.preference.pickscore_model"),
    "detector": (OWLV2, "scorer.detect.detector"),
    "segmenter": (CLIPSEG, "scorer.detect.segmenter"),
}


def folder_config(option: str, folder: Path):
    if option == "pickscore":
        return PreferenceConfig(models=("pickscore",), pickscore_model=str(folder), pickscore_processor=str(folder))
    return DetectConfig(**{option: str(folder)})


@pytest.mark.parametrize("option", list(FOLDER_OPTIONS))
def test_transformers_folder_with_pickled_weights_is_refused_when_the_config_is_typed(tmp_path, marker, option):
    tiny, key = FOLDER_OPTIONS[option]
    folder, weights = pretrained_folder(tmp_path / "model", tiny, marker)
    with pytest.raises(Exception) as info:  # noqa: B017
        folder_config(option, folder)
    assert key in assert_refused(info, weights, marker)


@pytest.mark.parametrize("option", list(FOLDER_OPTIONS))
def test_transformers_loaders_refuse_pickled_weights_put_in_place_of_checked_ones(tmp_path, marker, option):
    tiny, _ = FOLDER_OPTIONS[option]
    folder, weights = pretrained_folder(tmp_path / "model", tiny, marker)
    model, _ = build_tiny(tiny)
    torch.save(model.state_dict(), weights)  # readable tensors while the config is checked
    config = folder_config(option, folder)
    plant(weights, marker)
    if option == "pickscore":
        refuses(PickScoreModel, weights, marker, config, torch.device("cpu"))
    else:
        scorer = DetectScorer(config, device="cpu")
        load = scorer._load_detector if option == "detector" else scorer._load_segmenter
        refuses(load, weights, marker)


# ---------------------------------------------------------------- FID statistics and feature caches


def test_fid_reference_statistics_that_are_a_pickle_are_refused(tmp_path, marker):
    stats = plant(tmp_path / "stats.npz", marker, "pickle")
    message = refuses(
        load_stats, stats, marker, stats, ExtractorConfig(), "scorer.fid.reference.stats", trust_foreign=True
    )
    assert "scorer.fid.reference.stats" in message


def test_a_pickle_in_the_feature_cache_runs_no_code_and_is_computed_again(tmp_path, marker):
    cache = FeatureCache(tmp_path / "cache", "model")
    plant(cache.path("k"), marker, "pickle")
    rows = cache.features(["k"], lambda positions: np.ones((len(positions), 3)))
    assert not marker.exists()
    np.testing.assert_array_equal(rows, np.ones((1, 3)))
    np.testing.assert_array_equal(np.load(cache.path("k"), allow_pickle=False), np.ones(3))


# ---------------------------------------------------------------- GLIDE checkpoints and the noised CLIP


TINY_SPEC = {"name": "glide-tiny", "base": "tiny_base", "upsample": "tiny_upsample", "download": False}


@pytest.mark.parametrize("form", ["torch", "legacy", "pickle"])
def test_glide_checkpoint_that_runs_code_is_refused(tmp_path, marker, form):
    path = plant(tmp_path / "base.pt", marker, form)
    expected = random_model("tiny_base", 0).expected_shapes()
    refuses(load_state_dict, path, marker, path, expected)


def test_noised_clip_files_that_run_code_are_refused(tmp_path, marker):
    text, image = plant(tmp_path / "text.pt", marker), plant(tmp_path / "image.pt", marker)
    refuses(load_encoders, text, marker, text, image, clip_preset("tiny_noised_clip"))


def test_a_refused_glide_checkpoint_writes_no_fingerprints(tmp_path, marker):
    cache = tmp_path / "cache"
    cache.mkdir()
    upsample = tmp_path / "upsample.pt"
    torch.save(random_model("tiny_upsample", 1).state_dict(), upsample)
    base = plant(tmp_path / "base.pt", marker)
    spec = ModelSpec(**TINY_SPEC, base_path=str(base), upsample_path=str(upsample), cache_dir=str(cache))
    with pytest.raises(Exception) as info:  # noqa: B017
        model_id(spec)  # computing it hashes and records the files
    assert_refused(info, base, marker)
    assert list(cache.iterdir()) == []


def test_random_bytes_as_a_checkpoint_are_named_an_unreadable_file(tmp_path):
    path = tmp_path / "base.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expected = random_model("tiny_base", 0).expected_shapes()
    message = refuses(load_state_dict, path, tmp_path / "no-marker", path, expected)
    assert "not a readable torch.save or safetensors file" in message
    assert "more than a state dict" not in message


def save_fp16(state_dict: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({key: value.half() for key, value in state_dict.items()}, path)
    return path


@pytest.fixture
def fp16_checkpoints(tmp_path: Path) -> dict[str, Path]:
    """The tiny presets' weights with the released files' keys and shapes but saved in float16, and the same
    rounded weights saved in float32 as safetensors: the independent reference they must sample like."""
    out = {}
    for stage, seed in (("base", 0), ("upsample", 1)):
        state = random_model(f"tiny_{stage}", seed).state_dict()
        out[stage] = save_fp16(state, tmp_path / f"{stage}_fp16.pt")
        rounded = {key: value.half().float() for key, value in state.items()}
        save_file(rounded, tmp_path / f"{stage}_fp32.safetensors")
        out[f"{stage}_fp32"] = tmp_path / f"{stage}_fp32.safetensors"
    return out


def _sample(spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    pipeline = load_pipeline(spec)
    base = pipeline.sample_base(["a corgi"], [3], guidance_scale=3.0, steps="3")
    return base, pipeline.upsample(["a corgi"], base, [3], steps="ddim2", temperature=0.997)


def test_fp16_glide_weights_are_loaded_in_the_models_dtype_and_sample(tmp_path, fp16_checkpoints):
    spec = ModelSpec(**TINY_SPEC, cache_dir=str(tmp_path / "cache"))
    half = replace(spec, base_path=str(fp16_checkpoints["base"]), upsample_path=str(fp16_checkpoints["upsample"]))
    full = replace(
        spec, base_path=str(fp16_checkpoints["base_fp32"]), upsample_path=str(fp16_checkpoints["upsample_fp32"])
    )
    pipeline = load_pipeline(half)
    assert {p.dtype for p in pipeline.base.model.parameters()} == {torch.float32}
    assert {p.dtype for p in pipeline.upsampler.model.parameters()} == {torch.float32}
    for got, want in zip(_sample(half), _sample(full), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


# ---------------------------------------------------------------- the command line

RUN = ["hydra.run.dir=run", "store.cache_dir=store"]
QUICK = [*TINY, "scorers=[]", "sampler.samples_per_prompt=1"]
OFFICIAL = [a for a in QUICK if not a.startswith("model")] + [
    "model=tiny",
    "model.weights=official",
    "model.download=false",
    "model.cache_dir=glide_cache",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("cli_home"))


@pytest.mark.slow
def test_fp16_glide_weights_sample_through_the_command_line(tmp_path, env, fp16_checkpoints):
    paths = [f"model.base_path={fp16_checkpoints['base']}", f"model.upsample_path={fp16_checkpoints['upsample']}"]
    (tmp_path / "glide_cache").mkdir()
    check(run_cli(["+suite=couch", *OFFICIAL, *paths, *RUN], cwd=tmp_path, env=env))
    manifest = pd.read_parquet(tmp_path / "run" / "manifest.parquet")
    assert len(manifest) >= 1 and not manifest["random_weights"].any()
    for column in ("path_64", "path_256"):
        assert all(Path(path).is_file() for path in manifest[column])
