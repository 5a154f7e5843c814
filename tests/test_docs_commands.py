"""Every shell command the README and docs/ show is one the tools accept, as written.

Commands are read from fenced blocks marked bash, sh, shell or console (in console blocks, the lines after
`$ `), from lines that start with `$ ` or `python -m harness`, and from inline code that starts with
`python -m harness`. `python -m harness ...` is checked the way the command line checks it before Hydra starts
a job: every sweep point composed and typed, so a misspelt key, group option or value fails. `python -m
harness.<module> ...` is checked against that module's own --help (every option it uses must be one the
module offers), and `harness.fetch` commands also run as a dry run. Any other command must be one of the
tools the project uses.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`(python -m harness[^`]*)`")
ENV_ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=")
# Words that stand for a value the reader supplies; allowed in inline mentions, never in a shell block.
PLACEHOLDERS = ("NAME", "RUN_DIR", "FOLDER", "FILE", "PATH", "<", "...")
# Commands other than the harness's own that the docs may show: (program words, what it is).
KNOWN_TOOLS = (
    ("pip", "install"),
    ("python", "-m", "pytest"),
    ("wandb", "sync"),
    ("mkdocs", "build"),
    ("mkdocs", "serve"),
    ("lint-imports",),
    ("apt-get", "install"),
)


@dataclass(frozen=True)
class Shown:
    """One command as a page shows it: where, the words after any VAR=value prefix, and that prefix."""

    page: str
    words: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    inline: bool = False

    @property
    def text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.env) + (" " if self.env else "") + shlex.join(self.words)

    @property
    def placeholder(self) -> bool:
        return any(p in word for word in self.words for p in PLACEHOLDERS)


def _lines(body: str) -> list[str]:
    """The logical lines of a shell block: backslash-continued lines joined."""
    return [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def _commands(line: str, page: str, inline: bool = False) -> list[Shown]:
    """The commands of one shell line (`a && b` is two), each split into its env prefix and words."""
    out = []
    for part in re.split(r"\s&&\s", line):
        words = shlex.split(part, comments=True)
        env = []
        while words and ENV_ASSIGNMENT.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            env.append((key, value))
        if words:
            out.append(Shown(page, tuple(words), tuple(env), inline))
    return out


def shown_commands(text: str, page: str) -> list[Shown]:
    """Every command a Markdown page shows, in page order within each kind (blocks first)."""
    commands: list[Shown] = []
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language not in SHELL_LANGUAGES:
            continue  # output, diagrams, configs
        lines = _lines(body)
        if language == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        commands += [c for line in lines if not line.startswith("#") for c in _commands(line, page)]
    prose = FENCE.sub("", text)
    for line in _lines(prose):
        if line.startswith("$ "):
            commands += _commands(line[2:], page)
        elif line.startswith("python -m harness"):
            commands += _commands(line, page)
    commands += [c for snippet in INLINE.findall(prose) for c in _commands(snippet, page, inline=True)]
    return commands


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_shown() -> list[Shown]:
    found: dict[str, Shown] = {}
    for path in pages():
        for command in shown_commands(path.read_text(), str(path.relative_to(ROOT))):
            found.setdefault(command.text, command)
    return list(found.values())


def is_harness(command: Shown) -> bool:
    return command.words[:3] == ("python", "-m", "harness")


def harness_module(command: Shown) -> str | None:
    """`harness.fetch` for `python -m harness.fetch ...`, else None."""
    words = command.words
    if words[:2] == ("python", "-m") and len(words) > 2 and words[2].startswith("harness."):
        return words[2]
    return None


def harness_error(args: list[str]) -> str | None:
    """What `python -m harness ARGS` says before Hydra starts a job: an error line, or None when every job of
    the command composes and types."""
    import harness.cli.main as cli

    if error := cli.check_group_choices(args):
        return error
    argv, _ = cli.mode_model(args)
    return cli.check_command(argv, cli.group_choices("suite"))


# Run in a fresh interpreter: the same checks as harness_error, after the command's own environment has
# loaded its plugins (which register loops and scorers for the rest of that process).
_CHECK_IN_PROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from test_docs_commands import harness_error
print(json.dumps(harness_error(sys.argv[1:])))
"""


