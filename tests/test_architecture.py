"""The package's seams as import contracts (pyproject.toml [tool.importlinter]), checked by import-linter.

The model package stays free of the harness, scorers never reach into the runner, store or report, and no
two modules import each other, directly or around a circle. Checking a command line imports none of the
libraries the scorers score with: a bad value answers before they would have loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The script of the environment running the tests (it is run with this interpreter); one on PATH, such as a
# version manager's shell shim, only where this environment has none.
LINT_IMPORTS = next(
    (str(p) for p in [Path(sysconfig.get_path("scripts")) / "lint-imports"] if p.is_file()),
    shutil.which("lint-imports"),
)
needs_lint_imports = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (the dev extra)")
# What the scorers load only when they score (each takes from a tenth of a second to seconds to import).
SCORING_LIBRARIES = (
    "open_clip",
    "transformers",
    "torchmetrics",
    "torch_fidelity",
    "torchvision",
    "lpips",
    "skimage",
    "scipy.stats",
    "huggingface_hub",
)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the contracts of `root`/pyproject.toml, on the `harness` package under `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, LINT_IMPORTS, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    text = module.read_text()
    marker = "from __future__ import annotations\n"
    module.write_text(text.replace(marker, marker + statement + "\n", 1))


@needs_lint_imports
def test_the_package_keeps_every_import_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@needs_lint_imports
def test_an_import_cycle_breaks_the_contracts(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_import(root / "harness" / "config" / "suites.py", "import harness.run.plan  # plan imports suites: a cycle")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "No import cycle" in result.stdout and "BROKEN" in result.stdout


@needs_lint_imports
def test_the_model_package_importing_the_harness_breaks_the_contracts(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_import(root / "harness" / "glide" / "unet.py", "import harness.errors")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "harness.glide is not allowed to import harness.errors" in result.stdout


def test_checking_a_command_line_imports_none_of_the_scoring_libraries():
    """The entry point's own checks, on a good command and a bad one, as `python -m harness` runs them first:
    typing every scorer's options (their defaults included) must not import what scoring needs."""
    script = f"""
import json, sys
import harness.cli.main as cli
suites = cli.group_choices("suite")
good = cli.check_command(["+suite=bias"], suites)
bad = cli.check_command(["+suite=bias", "sampler.guidance_scale=-1"], suites)
loaded = [name for name in {SCORING_LIBRARIES!r} if name in sys.modules]
print(json.dumps({{"good": good, "bad": bad, "loaded": loaded}}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["good"] is None
    assert report["bad"].startswith("sampler.guidance_scale: -1.0")
    assert report["loaded"] == []


def test_the_option_defaults_typing_leaves_unchecked_are_open_clip_names():
    """The CLIP and HPS defaults skip open_clip's lookup when a config is typed; open_clip itself knows them."""
    import open_clip

    from harness.scorers.clip_encoder import ClipConfig
    from harness.scorers.preference import PreferenceConfig

    clip, preference = ClipConfig(), PreferenceConfig()
    assert clip.model in open_clip.list_models()
    assert clip.pretrained in open_clip.list_pretrained_tags_by_model(clip.model)
    assert preference.hps_architecture in open_clip.list_models()


@needs_lint_imports
def test_analysis_importing_the_report_breaks_the_contracts(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_import(root / "harness" / "analysis" / "sweep.py", "import harness.report.build")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "harness.analysis is not allowed to import harness.report" in result.stdout


def flow_diagram() -> list[tuple[str, list[str]]]:
    """The boxes of docs/index.md's data flow, top to bottom, each with the modules it names."""
    text = (REPO / "docs" / "index.md").read_text()
    block = text.split("## How a command flows", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    boxes: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") else ""
        if head.endswith("/"):
            boxes.append((head.rstrip("/"), []))
        if boxes and line.startswith("  ") and not line.lstrip().startswith(("v", "|")):
            boxes[-1][1].extend(word.rstrip(",") for word in line.split() if word.rstrip(",").endswith(".py"))
    return boxes


def test_the_docs_data_flow_draws_the_contracts_layers_and_names_modules_that_exist():
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    boxes = flow_diagram()
    drawn = {f"harness.{name}" for name, _ in boxes}
    assert drawn == {layer for layer in layers if "|" not in layer and layer != "harness.glide"}
    text = (REPO / "docs" / "index.md").read_text()
    assert "Imports run in layers, each importing only those after it: " + ", ".join(
        layer.removeprefix("harness.") for layer in layers[:6]
    ) in " ".join(text.split())
    for name, modules in boxes:
        for module in modules:
            path = REPO / "harness" / (module if "/" in module else f"{name}/{module}")
            assert path.is_file(), f"docs/index.md names {module} in {name}/, which has no such module"


def test_no_two_modules_share_a_name():
    """A newcomer opens a module by its name: each name is one module's, except a report view, which is named
    for the scorer whose section it draws (harness/report/views/bias.py draws scorers/bias.py's)."""
    package = REPO / "harness"
    modules = [p for p in package.rglob("*.py") if p.stem not in ("__init__", "__main__")]
    views = package / "report" / "views"
    names = {}
    for path in modules:
        if path.parent == views and (package / "scorers" / path.name).is_file():
            continue
        names.setdefault(path.stem, []).append(str(path.relative_to(REPO)))
    packages = {p.name for p in package.rglob("*") if p.is_dir() and (p / "__init__.py").is_file()}
    shared = {name: paths for name, paths in names.items() if len(paths) > 1 or name in packages}
    assert not shared, shared


def test_one_function_composes_the_config():
    """harness.config.compose is the only place that composes: every other reader of a config goes through it."""
    composing = (
        "initialize_config_dir",
        "hydra.compose(",
        "from hydra import compose",
        'import_module("hydra._internal',
    )
    places = [
        str(path.relative_to(REPO))
        for path in (REPO / "harness").rglob("*.py")
        if any(word in path.read_text() for word in composing)
    ]
    assert places == ["harness/config/compose.py"]
    assert not [p for p in (REPO / "harness").rglob("*.py") if "hydra._internal" in p.read_text()]
