"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

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
