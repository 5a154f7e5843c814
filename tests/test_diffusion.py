"""Specification of GLIDE's diffusion arithmetic and sampling loops.

Parity with the official implementation's recorded numbers, plus closed-form checks from the DDPM/DDIM papers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from harness.glide.diffusion import (
    Schedule,
    betas_for_schedule,
    ddim_step,
    p_mean_variance,
    p_sample_step,
    space_timesteps,
)
from harness.glide.first_order import (
    noise_from_generators,
    noise_from_list,
    randn_from_generators,
    sample_ancestral,
    sample_ddim,
)

NOISE_SCHEDULES = ("squaredcos_cap_v2", "linear")
RESPACINGS = ("full", "100", "50", "27", "fast27", "ddim25", "10,10,3,2,2", "250")
CASES = [(name, respacing) for name in NOISE_SCHEDULES for respacing in RESPACINGS]
CASE_IDS = [f"{name}-{respacing}" for name, respacing in CASES]
STEP_TOLERANCE = 1e-5
SCHEDULE_TOLERANCE = 1e-12

# The upsampler's fast27 steps: "10,10,3,2,2" over 1000 steps with 999 replaced by 997.
FAST27_TIMESTEPS = [0, 22, 44, 66, 88, 111, 133, 155, 177, 199, 200, 222, 244, 266, 288, 311, 333, 355,
                    377, 399, 400, 500, 599, 600, 799, 800, 997]  # fmt: skip


# ---------------------------------------------------------------- reference data


@pytest.fixture(scope="module")
def reference_tables(reference_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(reference_dir / "diffusion.safetensors")


@pytest.fixture(scope="module")
def reference_meta(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "diffusion.json").read_text())


def _max_error(actual: torch.Tensor | np.ndarray, expected: torch.Tensor) -> float:
    return float((torch.tensor(np.asarray(actual)).to(expected.dtype) - expected).abs().max())


def test_reference_holds_exactly_the_tested_cases(reference_meta, reference_tables):
    keys = {f"{name}.{respacing}" for name, respacing in CASES}
    assert set(reference_meta) == keys
    respaced_betas = {key for key in reference_tables if key.endswith(".betas") and key.count(".") > 1}
    assert {key.removesuffix(".betas") for key in respaced_betas} == keys
    assert {key.split(".step.")[0] for key in reference_tables if ".step." in key} == keys


@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_timestep_map_matches_reference(reference_meta, name, respacing):
    expected = reference_meta[f"{name}.{respacing}"]["timestep_map"]
    assert Schedule.create(name, 1000, respacing).timestep_map.tolist() == expected
    assert space_timesteps(1000, respacing) == expected


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_base_betas_match_reference(reference_tables, name):
    betas = betas_for_schedule(name, 1000)
    assert betas.dtype == np.float64
    assert _max_error(betas, reference_tables[f"{name}.betas"]) <= SCHEDULE_TOLERANCE


@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_respaced_betas_match_reference(reference_tables, name, respacing):
    sched = Schedule.create(name, 1000, respacing)
    assert sched.betas.dtype == np.float64
    assert _max_error(sched.betas, reference_tables[f"{name}.{respacing}.betas"]) <= SCHEDULE_TOLERANCE


@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_clipped_posterior_log_variance_matches_reference(reference_tables, name, respacing):
    sched = Schedule.create(name, 1000, respacing)
    expected = reference_tables[f"{name}.{respacing}.posterior_log_variance_clipped"]
    assert _max_error(sched.posterior_log_variance_clipped, expected) <= SCHEDULE_TOLERANCE


def _step_inputs(tables: dict[str, torch.Tensor], name: str, respacing: str):
    prefix = f"{name}.{respacing}.step."
    return (
        Schedule.create(name, 1000, respacing),
        tables[prefix + "model_output"],
        tables[prefix + "x"],
        tables[prefix + "t"],
        tables[prefix + "noise"],
        prefix,
    )


@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_posterior_mean_variance_and_xstart_match_reference(reference_tables, name, respacing):
    sched, model_output, x, index, _, prefix = _step_inputs(reference_tables, name, respacing)
    mean, log_variance, pred_xstart = p_mean_variance(sched, model_output, x, index)
    assert mean.dtype == log_variance.dtype == pred_xstart.dtype == torch.float32
    assert _max_error(mean, reference_tables[prefix + "mean"]) <= STEP_TOLERANCE
    assert _max_error(log_variance, reference_tables[prefix + "log_variance"]) <= STEP_TOLERANCE
    assert _max_error(pred_xstart, reference_tables[prefix + "pred_xstart"]) <= STEP_TOLERANCE


@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_ancestral_step_matches_reference(reference_tables, name, respacing):
    sched, model_output, x, index, noise, prefix = _step_inputs(reference_tables, name, respacing)
    sample = p_sample_step(sched, model_output, x, index, noise)
    assert _max_error(sample, reference_tables[prefix + "p_sample"]) <= STEP_TOLERANCE


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize(("name", "respacing"), CASES, ids=CASE_IDS)
def test_ddim_step_matches_reference(reference_tables, name, respacing, eta):
    sched, model_output, x, index, noise, prefix = _step_inputs(reference_tables, name, respacing)
    sample = ddim_step(sched, model_output, x, index, eta, noise)
    assert _max_error(sample, reference_tables[prefix + f"ddim_eta{eta:g}"]) <= STEP_TOLERANCE


# ---------------------------------------------------------------- respacing strings


@pytest.mark.parametrize("respacing", ["", "full"])
def test_empty_or_full_respacing_keeps_every_step(respacing):
    assert space_timesteps(1000, respacing) == list(range(1000))


def test_ddim_respacing_keeps_every_stride_th_step():
    assert space_timesteps(1000, "ddim25") == list(range(0, 1000, 40))


def test_ddim_respacing_takes_the_smallest_stride_with_that_many_steps():
    # 1000 / 7 is not an integer: stride 143 gives 0, 143, ..., 858 (7 steps); 142 would give 8.
    assert space_timesteps(1000, "ddim7") == [143 * k for k in range(7)]


def test_fast27_replaces_the_noisiest_step_by_the_third_noisiest():
    assert space_timesteps(1000, "fast27") == FAST27_TIMESTEPS


@pytest.mark.parametrize(
    "respacing",
    ["abc", "0", "2000", "ddim0", "ddim", "ddim2000", "10,,3", "-5", "1.5", "fast28", "100,x"],
)
def test_invalid_respacing_raises_one_line_naming_it_and_the_allowed_forms(respacing):
    with pytest.raises(ValueError) as excinfo:
        space_timesteps(1000, respacing)
    message = str(excinfo.value)
    assert repr(respacing) in message
    assert "allowed" in message and "ddimN" in message and "fast27" in message
    assert "\n" not in message


@pytest.mark.parametrize("respacing", ["1", "1,0", "ddim1"])
def test_a_respacing_that_keeps_one_step_is_refused_naming_it(respacing):
    with pytest.raises(ValueError) as excinfo:
        space_timesteps(1000, respacing)
    assert repr(respacing) in str(excinfo.value) and "\n" not in str(excinfo.value)


# Every count form with 1..60 steps, a few section lists and the named forms: whatever the check accepts, the
# schedule builds with finite tables and one step of each loop runs (one-step respacings failed there before).
ACCEPTED_CANDIDATES = [str(n) for n in range(1, 61)] + [f"ddim{n}" for n in range(1, 61)]
ACCEPTED_CANDIDATES += ["1,1", "2,1", "1,1,1", "10,10,3,2,2", "fast27", "full", "500", "1000"]


def _accepted(respacing: str) -> bool:
    try:
        space_timesteps(1000, respacing)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_every_accepted_respacing_builds_a_schedule_both_loops_can_step_through(name):
    accepted = [r for r in ACCEPTED_CANDIDATES if _accepted(r)]
    assert "1" not in accepted and {"2", "1,1", "fast27", "ddim2"} <= set(accepted)
    x = torch.zeros(1, 3, 2, 2)
    out = torch.zeros(1, 6, 2, 2)
    for respacing in accepted:
        sched = Schedule.create(name, 1000, respacing)
        tables = [sched.log_betas, sched.posterior_log_variance_clipped, sched.sqrt_recipm1_alphas_cumprod]
        assert all(np.isfinite(table).all() for table in tables), respacing
        for i in (sched.num_steps - 1, 0):
            index = torch.tensor([i])
            assert torch.isfinite(p_sample_step(sched, out, x, index, torch.ones_like(x))).all(), respacing
            assert torch.isfinite(ddim_step(sched, out, x, index, 0.0, None)).all(), respacing


def test_respacing_with_more_steps_than_a_section_holds_is_rejected():
    with pytest.raises(ValueError, match="'fast27'"):
        space_timesteps(20, "fast27")


def test_unknown_noise_schedule_is_rejected_with_the_allowed_names():
    with pytest.raises(ValueError, match="'cosine'.*(linear.*squaredcos_cap_v2|squaredcos_cap_v2.*linear)"):
        Schedule.create("cosine", 1000, "100")


# ---------------------------------------------------------------- closed forms


def _cosine_alpha_bar(t: float) -> float:
    """Improved DDPM eq. 17 before normalisation: f(t) = cos^2((t + s) / (1 + s) * pi / 2), s = 0.008."""
    return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


def _alphas_cumprod_closed_form(name: str, num_steps: int = 1000) -> np.ndarray:
    if name == "linear":
        return np.cumprod(1 - np.linspace(1e-4, 0.02, num_steps))
    betas = [
        min(1 - _cosine_alpha_bar((i + 1) / num_steps) / _cosine_alpha_bar(i / num_steps), 0.999)
        for i in range(num_steps)
    ]
    return np.cumprod(1 - np.array(betas))


def test_cosine_alphas_cumprod_is_the_normalised_cos_squared_before_the_cap():
    alphas_cumprod = Schedule.create("squaredcos_cap_v2", 1000, "full").alphas_cumprod
    expected = [_cosine_alpha_bar((i + 1) / 1000) / _cosine_alpha_bar(0.0) for i in range(999)]
    np.testing.assert_allclose(alphas_cumprod[:999], expected, rtol=1e-12)


def test_cosine_betas_are_capped_at_0_999():
    betas = betas_for_schedule("squaredcos_cap_v2", 1000)
    assert 1 - _cosine_alpha_bar(1.0) / _cosine_alpha_bar(0.999) > 0.999
    assert betas[-1] == 0.999
    assert betas[:-1].max() < 0.999


@pytest.mark.parametrize(("num_steps", "first", "last"), [(1000, 1e-4, 0.02), (250, 4e-4, 0.08)])
def test_linear_betas_are_evenly_spaced_and_scaled_by_1000_over_steps(num_steps, first, last):
    betas = betas_for_schedule("linear", num_steps)
    assert betas.dtype == np.float64 and betas.shape == (num_steps,)
    np.testing.assert_allclose([betas[0], betas[-1]], [first, last], rtol=1e-12)
    np.testing.assert_allclose(np.diff(betas), (last - first) / (num_steps - 1), rtol=1e-9)


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_respacing_keeps_alpha_bar_of_the_kept_steps(name):
    sched = Schedule.create(name, 1000, "ddim25")
    expected = _alphas_cumprod_closed_form(name)[np.arange(0, 1000, 40)]
    np.testing.assert_allclose(sched.alphas_cumprod, expected, rtol=1e-12)
    np.testing.assert_allclose(np.cumprod(1 - sched.betas), expected, rtol=1e-12)


def _noised(x0: torch.Tensor, eps: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    return math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps


def _known_x0_and_eps(shape=(2, 3, 4, 4), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=generator, dtype=torch.float64) * 1.8 - 0.9
    return x0, torch.randn(shape, generator=generator, dtype=torch.float64)


def _with_variance(eps: torch.Tensor, v: float) -> torch.Tensor:
    return torch.cat([eps, torch.full_like(eps, v)], dim=1)


@pytest.mark.parametrize("i", [0, 1, 12, 24])
def test_ddim_eta0_step_with_true_eps_moves_along_the_forward_process(i):
    # DDIM eq. 12 with sigma = 0 maps sqrt(ab_t) x0 + sqrt(1 - ab_t) eps
    # to sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps.
    sched = Schedule.create("squaredcos_cap_v2", 1000, "ddim25")
    alpha_bar = _alphas_cumprod_closed_form("squaredcos_cap_v2")
    x0, eps = _known_x0_and_eps()
    index = torch.full((2,), i, dtype=torch.long)
    x_prev = ddim_step(sched, _with_variance(eps, 0.0), _noised(x0, eps, alpha_bar[40 * i]), index, 0.0, None)
    expected = x0 if i == 0 else _noised(x0, eps, alpha_bar[40 * (i - 1)])
    torch.testing.assert_close(x_prev, expected, rtol=0, atol=1e-10)


def test_ancestral_step_at_index_zero_returns_x0_without_noise():
    sched = Schedule.create("linear", 1000, "100")
    x0, eps = _known_x0_and_eps()
    x = _noised(x0, eps, float(_alphas_cumprod_closed_form("linear")[0]))
    huge_noise = torch.full_like(x0, 1e3)
    sample = p_sample_step(sched, _with_variance(eps, 0.0), x, torch.zeros(2, dtype=torch.long), huge_noise)
    torch.testing.assert_close(sample, x0, rtol=0, atol=1e-10)


def test_x0_prediction_is_clipped_to_unit_range_only_when_asked():
    sched = Schedule.create("linear", 1000, "100")
    x0 = torch.tensor([3.0, -2.5, 0.5], dtype=torch.float64).reshape(1, 3, 1, 1)
    eps = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64).reshape(1, 3, 1, 1)
    x = _noised(x0, eps, float(_alphas_cumprod_closed_form("linear")[sched.timestep_map[50]]))
    index = torch.tensor([50])
    _, _, clipped = p_mean_variance(sched, _with_variance(eps, 0.0), x, index)
    _, _, raw = p_mean_variance(sched, _with_variance(eps, 0.0), x, index, clip_denoised=False)
    torch.testing.assert_close(clipped.flatten(), torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(raw, x0, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("v", "frac"), [(1.0, 1.0), (-1.0, 0.0), (0.2, 0.6)])
def test_learned_variance_interpolates_log_beta_and_log_posterior_variance(v, frac):
    # Improved DDPM eq. 15 with DDPM eq. 7's posterior variance, for respaced betas 1 - ab_t / ab_prev.
    sched = Schedule.create("squaredcos_cap_v2", 1000, "ddim25")
    alpha_bar = _alphas_cumprod_closed_form("squaredcos_cap_v2")
    ab, ab_prev = alpha_bar[200], alpha_bar[160]
    beta = 1 - ab / ab_prev
    posterior_variance = beta * (1 - ab_prev) / (1 - ab)
    expected = frac * math.log(beta) + (1 - frac) * math.log(posterior_variance)
    x0, eps = _known_x0_and_eps()
    _, log_variance, _ = p_mean_variance(
        sched, _with_variance(eps, v), _noised(x0, eps, ab), torch.full((2,), 5, dtype=torch.long)
    )
    torch.testing.assert_close(log_variance, torch.full_like(x0, expected), rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_step_outputs_keep_the_dtype_of_x(dtype):
    sched = Schedule.create("linear", 1000, "fast27")
    x0, eps = _known_x0_and_eps()
    x = _noised(x0, eps, 0.5).to(dtype)
    index = torch.tensor([3, 20])
    model_output = _with_variance(eps, 0.1).to(dtype)
    outputs = [
        *p_mean_variance(sched, model_output, x, index),
        p_sample_step(sched, model_output, x, index, eps.to(dtype)),
        ddim_step(sched, model_output, x, index, 0.5, eps.to(dtype)),
    ]
    assert [out.dtype for out in outputs] == [dtype] * 5


# ---------------------------------------------------------------- sampling loops


class TrueEpsModel:
    """The exact eps of a fixed x0 at the ORIGINAL timestep t, with constant variance values v."""

    def __init__(self, x0: torch.Tensor, alpha_bar: np.ndarray, v: float = 0.0):
        self.x0, self.alpha_bar, self.v = x0, torch.from_numpy(alpha_bar), v
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.clone(), t.clone()))
        ab = self.alpha_bar[t].reshape(-1, 1, 1, 1)
        return _with_variance((x - ab.sqrt() * self.x0) / (1 - ab).sqrt(), self.v)


def test_ddim_loop_with_true_eps_returns_x0_and_feeds_original_timesteps():
    alpha_bar = _alphas_cumprod_closed_form("linear")
    x0, eps = _known_x0_and_eps()
    model = TrueEpsModel(x0, alpha_bar)
    sched = Schedule.create("linear", 1000, "fast27")
    sample = sample_ddim(model, _noised(x0, eps, alpha_bar[997]), sched, eta=0.0)
    torch.testing.assert_close(sample, x0, rtol=0, atol=1e-8)
    assert [t.tolist() for _, t in model.seen] == [[step, step] for step in reversed(FAST27_TIMESTEPS)]


def test_ancestral_loop_applies_the_posterior_and_the_recorded_noise_in_order():
    # With the true eps, x0 is predicted exactly, so each step is q(x_prev | x_t, x0) (DDPM eq. 6-7)
    # plus exp(log_variance / 2) times that step's recorded noise.
    v, frac = 0.3, 0.65
    alpha_bar = _alphas_cumprod_closed_form("squaredcos_cap_v2")
    timesteps = list(range(0, 1000, 100))
    x0, x_T = _known_x0_and_eps(seed=1)
    noise = [torch.randn(x0.shape, generator=torch.Generator().manual_seed(10 + k), dtype=torch.float64)
             for k in range(len(timesteps))]  # fmt: skip
    model = TrueEpsModel(x0, alpha_bar, v)
    sched = Schedule.create("squaredcos_cap_v2", 1000, "ddim10")
    sample = sample_ancestral(model, x_T, sched, noise_from_list(noise))

    abs_prev = [1.0, *alpha_bar[timesteps[:-1]]]
    posterior_variances = [
        (1 - ab / ab_prev) * (1 - ab_prev) / (1 - ab)
        for ab, ab_prev in zip(alpha_bar[timesteps], abs_prev, strict=True)
    ]
    x, steps_seen = x_T, [*model.seen[1:], (sample, None)]
    for k, i in enumerate(reversed(range(len(timesteps)))):
        ab, ab_prev = alpha_bar[timesteps[i]], abs_prev[i]
        beta = 1 - ab / ab_prev
        mean = math.sqrt(ab_prev) * beta / (1 - ab) * x0 + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x
        log_variance = frac * math.log(beta) + (1 - frac) * math.log(posterior_variances[max(i, 1)])
        x = mean + (math.exp(0.5 * log_variance) * noise[k] if i > 0 else 0.0)
        torch.testing.assert_close(steps_seen[k][0], x, rtol=0, atol=1e-8)
    torch.testing.assert_close(sample, x0, rtol=0, atol=1e-8)


@pytest.mark.parametrize("loop", ["ancestral", "ddim"])
def test_loops_report_progress_after_every_step(loop):
    sched = Schedule.create("linear", 1000, "ddim25")
    x0, x_T = _known_x0_and_eps()
    model = TrueEpsModel(x0, _alphas_cumprod_closed_form("linear"))
    calls: list[tuple[int, int]] = []
    if loop == "ancestral":
        noise_fn = noise_from_list([torch.zeros_like(x0)] * 25)
        sample_ancestral(model, x_T, sched, noise_fn, progress=lambda *a: calls.append(a))
    else:
        sample_ddim(model, x_T, sched, progress=lambda *a: calls.append(a))
    assert calls == [(k, 25) for k in range(1, 26)]


def test_ddim_with_positive_eta_and_no_noise_is_rejected():
    sched = Schedule.create("linear", 1000, "ddim25")
    x0, x_T = _known_x0_and_eps()
    with pytest.raises(ValueError, match="eta 0.5"):
        sample_ddim(TrueEpsModel(x0, _alphas_cumprod_closed_form("linear")), x_T, sched, eta=0.5)


# ---------------------------------------------------------------- noise sources


def _draws(seed: int, count: int, shape=(3, 2, 2)) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for _ in range(count)]


def test_noise_rows_follow_their_own_generator_regardless_of_batch_composition():
    like_three, like_two = torch.empty(3, 3, 2, 2), torch.empty(2, 3, 2, 2)
    batch_a = noise_from_generators([torch.Generator().manual_seed(s) for s in (7, 8, 9)])
    batch_b = noise_from_generators([torch.Generator().manual_seed(s) for s in (9, 7)])
    a = [batch_a(step, like_three) for step in range(2)]
    b = [batch_b(step, like_two) for step in range(2)]
    expected = {seed: _draws(seed, 2) for seed in (7, 8, 9)}
    for step in range(2):
        torch.testing.assert_close(a[step][0], expected[7][step], rtol=0, atol=0)
        torch.testing.assert_close(a[step][2], expected[9][step], rtol=0, atol=0)
        torch.testing.assert_close(b[step][0], expected[9][step], rtol=0, atol=0)
        torch.testing.assert_close(b[step][1], expected[7][step], rtol=0, atol=0)


def test_randn_from_generators_draws_row_i_from_generator_i():
    rows = randn_from_generators([torch.Generator().manual_seed(s) for s in (4, 5)], (3, 2, 2))
    torch.testing.assert_close(rows, torch.stack([_draws(4, 1)[0], _draws(5, 1)[0]]), rtol=0, atol=0)


def test_noise_from_generators_rejects_a_batch_of_another_size():
    noise_fn = noise_from_generators([torch.Generator().manual_seed(0)])
    with pytest.raises(ValueError, match="2 rows but 1 generators"):
        noise_fn(0, torch.empty(2, 3, 2, 2))


def test_noise_from_list_replays_step_k_and_rejects_missing_steps():
    recorded = _draws(3, 2, shape=(1, 3, 2, 2))
    noise_fn = noise_from_list(recorded)
    like = torch.empty(1, 3, 2, 2)
    torch.testing.assert_close(noise_fn(1, like), recorded[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="loop step 2"):
        noise_fn(2, like)