def harness_error_with_env(command: Shown, cwd: Path = ROOT) -> str | None:
    env = dict(os.environ)
    for key, value in command.env:
        if key == "PYTHONPATH":  # shown as run from the checkout's root
            env[key] = os.pathsep.join([str(ROOT / value), env.get(key, "")])
        else:
            env[key] = value
    env["PYTHONPATH"] = os.pathsep.join([env.get("PYTHONPATH", ""), str(ROOT)])
    code = _CHECK_IN_PROCESS.format(tests=str(ROOT / "tests"))
    result = subprocess.run(
        [sys.executable, "-c", code, *command.words[3:]], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# Each module's command line, run as `python -m MODULE ARGV` would run it, in one interpreter: its exit code
# and what it printed. Used for --help pages and fetch dry runs.
_RUN_MODULES = """
import contextlib, io, json, runpy, sys
out = []
for module, argv in json.loads(sys.stdin.read()):
    sys.argv = [module, *argv]
    buffer = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    out.append([code, buffer.getvalue()])
print(json.dumps(out))
"""


def run_modules(calls: list[tuple[str, list[str]]]) -> list[tuple[int, str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", _RUN_MODULES],
        input=json.dumps(calls),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [tuple(item) for item in json.loads(result.stdout.strip().splitlines()[-1])]


def options_of(help_page: str) -> set[str]:
    """The option strings an argparse --help page lists."""
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_page))


def unknown_options(command: Shown, offered: set[str]) -> list[str]:
    return [w.split("=")[0] for w in command.words[3:] if w.startswith("-") and w.split("=")[0] not in offered]


def is_known_tool(command: Shown) -> bool:
    return any(command.words[: len(tool)] == tool for tool in KNOWN_TOOLS)


SHOWN = all_shown()


# --- the extraction itself ------------------------------------------------------------------------------


def test_commands_are_read_from_shell_blocks_console_prompts_and_inline_code():
    page = "\n".join(
        [
            "```bash",
            "OMP_NUM_THREADS=1 python -m harness +suite=bias \\",
            "    model=tiny   # a comment",
            "pip install -e . && python -m pytest",
            "```",
            "```console",
            "$ python -m harness.bench --cli 3",
            "output line that is not a command",
            "```",
            "```text",
            "python -m harness +suite=not_a_command",
            "```",
            "Run `python -m harness.cli.score RUN_DIR` later.",
            "$ wandb sync somewhere",
        ]
    )
    found = [(c.env, c.words, c.inline) for c in shown_commands(page, "page.md")]
    assert found == [
        ((("OMP_NUM_THREADS", "1"),), ("python", "-m", "harness", "+suite=bias", "model=tiny"), False),
        ((), ("pip", "install", "-e", "."), False),
        ((), ("python", "-m", "pytest"), False),
        ((), ("python", "-m", "harness.bench", "--cli", "3"), False),
        ((), ("wandb", "sync", "somewhere"), False),
        ((), ("python", "-m", "harness.cli.score", "RUN_DIR"), True),
    ]


def test_the_docs_show_commands_of_every_kind():
    assert len([c for c in SHOWN if is_harness(c)]) >= 30
    assert {harness_module(c) for c in SHOWN} >= {
        "harness.fetch",
        "harness.cli.score",
        "harness.report",
        "harness.bench",
    }
    assert all((ROOT / page).is_file() for page in {c.page for c in SHOWN})


def test_a_shell_block_shows_no_placeholder_in_a_harness_command():
    """A command in a shell block is meant to be pasted: its every word must be real (inline mentions may
    name a placeholder such as NAME or RUN_DIR)."""
    bad = [f"{c.page}: {c.text}" for c in SHOWN if is_harness(c) and not c.inline and c.placeholder]
    assert not bad, bad


# --- each kind of command against its tool --------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [c for c in SHOWN if is_harness(c) and not c.placeholder],
    ids=lambda c: " ".join([*(k for k, _ in c.env), *c.words[3:]])[:80],
)
def test_every_harness_command_shown_composes_and_types(command: Shown, tmp_path, monkeypatch):
    """Run where the reader would: in a directory holding the prompt files and images the command names (the
    preflight reads them), each with something in it."""
    reader_inputs(command.words, tmp_path)
    plugins = any(key in ("GLIDE_EVAL_PLUGINS", "PYTHONPATH") for key, _ in command.env)
    monkeypatch.chdir(tmp_path)
    error = harness_error_with_env(command, tmp_path) if plugins else harness_error(list(command.words[3:]))
    assert error is None, f"{command.page}: {command.text}\n  {error}"


