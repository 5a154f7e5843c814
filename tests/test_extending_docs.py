"""docs/extending.md shows each kind of growth as a tested example from outside the package: each example
consists of exactly the files its section names, they register what the section says, and the tests it names
run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: hatchling's own TOML reader
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "extending.md").read_text()
PLUGINS = ROOT / "tests" / "plugins"
# Each example section: the registration call its files must make.
EXAMPLES = {
    "A scorer": "register_scorer(",
    "A sampling loop": "register_loop(",
    "A tracker": "register_tracker(",
    "A mode": "register_mode(",
}
FILES = re.compile(r"\*\*Files \((\d+)\):\*\* (.*?)(?:\*\*|$)", re.MULTILINE | re.DOTALL)
TESTED_BY = re.compile(r"\*\*Tested by:\*\* (.*?)\.$", re.MULTILINE)
NUMBER = re.compile(r"`([^`]+)`")


def section(title: str, page: str = PAGE) -> str:
    """The text under `## title`, up to the next heading of its level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", page, re.MULTILINE | re.DOTALL)
    assert match, f"no section '## {title}'"
    return match.group(1)


def named_files(text: str) -> tuple[int, list[str]]:
    """(the number of files a section states, the paths it names on its Files line)."""
    match = FILES.search(text)
    assert match, "no **Files (N):** line"
    paths = [p for p in NUMBER.findall(match.group(2)) if "/" in p]
    return int(match.group(1)), paths


def files_of(folder: Path) -> set[str]:
    """Every file of a plugin's folder, as a path from the checkout's root (bytecode caches are not the plugin's)."""
    return {str(p.relative_to(ROOT)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_each_example_states_the_number_of_files_it_names(title):
    number, paths = named_files(section(title))
    assert number == len(paths) == len(set(paths)) > 0


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_each_example_lives_outside_the_package(title):
    _, paths = named_files(section(title))
    assert all((ROOT / p).is_file() and (ROOT / p).is_relative_to(PLUGINS) for p in paths), paths


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_each_example_is_exactly_the_files_it_names(title):
    """A plugin in a folder of its own has no file the page leaves out; one module beside others is itself."""
    _, paths = named_files(section(title))
    folders = {(ROOT / p).parent for p in paths}
    for folder in folders - {PLUGINS}:
        assert files_of(folder) == {p for p in paths if (ROOT / p).parent == folder}


@pytest.mark.parametrize(("title", "call"), list(EXAMPLES.items()))
def test_each_examples_files_register_what_its_section_adds(title, call):
    _, paths = named_files(section(title))
    assert any(call in (ROOT / p).read_text() for p in paths if p.endswith(".py"))


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_each_example_names_the_tests_that_run_it(title):
    text = section(title)
    (tested_by,) = TESTED_BY.findall(text)
    tests = NUMBER.findall(tested_by)
    modules = {Path(p).stem for p in named_files(text)[1] if p.endswith(".py")}
    assert tests
    for test in tests:
        source = (ROOT / test).read_text()
        assert any(module in source for module in modules), (test, modules)


def test_the_tracker_example_is_an_installable_distribution_with_the_entry_point():
    (pyproject,) = [p for p in named_files(section("A tracker"))[1] if p.endswith("pyproject.toml")]
    project = tomllib.loads((ROOT / pyproject).read_text())
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"] == project["build-system"]
    (module,) = project["project"]["entry-points"]["glide_eval.plugins"].values()
    assert (ROOT / pyproject).parent.joinpath(f"{module}.py").is_file()


def test_an_example_with_a_file_the_page_leaves_out_is_caught(tmp_path):
    page = "## A tracker\n\n**Files (1):** `tests/plugins/csv_tracker/csv_tracker_plugin.py`.\n"
    _, paths = named_files(section("A tracker", page))
    assert files_of(PLUGINS / "csv_tracker") != set(paths)
