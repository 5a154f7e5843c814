"""Bad input through the real command line: every case is one `error:` line, exit 2, no traceback, and nothing
written or removed in the directory it ran in. Each case runs in a directory of its own holding only the inputs.
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cli_helpers import CONF, TINY, cli_env, error_lines, files_under, run_cli
from PIL import Image
from planted import plant

from harness.glide.models import random_model

pytestmark = pytest.mark.slow

SUITES = sorted(p.stem for p in (CONF / "suite").glob("*.yaml"))
TINY_CLIP = "harness-tiny-clip"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("cli_home"))


def glide_url(stage: str) -> str:
    from harness.glide.checkpoints import CHECKPOINTS

    return CHECKPOINTS[stage].url()


RUN = ["hydra.run.dir=run", "store.cache_dir=store"]
QUICK = [*TINY, "scorers=[]", "sampler.samples_per_prompt=1"]
STEPLESS = [a for a in QUICK if not a.startswith(("sampler.base_steps=", "sampler.upsample_steps="))]
RECTANGLE = "{left:0.25,top:0.25,right:0.75,bottom:0.75}"


def inpaint_case(image: str, mask: str) -> list[str]:
    """An inpainting run of one prompt whose source and mask are files of prepare_case (or a rectangle)."""
    prompt = f"{{id:edit,text:a corgi in a field,image:{image},mask:{mask}}}"
    return ["+suite=couch", f"suite.prompts=[{prompt}]", "model=tiny_inpaint", *QUICK[1:], *RUN]


SWEEP = ["hydra.sweep.dir=sweep", "store.cache_dir=store"]
OFFICIAL = [a for a in QUICK if not a.startswith("model")] + [
    "model=tiny",
    "model.weights=official",
    "model.download=false",
    "model.cache_dir=glide_cache",
]


def fid_case(stats: str) -> list[str]:
    """A run scored by FID against the statistics file `stats` of prepare_case."""
    return ["+suite=couch", *QUICK[:-2], "scorers=[fid]", f"scorer.fid.reference.stats={stats}", *RUN]


# id -> (arguments, words the error line must contain)
BAD_INPUTS = {
    "no_suite": ([*QUICK, *RUN], ["+suite=", *SUITES]),
    "unknown_suite": (["+suite=no_such_suite", *QUICK, *RUN], ["no_such_suite", *SUITES]),
    "empty_suite": (["+suite=file", "suite.path=empty.txt", *QUICK, *RUN], ["no prompts"]),
    "missing_prompt_file": (["+suite=file", "suite.path=missing.txt", *QUICK, *RUN], ["missing.txt", "not exist"]),
    "guidance_nan": (["+suite=couch", "sampler.guidance_scale=nan", *QUICK, *RUN], ["sampler.guidance_scale", "nan"]),
    "guidance_negative": (
        ["+suite=couch", "sampler.guidance_scale=-1", *QUICK, *RUN],
        ["sampler.guidance_scale", "-1"],
    ),
    "upsample_temp_zero": (["+suite=couch", "sampler.upsample_temp=0", *QUICK, *RUN], ["sampler.upsample_temp", "> 0"]),
    "batch_size_zero": (["+suite=couch", *QUICK, "sampler.batch_size=0", *RUN], ["sampler.batch_size", ">= 1"]),
    "samples_per_prompt_zero": (
        ["+suite=couch", *TINY, "scorers=[]", "sampler.samples_per_prompt=0", *RUN],
        ["sampler.samples_per_prompt", ">= 1"],
    ),
    "run_dir_under_a_file": (
        ["+suite=couch", *QUICK, "hydra.run.dir=blocker/run", "store.cache_dir=store"],
        ["hydra.run.dir", "blocker"],
    ),
    "sweep_dir_under_a_file": (
        ["-m", "+suite=couch", *QUICK, "hydra.sweep.dir=blocker/sweep", "store.cache_dir=store"],
        ["hydra.sweep.dir", "blocker"],
    ),
    "store_under_a_file": (
        ["+suite=couch", *QUICK, "hydra.run.dir=run", "store.cache_dir=blocker/store"],
        ["store.cache_dir", "blocker"],
    ),
    "sweep_of_bad_values": (
        [
            "-m",
            "+suite=couch",
            *QUICK,
            "sampler.guidance_scale=nan,-1",
            "hydra.sweep.dir=sweep",
            "store.cache_dir=store",
        ],
        ["sampler.guidance_scale"],
    ),
    "sweep_with_one_bad_point": (  # refused before job 0 samples anything: no store, no sweep dir
        [
            "-m",
            "+suite=couch",
            *QUICK,
            "sampler.guidance_scale=1,nan",
            "hydra.sweep.dir=sweep",
            "store.cache_dir=store",
        ],
        ["sampler.guidance_scale", "nan", "sweep point"],
    ),
    "unknown_scorer": (["+suite=couch", *QUICK, "scorers=[no_such_scorer]", *RUN], ["no_such_scorer", "clip"]),
    "bad_value_into_a_run_dir_holding_a_log": (
        ["+suite=couch", *QUICK, "sampler.batch_size=0", "hydra.run.dir=work", "store.cache_dir=store"],
        ["sampler.batch_size"],
    ),
    "bad_value_into_a_new_dir_of_an_empty_one": (
        ["+suite=couch", *QUICK, "sampler.batch_size=0", "hydra.run.dir=mine/run", "store.cache_dir=store"],
        ["sampler.batch_size"],
    ),
    "wrong_type_integer": (["+suite=couch", *QUICK, "sampler.batch_size=abc", *RUN], ["sampler.batch_size", "abc"]),
    "wrong_type_float": (
        ["+suite=couch", *QUICK, "sampler.guidance_scale=abc", *RUN],
        ["sampler.guidance_scale", "abc"],
    ),
    "unknown_group_option": (["+suite=couch", *QUICK, "model=nope", *RUN], ["model", "nope", "glide", "tiny"]),
    "misspelt_key": (
        ["+suite=couch", *QUICK, "sampler.guidence_scale=3", *RUN],
        ["sampler.guidence_scale", "unknown key", "guidance_scale"],
    ),
    "appended_unknown_key": (["+suite=couch", *QUICK, "+sampler.foo=1", *RUN], ["sampler.foo", "unknown key"]),
    "unknown_loop": (["+suite=couch", *QUICK, "sampler.base_loop=nope", *RUN], ["sampler.base_loop", "ancestral"]),
    "unknown_guidance": (["+suite=couch", *QUICK, "sampler.guidance=nope", *RUN], ["sampler.guidance", "nope"]),
    "eta_for_a_loop_without_it": (
        ["+suite=couch", *QUICK, "sampler.upsample_loop=ancestral", "sampler.upsample_eta=0.5", *RUN],
        ["sampler.upsample_eta", "ddim"],
    ),
    "sweep_without_multirun": (["+suite=couch", *QUICK, "sampler.guidance_scale=1,3", *RUN], ["-m"]),
    "experiment_sweep_without_multirun": (["+experiment=guidance_scale", *QUICK, *RUN], ["guidance_scale", "-m"]),
    "one_step_base_respacing": (
        ["+suite=couch", *STEPLESS, "sampler.base_steps=1", "sampler.upsample_steps=ddim2", *RUN],
        ["sampler.base_steps", "'1'", "at least 2"],
    ),
    "one_step_upsample_respacing": (
        ["+suite=couch", *STEPLESS, "sampler.base_steps=3", "sampler.upsample_steps=1", *RUN],
        ["sampler.upsample_steps", "'1'", "at least 2"],
    ),
    "unknown_solver": (
        ["+suite=couch", *QUICK, "sampler.upsample_loop=dpm_solver", *RUN],
        ["sampler.upsample_loop", "'dpm_solver'", "dpmpp_2m", "unipc"],
    ),
    "solver_with_fast27": (
        ["+suite=couch", *STEPLESS, "sampler.base_loop=dpmpp_2m", "sampler.base_steps=fast27", *RUN],
        ["sampler.base_steps", "'fast27'", "dpmpp_2m", "allowed"],
    ),
    "solver_with_zero_steps": (
        ["+suite=couch", *STEPLESS, "sampler.base_loop=unipc", "sampler.base_steps=0", *RUN],
        ["sampler.base_steps", "'0'", "positive step count"],
    ),
    "cuda_index_beyond_the_gpus": (
        ["+suite=couch", *QUICK, f"sampler.device=cuda:{torch.cuda.device_count()}", *RUN],
        ["sampler.device", f"'cuda:{torch.cuda.device_count()}'"],
    ),
    "prompt_path_is_a_directory": (
        ["+suite=file", "suite.path=mine", *QUICK, *RUN],
        ["suite.path", "'mine'", "is a directory"],
    ),
    "prompt_file_not_utf8": (
        ["+suite=file", "suite.path=latin1.txt", *QUICK, *RUN],
        ["suite.path", "'latin1.txt'", "UTF-8", "0xe9"],
    ),
    "clip_guidance_without_the_noised_clip": (
        [
            "+suite=couch",
            "model=glide",
            "model.download=false",
            "model.cache_dir=no_weights",
            "sampler.guidance=clip",
            "scorers=[]",
            *RUN,
        ],
        [
            "sampler.guidance=clip",
            "clip_image_enc.pt",
            "downloading is off",
            "harness.fetch --only glide --modes clip",
        ],
    ),
    "clip_guidance_with_a_loop_without_a_mean_shift": (
        ["+suite=couch", *QUICK, "sampler.guidance=clip", "sampler.base_loop=ddim", *RUN],
        ["sampler.guidance=clip", "'ddim'", "base_loop=ancestral"],
    ),
    "inpaint_source_missing": (inpaint_case("missing.png", RECTANGLE), ["prompt 'edit'", "'missing.png'", "not exist"]),
    "inpaint_source_unreadable": (inpaint_case("empty.txt", RECTANGLE), ["'empty.txt'", "not a readable image"]),
    "inpaint_mask_not_binary": (inpaint_case("source.png", "grey_mask.png"), ["'grey_mask.png'", "grey level 128"]),
    "inpaint_mask_of_the_wrong_size": (inpaint_case("source.png", "small_mask.png"), ["(32, 32)", "(64, 64)"]),
    "inpaint_mask_keeps_everything": (inpaint_case("source.png", "white_mask.png"), ["keeps every pixel"]),
    "inpaint_mask_keeps_nothing": (
        inpaint_case("source.png", "{left:0,top:0,right:1,bottom:1}"),
        ["keeps no pixel"],
    ),
    "real_model_without_weights": (
        ["+suite=couch", "model=glide", "model.download=false", "model.cache_dir=no_weights", "scorers=[]", *RUN],
        [glide_url("base"), "no_weights/base.pt"],
    ),
    "real_clip_without_weights": (  # the default scorers with the real CLIP; cli_env's caches are empty
        ["+suite=bias", *TINY, "scorer.clip.model=ViT-L-14", "scorer.clip.pretrained=openai", *RUN],
        ["scorer clip", "ViT-L-14:openai", "open_clip_pytorch_model.bin", "python -m harness.fetch --only clip"],
    ),
    # names that become a directory of the run
    "suite_name_climbs_out_of_outputs": (
        ["+suite=couch", "suite.name=../../../../somewhere/else", *QUICK, *RUN],
        ["suite.name", "'../../../../somewhere/else'", "not a plain name"],
    ),
    "suite_name_absolute": (["+suite=couch", "suite.name=/tmp/elsewhere", *QUICK, *RUN], ["suite.name", "plain name"]),
    "suite_name_hidden": (["+suite=couch", "suite.name=.hidden", *QUICK, *RUN], ["suite.name", "'.hidden'"]),
    "suite_name_too_long": (["+suite=couch", "suite.name=" + "x" * 101, *QUICK, *RUN], ["suite.name", "1-100"]),
    "suite_name_unquoted_markup": (
        ["+suite=couch", "suite.name=<svg onload=alert(1)>", *QUICK, *RUN],
        ["cannot parse the override", "suite.name=<svg", "quoted"],
    ),
    "suite_name_quoted_markup": (
        ["+suite=couch", 'suite.name="<svg onload=alert(1)>"', *QUICK, *RUN],
        ["suite.name", "'<svg onload=alert(1)>'", "not a plain name"],
    ),
    "experiment_name_climbs_out_of_outputs": (
        ["+experiment=novel", "experiment=../../x", *QUICK, *RUN],
        ["experiment", "'../../x'", "available"],
    ),
    # seeds
    "seed_beyond_64_bits": (
        ["+suite=couch", *QUICK, "sampler.seed=18446744073709551616", *RUN],
        ["sampler.seed", "18446744073709551616", "out of range"],
    ),
    "last_seed_beyond_64_bits": (
        ["+suite=couch", *TINY, "scorers=[]", "sampler.samples_per_prompt=2", "sampler.seed=9223372036854775807", *RUN],
        ["sampler.seed", "9223372036854775806", "samples_per_prompt=2"],
    ),
    "seed_below_64_bits": (
        ["+suite=couch", *QUICK, "sampler.seed=-9223372036854775809", *RUN],
        ["sampler.seed", "-9223372036854775808"],
    ),
    "seed_not_an_integer": (["+suite=couch", *QUICK, "sampler.seed=1.5", *RUN], ["sampler.seed", "1.5"]),
    # the store and the tracker's files
    "empty_store_dir": (
        ["+suite=couch", *QUICK, "hydra.run.dir=run", "store.cache_dir=''"],
        ["store.cache_dir", "empty"],
    ),
    "tracker_dir_not_creatable": (
        ["+suite=couch", *QUICK, "logger.dir=../blocker/wandb", *RUN],
        ["logger.dir", "blocker", "cannot be created"],
    ),
    "tracker_mode_unknown": (["+suite=couch", *QUICK, "logger.mode=sometimes", *RUN], ["logger.mode", "sometimes"]),
    "tracker_project_empty": (["+suite=couch", *QUICK, "logger.project=''", *RUN], ["logger.project"]),
    "tracker_timeout_zero": (["+suite=couch", *QUICK, "logger.init_timeout_s=0", *RUN], ["logger.init_timeout_s"]),
    "tracker_unknown": (["+suite=couch", *QUICK, "logger.tracker=mlflow", *RUN], ["logger.tracker", "mlflow"]),
    # prompt files and listed prompts
    "csv_row_longer_than_its_header": (
        ["+suite=file", "suite.path=ragged.csv", *QUICK, *RUN],
        ["suite.path", "'ragged.csv'", "row 2", "3 fields", "header has 2"],
    ),
    "csv_row_shorter_than_its_header": (
        ["+suite=file", "suite.path=short.csv", *QUICK, *RUN],
        ["suite.path", "'short.csv'", "row 1", "1 fields", "header has 3"],
    ),
    "csv_without_a_text_column": (
        ["+suite=file", "suite.path=notext.csv", *QUICK, *RUN],
        ["suite.path", "no `text` column", "prompt, id"],
    ),
    "prompt_file_of_another_kind": (
        ["+suite=file", "suite.path=prompts.json", *QUICK, *RUN],
        ["suite.path", "'prompts.json'", ".txt", ".csv"],
    ),
    "empty_prompt_id": (
        ["+suite=couch", "suite.prompts=[{id:'',text:a cat}]", *QUICK, *RUN],
        ["'a cat'", "empty id"],
    ),
    "repeated_prompt_id": (
        ["+suite=couch", "suite.prompts=[{id:a,text:a cat},{id:a,text:a dog}]", *QUICK, *RUN],
        ["'a'", "appears twice"],
    ),
    "blank_prompt_text": (
        ["+suite=couch", "suite.prompts=[{id:a,text:' '}]", *QUICK, *RUN],
        ["prompt 'a'", "empty text"],
    ),
    "empty_objects_list": (
        ["+suite=couch", "suite.prompts=[{id:a,text:a cat,objects:[]}]", *QUICK, *RUN],
        ["prompt 'a' objects", "non-empty list"],
    ),
    # values out of range or of no known kind
    "guidance_infinite": (["+suite=couch", "sampler.guidance_scale=inf", *QUICK, *RUN], ["sampler.guidance_scale"]),
    "upsample_temp_nan": (["+suite=couch", "sampler.upsample_temp=nan", *QUICK, *RUN], ["sampler.upsample_temp"]),
    "upsample_temp_infinite": (["+suite=couch", "sampler.upsample_temp=inf", *QUICK, *RUN], ["sampler.upsample_temp"]),
    "base_eta_negative": (
        ["+suite=couch", *QUICK, "sampler.base_loop=ddim", "sampler.base_eta=-0.5", *RUN],
        ["sampler.base_eta", "-0.5"],
    ),
    "samples_per_prompt_negative": (
        ["+suite=couch", *TINY, "scorers=[]", "sampler.samples_per_prompt=-3", *RUN],
        ["sampler.samples_per_prompt", "-3"],
    ),
    "upsample_steps_not_a_respacing": (
        ["+suite=couch", *STEPLESS, "sampler.base_steps=3", "sampler.upsample_steps=many", *RUN],
        ["sampler.upsample_steps", "'many'"],
    ),
    "dtype_unknown": (["+suite=couch", *QUICK, "sampler.dtype=fp8", *RUN], ["sampler.dtype", "fp8", "bf16"]),
    "device_unknown": (["+suite=couch", *QUICK, "sampler.device=tpu", *RUN], ["sampler.device", "'tpu'"]),
    "shard_beyond_its_count": (["+suite=couch", *QUICK, "runner.shard=3/2", *RUN], ["runner.shard", "'3/2'"]),
    "shard_not_a_fraction": (["+suite=couch", *QUICK, "runner.shard=half", *RUN], ["runner.shard", "'half'"]),
    "shard_of_zero": (["+suite=couch", *QUICK, "runner.shard=0/0", *RUN], ["runner.shard", "'0/0'"]),
    "stage_unknown": (["+suite=couch", *QUICK, "runner.stage=draw", *RUN], ["runner.stage", "'draw'", "sample"]),
    "scorer_named_twice": (["+suite=couch", *QUICK, "scorers=[clip,clip]", *RUN], ["scorers", "twice"]),
    "fid_without_groups": (
        ["+suite=couch", *QUICK, "scorers=[fid]", "scorer.fid.groups=[]", *RUN],
        ["scorer.fid.groups", "non-empty"],
    ),
    "kid_without_subsets": (
        ["+suite=couch", *QUICK, "scorers=[fid]", "scorer.fid.kid_subsets=0", *RUN],
        ["scorer.fid.kid_subsets", ">= 1"],
    ),
    "lpips_net_unknown": (["+suite=couch", *QUICK, "fidelity.lpips_net=resnet", *RUN], ["fidelity.lpips_net"]),
    "model_preset_unknown": (["+suite=couch", *QUICK, "model.base=huge", *RUN], ["model.base", "huge"]),
    "probe_taxonomy_missing": (
        ["+suite=bias", *QUICK, "scorers=[bias]", "suite.probe.taxonomy=castles", *RUN],
        ["castles"],
    ),
    "inpaint_rectangle_outside_the_image": (
        inpaint_case("source.png", "{left:-0.5,top:0,right:0.5,bottom:1}"),
        ["prompt 'edit'", "left"],
    ),
    "inpaint_source_claims_900_megapixels": (
        inpaint_case("bomb.png", RECTANGLE),
        ["'bomb.png'", "30000x30000", "64 MP"],
    ),
    "inpaint_mask_claims_900_megapixels": (inpaint_case("source.png", "bomb.png"), ["'bomb.png'", "30000x30000"]),
    # FID statistics that are no Gaussian's moments, refused before any sampling
    "fid_stats_negative_definite": (
        fid_case("negative.npz"),
        ["scorer.fid.reference.stats", "'negative.npz'", "not positive semi-definite"],
    ),
    "fid_stats_nan_mean": (fid_case("nan_mu.npz"), ["'nan_mu.npz'", "mu has 1 non-finite value"]),
    "fid_stats_infinite_covariance": (fid_case("inf_sigma.npz"), ["'inf_sigma.npz'", "sigma has 1 non-finite"]),
    "fid_stats_asymmetric_covariance": (fid_case("asymmetric.npz"), ["'asymmetric.npz'", "not symmetric"]),
    # findings that the run cannot compute, refused before the study samples
    "finding_metric_of_no_scorer": (
        ["+experiment=novel", *QUICK[:-2], "finding.metric=clip.scor", *RUN],
        ["finding.metric", "'clip.scor'", "clip, detect"],
    ),
    "finding_also_of_no_scorer": (
        ["+experiment=novel", *QUICK[:-2], "finding.also=[quality.sharpness_256]", *RUN],
        ["finding.also", "'quality.sharpness_256'"],
    ),
    "finding_compare_tag_of_no_prompt": (
        ["+experiment=novel", *QUICK[:-2], "finding.compare=tag.mood", *RUN],
        ["finding.compare", "'tag.mood'", "kind"],
    ),
    "finding_compare_of_nothing": (
        ["+experiment=novel", *QUICK[:-2], "finding.compare=sampler.nothing", *RUN],
        ["finding.compare", "'sampler.nothing'", "config key"],
    ),
    "finding_phrase_of_no_prompt": (
        ["-m", "+experiment=guidance_scale", *QUICK[:-2], "finding.metric=detect.coverage.sea", *SWEEP],
        ["finding.metric", "'detect.coverage.sea'", "house, lake"],
    ),
    "finding_pair_by_of_no_tag": (
        ["+experiment=novel", *QUICK[:-2], "finding.pair_by=tag.pear", *RUN],
        ["finding.pair_by", "'tag.pear'", "pair"],
    ),
    "finding_expectation_unknown": (
        ["+experiment=novel", *QUICK[:-2], "finding.expect=up", *RUN],
        ["finding.expect", "'up'", "increase"],
    ),
    "finding_alpha_of_one": (["+experiment=novel", *QUICK[:-2], "finding.alpha=1", *RUN], ["finding.alpha", "(0, 1)"]),
    "fidelity_sweep_without_its_reference": (
        ["-m", "+experiment=sampler_fidelity", "model=tiny", "sampler.base_steps=2", *SWEEP],
        ["fidelity.reference", "sampler.base_steps=100", "must include it"],
    ),
    # weight files that would run code, or are no weights at all
    "clip_pretrained_is_a_pickle": (
        ["+suite=couch", *QUICK, f"scorer.clip.model={TINY_CLIP}", "scorer.clip.pretrained=evil.pt", *RUN],
        ["scorer.clip.pretrained", "evil.pt", "safetensors", "state dict"],
    ),
    "inpaint_lpips_backbone_is_a_pickle": (
        ["+suite=couch", *QUICK, "scorer.inpaint.lpips_backbone=evil.pt", *RUN],
        ["scorer.inpaint.lpips_backbone", "evil.pt", "pretrained", "random", "state-dict"],
    ),
    "hps_checkpoint_is_a_pickle": (
        ["+suite=couch", *QUICK, "scorer.preference.hps_checkpoint=evil.pt", *RUN],
        ["scorer.preference.hps_checkpoint", "evil.pt", "safetensors"],
    ),
    "fid_inception_weights_are_a_pickle": (
        [
            "+suite=couch",
            *TINY,
            "scorers=[fid]",
            "scorer.fid.inception_weights=evil.pt",
            "scorer.fid.reference.folder=ref",
            *RUN,
        ],
        ["scorer.fid.inception_weights", "evil.pt"],
    ),
    "glide_checkpoint_is_a_pickle": (
        ["+suite=couch", *OFFICIAL, "model.base_path=evil.pt", "model.upsample_path=upsample.pt", *RUN],
        ["evil.pt", "more than a state dict of tensors"],
    ),
    "glide_checkpoint_is_random_bytes": (
        ["+suite=couch", *OFFICIAL, "model.base_path=random.bin", "model.upsample_path=upsample.pt", *RUN],
        ["random.bin", "not a readable torch.save or safetensors file"],
    ),
}
if not torch.cuda.is_available():
    BAD_INPUTS["cuda_without_a_gpu"] = (
        ["+suite=couch", *QUICK, "sampler.device=cuda", *RUN],
        ["sampler.device", "'cuda'", "no CUDA device"],
    )
# What the user had before the command: a file, prompt files (empty, Latin-1, ragged), empty dirs, a dir with a
# log, images (one whose header claims 30000x30000 pixels), FID statistics that are no Gaussian's, weight files.
INPUT_FILES = [
    "asymmetric.npz",
    "blocker",
    "bomb.png",
    "code-ran-marker-dir",
    "empty.txt",
    "evil.pt",
    "glide_cache",
    "grey_mask.png",
    "inf_sigma.npz",
    "latin1.txt",
    "mine",
    "nan_mu.npz",
    "negative.npz",
    "no_weights",
    "notext.csv",
    "prompts.json",
    "ragged.csv",
    "random.bin",
    "ref",
    "ref/r0.png",
    "short.csv",
    "small_mask.png",
    "source.png",
    "upsample.pt",
    "white_mask.png",
    "work",
    "work/experiment.log",
]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels, with no pixel data: what a decompression bomb's
    reader sees first."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def write_stats(path: Path, edit) -> None:
    """FID statistics of 4-d features with provenance, then `edit` applied to their mu and sigma."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(20, 4))
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    edit(mu, sigma)
    np.savez(path, mu=mu, sigma=sigma, n=20, feature_extractor="inception-v3-compat-2048", resize_mode="torch_fidelity",
             image_size=256)  # fmt: skip