def reader_inputs(words: Sequence[str], folder: Path) -> None:
    """The reader's own files a command names: a prompt file per `suite.path=`, an image per `image:` of a
    listed prompt (relative paths only; an absolute one is the reader's machine's)."""
    for word in words:
        if word.startswith("suite.path="):
            path = folder / word.removeprefix("suite.path=")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("id,text\na,a red cube\n" if path.suffix == ".csv" else "a red cube\n")
        for name in re.findall(r"image: ?([^,{}\s]+\.(?:png|jpg))", word):
            Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(folder / name)


def test_every_module_command_shown_uses_options_the_module_offers():
    commands = [c for c in SHOWN if harness_module(c)]
    modules = sorted({harness_module(c) for c in commands})
    pages = dict(zip(modules, run_modules([(m, ["--help"]) for m in modules]), strict=True))
    for module, (code, page) in pages.items():
        assert code == 0 and "usage:" in page, (module, page[-1000:])
    bad = {c.text: unknown_options(c, options_of(pages[harness_module(c)][1])) for c in commands}
    assert not {text: options for text, options in bad.items() if options}


def test_every_fetch_command_shown_runs_as_a_dry_run(tmp_path):
    commands = [c for c in SHOWN if harness_module(c) == "harness.fetch"]
    assert len(commands) >= 4
    calls = [("harness.fetch", [*c.words[3:], "--dry-run", "--cache-dir", str(tmp_path)]) for c in commands]
    results = run_modules(calls)
    failed = {c.text: out[-500:] for c, (code, out) in zip(commands, results, strict=True) if code != 0}
    assert not failed


def test_every_other_command_shown_is_a_tool_the_project_uses():
    others = [c for c in SHOWN if not is_harness(c) and not harness_module(c)]
    assert not [f"{c.page}: {c.text}" for c in others if not is_known_tool(c)]


# --- the checks catch a mistake --------------------------------------------------------------------------


def test_a_misspelt_key_in_a_shown_command_fails():
    page = "```bash\npython -m harness +suite=bias model=tiny sampler.guidence_scale=3\n```\n"
    (command,) = shown_commands(page, "page.md")
    error = harness_error(list(command.words[3:]))
    assert error is not None and "guidence_scale" in error


def test_a_misspelt_sweep_value_in_a_shown_command_fails():
    page = "```bash\npython -m harness -m +experiment=sampler_fidelity model=tiny +fidelity_base=dpmpp_2m11\n```\n"
    (command,) = shown_commands(page, "page.md")
    error = harness_error(list(command.words[3:]))
    assert error is not None and "dpmpp_2m11" in error


def test_a_misspelt_option_or_an_unknown_tool_fails():
    page = "```bash\npython -m harness.fetch --dryrun\npip instal glide-eval\n```\n"
    fetch, pip = shown_commands(page, "page.md")
    ((code, help_page),) = run_modules([("harness.fetch", ["--help"])])
    assert code == 0
    assert unknown_options(fetch, options_of(help_page)) == ["--dryrun"]
    assert not is_known_tool(pip)
