"""What `python -m harness` answers before anything heavy is imported: its own `--help` page (what it does, the
usual commands, the suites and experiments, where outputs go) and an unknown suite or experiment.

Built from the config files alone (YAML, no torch, no Hydra); Hydra's own page stays under `--hydra-help`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from harness.locations import group_dir

HELP_FLAGS = ("--help", "-h")

_COMMANDS = """\
  python -m harness +suite=bias model=tiny       a suite on the tiny random-weight model: seconds, on a CPU
  python -m harness +suite=bias                  a suite with the released GLIDE (weights fetched once)
  python -m harness -m +suite=hyperparams sampler.guidance_scale=1,3,5 sampler.upsample_temp=0.99,0.995,1.0
                                                 a sweep: one job per point, then a sweep summary and report
  python -m harness -m +experiment=NAME          a preset study with its claim and finding
  python -m harness.report outputs/sweeps/DIR    the HTML report of a run or sweep
  python -m harness.fetch                        fetch the weights once (for offline machines)"""


def group_choices(group: str) -> list[str]:
    """The options of a config group: the YAML files in conf/<group>/ (experiments/ for `experiment`)."""
    return sorted(p.stem for p in group_dir(group).glob("*.yaml"))


def check_group_choices(argv: list[str]) -> str | None:
    """The error for `+suite=NAME` / `+experiment=NAME` naming no such file, before anything heavy is imported."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key not in ("suite", "experiment") or not value or "," in value:
            continue
        choices = group_choices(key)
        if value not in choices:
            return f"unknown {key} {value!r}; available: {', '.join(choices)}"
    return None


def _description(path: Path, key: str) -> str:
    """A config file's one-line `key` (description or note), or ''."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    text = data.get(key) if isinstance(data, dict) else None
    return " ".join(str(text).split()) if text else ""


def _listing(group: str, key: str, width: int) -> str:
    paths = sorted(group_dir(group).glob("*.yaml"))
    name_width = max((len(p.stem) for p in paths), default=0) + 2
    lines = []
    for path in paths:
        text = _description(path, key)
        wrapped = textwrap.wrap(text, width - name_width - 2) or [""]
        lines.append(f"  {path.stem:<{name_width}}{wrapped[0]}")
        lines += [f"  {'':<{name_width}}{line}" for line in wrapped[1:]]
    return "\n".join(lines)


def help_page(width: int = 110) -> str:
    """The page `python -m harness --help` prints."""
    return f"""\
glide-eval: measured, repeatable experiments on OpenAI's released GLIDE text-to-image models.

Samples every prompt x seed of a suite (Hydra configs), scores the images (CLIP similarity, FID/KID, a bias
probe, style, composition, quality, preference), and writes PNGs, parquet tables, W&B runs and an HTML report.

Usual commands:
{_COMMANDS}

Any config key can be set on the command line (key=value; a comma list with -m sweeps it), e.g.
  sampler.guidance_scale=5 sampler.samples_per_prompt=8 scorers=[clip,bias] logger.mode=disabled

Suites (+suite=NAME):
{_listing("suite", "description", width)}

Experiments (-m +experiment=NAME):
{_listing("experiment", "note", width)}

Outputs: runs in outputs/runs/<time>_<suite>/, sweeps in outputs/sweeps/<time>_<experiment or suite>/,
samples in the shared store outputs/samples/ (store.cache_dir). W&B runs offline without a login; each run
dir's wandb/ holds them for `wandb sync`.

More: --cfg job (print the composed config), --hydra-help (Hydra's own options), README.md and docs/."""