def prepare_case(case_dir: Path) -> None:
    case_dir.mkdir()
    (case_dir / "blocker").write_text("a regular file where a directory is asked for\n")
    (case_dir / "empty.txt").write_text("")
    (case_dir / "latin1.txt").write_bytes("a caf\u00e9 by the lake\n".encode("latin-1"))
    (case_dir / "no_weights").mkdir()
    Image.fromarray(np.full((40, 50, 3), 90, dtype=np.uint8)).save(case_dir / "source.png")
    mask = np.full((64, 64), 255, dtype=np.uint8)
    Image.fromarray(mask).save(case_dir / "white_mask.png")
    mask[:8, :8] = 128
    Image.fromarray(mask).save(case_dir / "grey_mask.png")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(case_dir / "small_mask.png")
    (case_dir / "mine").mkdir()
    (case_dir / "work").mkdir()
    (case_dir / "work" / "experiment.log").write_text("the user's own log\n")
    (case_dir / "ragged.csv").write_text("id,text\na,a red cube\nb,a blue ball,extra\n")
    (case_dir / "short.csv").write_text("id,text,style\na\n")
    (case_dir / "notext.csv").write_text("prompt,id\na red cube,a\n")
    (case_dir / "prompts.json").write_text('["a red cube"]\n')
    (case_dir / "bomb.png").write_bytes(png_header_only(30000, 30000))
    write_stats(case_dir / "negative.npz", lambda mu, sigma: sigma.__imul__(-1))
    write_stats(case_dir / "nan_mu.npz", lambda mu, sigma: mu.__setitem__(0, np.nan))
    write_stats(case_dir / "inf_sigma.npz", lambda mu, sigma: sigma.__setitem__((1, 1), np.inf))
    write_stats(case_dir / "asymmetric.npz", lambda mu, sigma: sigma.__setitem__((0, 1), sigma[0, 1] + 0.1))
    (case_dir / "code-ran-marker-dir").mkdir()
    plant(case_dir / "evil.pt", case_dir / "code-ran-marker-dir" / "code-ran")
    (case_dir / "random.bin").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    torch.save(random_model("tiny_upsample", 1).state_dict(), case_dir / "upsample.pt")
    (case_dir / "glide_cache").mkdir()
    (case_dir / "ref").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(case_dir / "ref" / "r0.png")


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> dict[str, SimpleNamespace]:
    """Every bad command, each in a dir of its own holding only the inputs; two at a time (they are mostly
    interpreter start-up)."""
    root = tmp_path_factory.mktemp("bad_input")

    def run(case: str) -> SimpleNamespace:
        case_dir = root / case
        prepare_case(case_dir)
        result = run_cli(BAD_INPUTS[case][0], cwd=case_dir, env=env, timeout=300)
        return SimpleNamespace(result=result, files=files_under(case_dir))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BAD_INPUTS, pool.map(run, BAD_INPUTS), strict=True))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_a_failing_exit(bad_runs, case):
    result = bad_runs[case].result
    assert result.returncode == 2, result.stderr[-3000:]
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    for word in BAD_INPUTS[case][1]:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_writes_nothing_and_removes_nothing(bad_runs, case):
    after, before = set(bad_runs[case].files), set(INPUT_FILES)
    assert not after - before, f"written: {sorted(after - before)}"
    assert not before - after, f"removed: {sorted(before - after)}"


def test_a_config_of_the_wrong_type_fails_at_composition_naming_the_key(tmp_path, env):
    prepare_case(tmp_path / "case")
    result = run_cli(["+suite=couch", *QUICK, "sampler.batch_size=many", *RUN], cwd=tmp_path / "case", env=env)
    assert result.returncode != 0
    assert "sampler.batch_size" in result.stderr and "many" in result.stderr
    assert files_under(tmp_path / "case") == INPUT_FILES
