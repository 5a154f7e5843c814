"""The package's seams as import contracts (pyproject.toml [tool.importlinter]), checked by import-linter.

The model package stays free of the harness, scorers never reach into the runner, store or report, and no
two modules import each other, directly or around a circle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (the dev extra)")


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


def test_the_package_keeps_every_import_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_an_import_cycle_breaks_the_contracts(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_import(root / "harness" / "suites.py", "import harness.plan  # plan imports suites: a cycle")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "No import cycle" in result.stdout and "BROKEN" in result.stdout


def test_the_model_package_importing_the_harness_breaks_the_contracts(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_import(root / "harness" / "glide" / "unet.py", "import harness.errors")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "harness.glide is not allowed to import harness.errors" in result.stdout
