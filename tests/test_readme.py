"""The README's set-up commands are the ones CI runs, and its tiny-model commands run as written (every other
command the docs show: test_docs_commands.py)."""

import re
from pathlib import Path

import pytest
from cli_helpers import cli_env, run_cli
from test_docs_commands import FENCE, SHELL_LANGUAGES

ROOT = Path(__file__).resolve().parents[1]


def _install_commands(page: str = "README.md") -> list[str]:
    """A page's `pip install ...` command lines, as written (a `cmd && cmd` line whole)."""
    text = (ROOT / page).read_text()
    return [
        line.strip()
        for language, body in FENCE.findall(text)
        if language in SHELL_LANGUAGES
        for line in body.splitlines()
        if line.strip().startswith("pip install ")
    ]


def test_ci_runs_exactly_the_readme_test_command():
    test_command = [c for c in _install_commands() if "pytest" in c]
    assert len(test_command) == 1
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command[0] in ci_lines


def test_readme_pins_the_torch_builds_in_every_install_command():
    commands = _install_commands()
    assert len(commands) == 2  # the package with its first run, the package with the test tools
    assert all("torch==2.14.1 torchvision==0.29.1" in c for c in commands)


def test_the_cpu_only_torch_build_is_on_the_install_section_the_readme_links_to():
    assert "(docs/getting-started.md#install)" in (ROOT / "README.md").read_text()
    commands = _install_commands("docs/getting-started.md")
    cpu = [c for c in commands if "--index-url https://download.pytorch.org/whl/cpu" in c]
    assert len(cpu) == 1 and "torch==2.14.1 torchvision==0.29.1" in cpu[0]
    assert set(_install_commands()) <= set(commands)  # the README's two set-up commands, as the page has them


def _usage_command(pattern: str) -> list[str]:
    """The README's one command line matching `pattern`, as arguments after `python -m harness`."""
    lines = {
        line.strip() for line in re.findall(rf"python -m harness ({pattern}[^#\n]*)", (ROOT / "README.md").read_text())
    }
    assert len(lines) == 1, lines
    return lines.pop().split()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pattern", "finished"),
    [(r"\+suite=bias model=tiny", "summary.json"), (r"-m \+suite=\S+ model=tiny", "sweep_summary.parquet")],
)
def test_the_readme_tiny_commands_run_as_written(tmp_path, pattern, finished):
    args = _usage_command(pattern)
    result = run_cli(args, cwd=tmp_path, env=cli_env(tmp_path / "home"), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "outputs").rglob(finished))
    suite = next(a.split("=", 1)[1] for a in args if a.startswith("+suite="))
    made = [p.name for p in (tmp_path / "outputs").glob("*/*") if p.is_dir() and p.parent.name in ("runs", "sweeps")]
    assert made and all(name.endswith(f"_{suite}") for name in made), made  # named for their suite, never _None


def test_the_readme_is_a_front_door():
    """At most 150 lines: what it is, the set-up, the usual commands, one image of the report, the manual."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["docs/images/report-top.png"]
    assert (ROOT / "docs" / "images" / "report-top.png").is_file()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Set up", "## The usual commands", "## What you get", "## The manual"]
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", text))
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")}  # every page of the manual, one link away
