"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

import pytest
from cli_helpers import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"^    (pip install .+)$", (ROOT / "README.md").read_text(), flags=re.MULTILINE)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = [c for c in _readme_commands() if "pytest" in c]
    assert len(test_command) == 1
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command[0] in ci_lines


def test_readme_pins_the_torch_builds_in_both_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert all("torch==2.14.1 torchvision==0.29.1" in c for c in commands)


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


def _shown_commands() -> list[list[str]]:
    """Every `python -m harness ...` command line shown in README.md and docs/, as arguments; lines with a
    placeholder (NAME, <dir>, ...) are left out."""
    import shlex

    texts = [(ROOT / "README.md").read_text(), *(p.read_text() for p in sorted((ROOT / "docs").rglob("*.md")))]
    lines = {
        line.strip()
        for text in texts
        for line in re.findall(r"python -m harness ((?:-m )?[+a-z][^\n#`]*)", text.replace("\\\n", " "))
    }
    commands = [shlex.split(line) for line in sorted(lines)]
    return [args for args in commands if not any(p in a for a in args for p in ("NAME", "<", "..."))]


def test_every_command_shown_is_one_the_command_line_accepts():
    import harness.cli as cli

    commands = _shown_commands()
    assert len(commands) >= 15
    suites = cli.group_choices("suite")
    for args in commands:
        argv, _ = cli.inpainting_model(args, cli.CONF_DIR)
        assert (cli.check_group_choices(argv) or cli.check_command(argv, cli.CONF_DIR, suites)) is None, args
