"""The probe's gate: chance among the classes the controls name, the class of interest's own recall, and the
rate at which a chance-level probe passes a run or a whole sweep, by seeded simulation against exact binomials."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from harness.analysis.findings import NO_VERDICT_UNVALIDATED, findings
from harness.config.schema import FindingConfig
from harness.scorers.probe import Validation
from harness.scorers.taxonomy import load_taxonomy

CONF = Path(__file__).resolve().parents[2] / "conf"
# The religious_building taxonomy: seven classes the bias suite's controls name, and `other`, which none names.
CLASSES = load_taxonomy("religious_building", "test").class_ids
NAMED = 7
CHURCH = 0
SEEDS = 16  # samples per control prompt in experiments/bias_vs_guidance
SWEEP = (1.0, 2.0, 3.0, 5.0, 10.0)
LEVEL = 0.95
RUNS = 4000


def controls() -> np.ndarray:
    """Expected classes of one run of the bias suite's controls: each named class SEEDS times."""
    return np.repeat(np.arange(NAMED), SEEDS)


def clopper_pearson_low(k: int, n: int) -> float:
    return sps.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="exact").low


def exact_pass_probability(p_correct: float) -> float:
    """P(a run passes) when each control is right with probability p_correct, independently of its class.

    The church controls' hits C ~ Bin(16, p) and the others' O ~ Bin(96, p) are independent; a run passes when
    the lower bounds of (C + O) / 112 and of C / 16 are both above 1/7.
    """
    n_church, n_other = SEEDS, SEEDS * (NAMED - 1)
    chance = 1.0 / NAMED
    total_ok = np.array([clopper_pearson_low(k, n_church + n_other) > chance for k in range(n_church + n_other + 1)])
    church_ok = np.array([clopper_pearson_low(c, n_church) > chance for c in range(n_church + 1)])
    p_church = sps.binom.pmf(np.arange(n_church + 1), n_church, p_correct)
    p_other = sps.binom.pmf(np.arange(n_other + 1), n_other, p_correct)
    joint = np.outer(p_church, p_other)
    passes = church_ok[:, None] & total_ok[np.add.outer(np.arange(n_church + 1), np.arange(n_other + 1))]
    return float(joint[passes].sum())


def simulate(p_correct: float, seed: int, runs: int = RUNS) -> list[Validation]:
    """Runs of a probe that is right with probability p_correct and otherwise guesses uniformly among the
    other named classes; p_correct = 1/7 is a uniform guess over the named classes."""
    rng = np.random.default_rng(seed)
    expected = controls()
    out = []
    for _ in range(runs):
        right = rng.random(expected.size) < p_correct
        shift = rng.integers(1, NAMED, size=expected.size)  # a uniformly chosen other named class
        predicted = np.where(right, expected, (expected + shift) % NAMED)
        out.append(Validation.of(expected, predicted, CLASSES, LEVEL, CHURCH))
    return out


def sweep_passes(validations: list[Validation]) -> bool:
    """Whether a sweep's finding on the church share is read at all: the findings' own rule over its runs."""
    runs = [
        {
            "metrics": {
                **v.metrics("bias"),
                "bias/interest_share": 0.5,
                "bias/interest_share_ci_low": 0.4,
                "bias/interest_share_ci_high": 0.6,
            },
            "overrides": {"sampler.guidance_scale": str(scale)},
        }
        for v, scale in zip(validations, SWEEP, strict=True)
    ]
    church = FindingConfig(metric="bias/interest_share", compare="sampler.guidance_scale", expect="increase")
    (row,) = findings(church, "", samples=pd.DataFrame(), runs=runs, random_weights=False)
    return row.verdict != NO_VERDICT_UNVALIDATED


def test_the_bias_suite_controls_name_every_class_but_other():
    suite = yaml.safe_load((CONF / "suite" / "bias.yaml").read_text())
    named = {p["expected_class"] for p in suite["prompts"] if p.get("expected_class")}
    assert sorted(named) == sorted(CLASSES[:NAMED]) and CLASSES[NAMED:] == ("other",)
    assert suite["probe"]["class_of_interest"] == CLASSES[CHURCH]


def test_chance_is_one_over_the_classes_the_controls_name():
    expected = controls()
    validation = Validation.of(expected, expected, CLASSES, LEVEL, CHURCH)
    metrics = validation.metrics("bias")
    assert validation.chance == pytest.approx(1 / 7)  # not 1/8: no control names `other`
    assert metrics["bias/chance"] == pytest.approx(1 / 7) and metrics["bias/probe_classes"] == 7


def test_accuracy_and_interest_recall_intervals_are_scipy_clopper_pearson():
    expected = controls()
    predicted = expected.copy()
    predicted[:9] = 1  # 9 of the 16 churches read as mosques
    predicted[40:60] = 7  # 20 more controls read as `other`
    metrics = Validation.of(expected, predicted, CLASSES, LEVEL, CHURCH).metrics("bias")
    accuracy = sps.binomtest(112 - 29, 112).proportion_ci(confidence_level=LEVEL, method="exact")
    recall = sps.binomtest(7, 16).proportion_ci(confidence_level=LEVEL, method="exact")
    assert metrics["bias/probe_accuracy"] == pytest.approx(83 / 112)
    assert metrics["bias/probe_accuracy_ci_low"] == pytest.approx(accuracy.low, abs=1e-12)
    assert metrics["bias/probe_accuracy_ci_high"] == pytest.approx(accuracy.high, abs=1e-12)
    assert metrics["bias/probe_interest_n"] == 16 and metrics["bias/probe_interest_recall"] == pytest.approx(7 / 16)
    assert metrics["bias/probe_interest_recall_ci_low"] == pytest.approx(recall.low, abs=1e-12)
    assert metrics["bias/probe_interest_recall_ci_high"] == pytest.approx(recall.high, abs=1e-12)


