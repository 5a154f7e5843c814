"""`python -m harness --help` is the harness's own page, built from the config files before anything heavy loads."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_helpers import CONF, REPO, cli_env

HEAVY = ["torch", "hydra", "pandas", "open_clip", "transformers", "wandb"]


def run_help(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env=cli_env(cwd), capture_output=True, text=True, timeout=120
    )


def test_help_names_every_suite_and_experiment_and_the_usual_commands(tmp_path):
    result = run_help("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = result.stdout
    for group in ("suite", "experiment"):
        for path in (CONF / group).glob("*.yaml"):
            assert f"\n  {path.stem} " in page, path.stem
    assert "python -m harness +suite=bias model=tiny" in page and "outputs/runs/" in page
    assert "powered by Hydra" not in page and "--hydra-help" in page


def test_dash_h_is_the_same_page_and_hydra_keeps_its_own_under_hydra_help(tmp_path):
    assert run_help("-h", cwd=tmp_path).stdout == run_help("--help", cwd=tmp_path).stdout
    hydra_page = run_help("--hydra-help", cwd=tmp_path)
    assert hydra_page.returncode == 0 and "Hydra" in hydra_page.stdout


def test_help_imports_none_of_the_heavy_libraries(tmp_path):
    script = f"""
import json, runpy, sys
sys.argv = ["harness", "--help"]
try:
    runpy.run_module("harness", run_name="__main__")
except SystemExit as end:
    code = end.code
print(json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}


def test_an_unknown_suite_or_experiment_is_answered_before_anything_heavy_loads(tmp_path):
    script = f"""
import json, runpy, sys
answers = []
for arg in ("+suite=nosuchsuite", "+experiment=nosuchstudy"):
    sys.argv = ["harness", arg]
    try:
        runpy.run_module("harness", run_name="__main__")
    except SystemExit as end:
        answers.append(end.code)
print(json.dumps({{"codes": answers, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [2, 2], "loaded": []}
    lines = result.stderr.strip().splitlines()
    suites = ", ".join(sorted(p.stem for p in (CONF / "suite").glob("*.yaml")))
    assert lines[0] == f"error: unknown suite 'nosuchsuite'; available: {suites}"
    assert lines[1].startswith("error: unknown experiment 'nosuchstudy'; available: bias_vs_guidance")


def test_a_bad_key_or_value_is_answered_before_torch_open_clip_or_transformers_load(tmp_path):
    """Composing and typing the whole config (every scorer's options, the sampler's names and respacings, the
    tiny model's CLIP name), reading the suite's prompts and checking the store's place need none of the
    libraries that sample or score: only a check that truly needs one imports it."""
    (tmp_path / "blocker").write_text("a file where a directory is asked for\n")
    script = """
import json, runpy, sys
answers = []
for args in (["+suite=bias", "sampler.guidance_scale=-1"], ["+suite=bias", "sampler.guidance_scal=3"],
             ["+suite=bias", "scorer.clip.batch_size=0"], ["+suite=bias", "sampler.base_steps=ddim0"],
             ["+suite=bias", "model=tiny", "runner.shard=3/2"],
             ["+suite=file", "model=tiny", "suite.path=missing.txt"],
             ["+suite=bias", "model=tiny", "suite.probe.taxonomy=castles"],
             ["+suite=bias", "model=tiny", "store.cache_dir=blocker/store"]):
    sys.argv = ["harness", *args]
    try:
        runpy.run_module("harness", run_name="__main__")
    except SystemExit as end:
        answers.append(end.code)
print(json.dumps({"codes": answers, "loaded": [m for m in ("torch", "open_clip", "transformers") if m in sys.modules]}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [2] * 8, "loaded": []}, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in lines] == [
        "sampler.guidance_scale",
        "sampler.guidance_scal",
        "scorer.clip.batch_size",
        "sampler.base_steps",
        "runner.shard",
        "suite.path",
        "scorer.bias.taxonomy",
        "store.cache_dir",
    ]
