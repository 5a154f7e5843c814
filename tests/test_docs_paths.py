"""Every file, folder and module the README and docs/ name exists in the checkout: a path such as
`harness/config/schema.py` or `conf/logger/wandb.yaml`, and a dotted name such as `harness.tracking.Tracker`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_docs_commands import pages

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDERS = ("harness", "conf", "experiments", "tests", "hydra_plugins", "docs")
# A path starts at one of the checkout's top folders and runs until a character no path of ours has; a
# placeholder (`conf/suite/<name>.yaml`) ends it at the folder that holds it.
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP_FOLDERS)})/[\w./-]*)")
DOTTED = re.compile(r"(?<![\w./-])(harness(?:\.\w+)+)")


# Names that look dotted but are files: the log Hydra writes into each run dir for the job named `harness`.
FILE_NAMES = {"harness.log"}


def named_paths(text: str) -> set[str]:
    """The paths a page names; one that runs into a placeholder (`weights/toy-clip-<digest>.safetensors`) counts
    as the folder it names."""
    paths = set()
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if text[match.end() : match.end() + 1] == "<":
            path = path.rpartition("/")[0] + "/"
        paths.add(path)
    return paths


def named_modules(text: str) -> set[str]:
    return {match.rstrip(".") for match in DOTTED.findall(text)} - FILE_NAMES


def module_exists(dotted: str, root: Path = ROOT) -> bool:
    """Whether `harness.a.b.c` is a package path down to a module (whatever follows the module is a name in it)."""
    folder = root
    for part in dotted.split("."):
        if (folder / part).is_dir():
            folder = folder / part
        elif (folder / f"{part}.py").is_file():
            return True
        else:  # a name the package itself defines or imports
            init = folder / "__init__.py"
            return folder != root and init.is_file() and re.search(rf"\b{part}\b", init.read_text()) is not None
    return True


PAGES = {str(page.relative_to(ROOT)): page.read_text() for page in pages()}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_path_a_page_names_exists(page):
    missing = sorted(path for path in named_paths(PAGES[page]) if not (ROOT / path).exists())
    assert not missing, f"{page} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_module_a_page_names_exists(page):
    missing = sorted(name for name in named_modules(PAGES[page]) if not module_exists(name))
    assert not missing, f"{page} names modules that do not exist: {missing}"


def test_the_pages_name_paths_of_each_kind():
    named = set().union(*(named_paths(text) for text in PAGES.values()))
    assert {"harness/config/schema.py", "conf/sampler/fast.yaml", "experiments/"} <= named
    assert any(path.startswith("harness/run/") for path in named)


def test_a_path_or_module_that_does_not_exist_is_caught():
    text = "See `harness/plan.py`, `conf/suite/<name>.yaml`, `harness.config.nothing` and `harness.io.write_json`."
    text += " Also `harness/toy/weights/toy-clip-<digest>.safetensors`."
    assert named_paths(text) == {"harness/plan.py", "conf/suite/", "harness/toy/weights/"}
    assert not (ROOT / "harness/plan.py").exists() and (ROOT / "conf/suite/").exists()
    assert named_modules(text) == {"harness.config.nothing", "harness.io.write_json"}
    assert not module_exists("harness.config.nothing") and module_exists("harness.io.write_json")