def test_a_probe_that_never_recognises_the_class_of_interest_fails_with_one_line_saying_so():
    expected = controls()
    predicted = np.where(expected == CHURCH, 1, expected)  # every church read as a mosque, all else right
    validation = Validation.of(expected, predicted, CLASSES, LEVEL, CHURCH)
    assert validation.ci_low > validation.chance  # 96/112 correct: accurate overall
    assert not validation.validated
    note = validation.note(LEVEL, "tail")
    assert "\n" not in note and note.startswith("UNVALIDATED: the class of interest church is recognised on 0/16")
    assert "probe accuracy" not in note  # only the failed condition is named
    assert note.endswith("; tail")


def test_a_run_without_a_control_of_the_class_of_interest_fails():
    expected = controls()[SEEDS:]  # no church control
    validation = Validation.of(expected, expected, CLASSES, LEVEL, CHURCH)
    assert validation.accurate and not validation.validated
    assert "no control prompt names the class of interest church" in validation.note(LEVEL, "tail")


def test_without_a_class_of_interest_accuracy_alone_decides():
    expected = controls()[SEEDS:]
    validation = Validation.of(expected, expected, CLASSES, LEVEL)
    assert validation.validated and "bias/probe_interest_recall" not in validation.metrics("bias")


def test_controls_of_one_class_cannot_validate_a_probe():
    # A probe that answers `church` to everything is right on church-only controls: chance is then 1.
    expected = np.zeros(50, dtype=np.int64)
    validation = Validation.of(expected, expected, CLASSES, LEVEL, CHURCH)
    assert validation.chance == 1.0 and not validation.validated


def test_no_controls_is_unvalidated_with_no_chance():
    validation = Validation.of(np.array([], dtype=np.int64), np.array([], dtype=np.int64), CLASSES, LEVEL, CHURCH)
    assert not validation.validated and validation.metrics("bias")["bias/chance"] is None
    assert validation.note(LEVEL, "tail").startswith("UNVALIDATED: the run holds no control prompts")


def test_a_chance_level_probe_passes_a_run_at_most_5_percent_of_the_time():
    passed = np.array([v.validated for v in simulate(1 / NAMED, seed=11)])
    exact = exact_pass_probability(1 / NAMED)
    # Monte-Carlo error of a rate over 4,000 runs: sd <= sqrt(p (1 - p) / 4000), tested at 4 sd (+ 1 run).
    tolerance = 4 * np.sqrt(exact * (1 - exact) / RUNS) + 1 / RUNS
    assert exact <= 0.05 and passed.mean() <= 0.05
    assert passed.mean() == pytest.approx(exact, abs=tolerance)


def test_the_old_chance_of_one_over_k_would_pass_a_chance_probe_more_often():
    # The power of the simulation: 1/8 as chance (counting `other`) and no recall condition pass 7% of runs.
    expected = controls()
    rng = np.random.default_rng(12)
    lows = np.array([clopper_pearson_low(k, expected.size) for k in range(expected.size + 1)])
    hits = [int(np.sum(rng.integers(0, NAMED, size=expected.size) == expected)) for _ in range(RUNS)]
    old_rate = np.mean(lows[hits] > 1 / 8)
    # Exactly P(Bin(112, 1/7) >= the first k whose bound clears 1/8) = 0.073; 4 sd of MC error is 0.016.
    assert old_rate > 0.05


def test_a_chance_level_probe_passes_a_sweep_at_most_5_percent_of_the_time():
    validations = simulate(1 / NAMED, seed=13, runs=1000)
    sweeps = [validations[i : i + len(SWEEP)] for i in range(0, len(validations), len(SWEEP))]
    passed = np.array([sweep_passes(s) for s in sweeps])
    # Every run of the sweep must pass: at most the single-run rate to the power 5 (about 0 here).
    assert passed.mean() <= 0.05


def test_a_good_probe_passes_runs_and_sweeps_almost_always():
    validations = simulate(0.7, seed=14, runs=1000)
    passed = np.array([v.validated for v in validations])
    exact = exact_pass_probability(0.7)
    assert exact > 0.99
    assert passed.mean() == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 1000) + 1 / 1000)
    sweeps = [validations[i : i + len(SWEEP)] for i in range(0, 500, len(SWEEP))]
    assert np.mean([sweep_passes(s) for s in sweeps]) >= 0.95  # exact^5 > 0.95


def test_a_probe_blind_to_the_class_of_interest_never_passes():
    rng = np.random.default_rng(15)
    expected = controls()
    for _ in range(200):
        predicted = np.where(rng.random(expected.size) < 0.9, expected, rng.integers(0, NAMED, expected.size))
        predicted[expected == CHURCH] = rng.integers(1, len(CLASSES), size=SEEDS)  # anything but church
        assert not Validation.of(expected, predicted, CLASSES, LEVEL, CHURCH).validated
