"""The command's checks expand a sweep into its jobs as Hydra's basic sweeper does (the oracle here is that
sweeper's own split, which the harness itself does not import: it is private to Hydra)."""

from __future__ import annotations

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.config.compose import compose, first_values, sweep_points

COMMANDS = [
    ["+suite=couch", "model=tiny", "sampler.guidance_scale=1,3,5", "sampler.upsample_temp=0.99,1.0"],
    ["+experiment=bias_vs_guidance", "model=toy"],
    ["+experiment=sampler_fidelity", "model=tiny", "+fidelity_base=ancestral100,dpmpp_2m10"],
    ["+suite=couch", "sampler.seed=range(0,3)", "suite.description='a b'"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c)[:60])
def test_the_jobs_of_a_sweep_are_the_basic_sweepers(command):
    parsed = OverridesParser.create().parse_overrides(command)
    params = compose(first_values(parsed, command)).hydra.sweeper.params or {}
    grid = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + command)
    assert sweep_points(command, multirun=True) == BasicSweeper.split_arguments(grid, None)[0]
