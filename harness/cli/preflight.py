"""Check a command's every job before Hydra starts it: each sweep point composed and typed, as its job will be.

A wrong type, an unknown key, an unknown group option or a bad value in any point stops the command with one
line before any directory exists; Hydra's own multi-line composition errors never reach the user. The
compositions are harness.config.compose's, so the job reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from harness.config.checks import finding_error, probe_scorers
from harness.config.compose import (
    COMPOSITION_ERRORS,
    compose,
    describe,
    first_values,
    job_config,
    sweep_points,
    typed_job,
    unknown_keys,
)
from harness.config.suites import load_suite
from harness.generate.boundary import MODES
from harness.run.outdirs import creatable_error
from harness.scorers import check_scorer_names

# Flags after which Hydra does something other than run jobs (help, printing the config, shell completion).
_OTHER_MODES = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")
_MULTIRUN = ("-m", "--multirun")


def _command(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """The command line's overrides and whether it is a multirun; None where Hydra does something other than
    run jobs (help, printing the config, shell completion)."""
    if any(arg.split("=")[0] in _OTHER_MODES for arg in argv):
        return None
    return [arg for arg in argv if not arg.startswith("-")], any(arg in _MULTIRUN for arg in argv)


def command_points(argv: Sequence[str]) -> list[list[str]] | None:
    """Each job's overrides of `python -m harness ARGV`; None where Hydra does something other than run jobs."""
    command = _command(argv)
    return sweep_points(*command) if command is not None else None


def check_command(argv: Sequence[str], suites: Sequence[str]) -> str | None:
    """The error line of the first bad job of `python -m harness ARGV`, or None when every job composes."""
    if (command := _command(argv)) is None:
        return None
    multirun = command[1]
    try:
        points = sweep_points(*command)
        configs = []
        for point in points:
            error, cfg = _check_job(point, suites)
            if error:
                shown = " ".join(o for o in point if not o.lstrip("+~").startswith("hydra"))
                return f"{error} (sweep point: {shown})" if multirun else error
            configs.append(cfg)
    except COMPOSITION_ERRORS as err:
        return describe(err)
    return _fidelity_reference_error(configs)


def plan_only(points: Sequence[Sequence[str]]) -> bool:
    """Whether every job only plans (runner.stage=plan)."""
    return all(job_config(point).runner.stage == "plan" for point in points)


def _fidelity_reference_error(configs: Sequence[DictConfig]) -> str | None:
    """A fidelity sweep's reference point must be one of its jobs: every point is measured against it."""
    reference = {}
    for cfg in configs:
        node = OmegaConf.select(cfg, "fidelity.reference", default=None)
        reference = (OmegaConf.to_container(node) if node is not None else {}) or reference
    if not reference:
        return None
    if any(all(str(OmegaConf.select(cfg, k)) == str(v) for k, v in reference.items()) for cfg in configs):
        return None
    wanted = " ".join(f"{k}={v}" for k, v in reference.items())
    return (
        f"fidelity.reference: no point of this sweep has the reference settings {wanted}; every point is compared "
        "with the reference's images, so the sweep must include it (or set fidelity.reference={} for no comparison)"
    )


def mode_model(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """`argv` with the model (given or by default) swapped for its counterpart in the mode the suite needs
    (`model=tiny` -> `model=tiny_inpaint` for a suite that inpaints), so Hydra composes, saves and logs the model
    that runs; and a note saying so, else None. Each mode says what it needs (Mode.model_for)."""
    argv = list(argv)
    if (command := _command(argv)) is None:
        return argv, None
    overrides = command[0]
    model_args = [i for i, arg in enumerate(argv) if arg.split("=")[0].lstrip("+~") == "model"]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        if any(o.is_sweep_override() for o in parsed if o.get_key_element().lstrip("+~") in ("model", "suite")):
            return argv, None  # each point then says which model it needs
        cfg = compose(first_values(parsed, overrides))
    except COMPOSITION_ERRORS:
        return argv, None  # check_command reports it
    name = OmegaConf.select(cfg, "model.name", default=None)
    listed = OmegaConf.select(cfg, "suite.prompts", default=None)
    prompts = OmegaConf.to_container(listed) if listed is not None else []
    for mode in MODES.values():
        if swap := mode.model_for(name, prompts):
            chosen, why = swap
            argv = [arg for i, arg in enumerate(argv) if i not in model_args] + [f"model={chosen}"]
            return argv, f"suite {cfg.suite.name!r} {why}"
    return argv, None


def _check_job(overrides: list[str], suites: Sequence[str]) -> tuple[str | None, DictConfig | None]:
    """(the job's error line or None, its composed config)."""
    cfg = None
    try:
        cfg = job_config(overrides)
        if cfg.get("suite") is None:
            return f"no suite given: add +suite=NAME, one of {', '.join(suites)}", cfg
        if unknown := unknown_keys(cfg):
            return unknown, cfg
        rc = typed_job(overrides)
        check_scorer_names(rc.scorers)
        if error := finding_error(rc, cfg) or creatable_error(Path(rc.store.cache_dir), "store.cache_dir"):
            return error, cfg
        load_suite(rc.suite)  # its prompt file and listed prompts (an inpainting prompt's pixels with torch), once
        probe_scorers(rc)
        return None, cfg
    except COMPOSITION_ERRORS as err:
        return describe(err), cfg
