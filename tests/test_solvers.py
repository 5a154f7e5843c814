"""Specification of the multistep ODE solvers (DPM-Solver++(2M), UniPC-bh2) on GLIDE's respaced schedules.

Against a Gaussian toy whose ODE is solved in closed form, a NumPy transcription of the papers, and diffusers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy import integrate

from harness.glide.diffusion import Schedule, betas_for_schedule
from harness.glide.first_order import sample_ddim
from harness.glide.multistep import sample_dpmpp_2m, sample_unipc
from harness.glide.respacing import SOLVERS, check_solver_respacing

LOOPS = {"dpmpp_2m": sample_dpmpp_2m, "unipc": sample_unipc}
NOISE_SCHEDULES = ("squaredcos_cap_v2", "linear")
STEP_COUNTS = (20, 40, 80, 160)


# ---------------------------------------------------------------- the Gaussian toy


class GaussianToy:
    """Data x0 ~ N(mu, s^2) independently per element, noised as x_t = sqrt(ab) x0 + sqrt(1 - ab) eps.

    x_t is Gaussian with mean sqrt(ab) mu and variance v(ab) = ab s^2 + 1 - ab, and Cov(eps, x_t) = sqrt(1 - ab),
    so the optimal (MMSE) predictions are linear regressions on x_t:
        eps_hat(x_t) = sqrt(1 - ab) (x_t - sqrt(ab) mu) / v(ab),
        x0_hat(x_t)  = mu + sqrt(ab) s^2 (x_t - sqrt(ab) mu) / v(ab)   (= (x_t - sqrt(1 - ab) eps_hat) / sqrt(ab)).
    With the exact score the probability-flow ODE transports every marginal onto the next one by a monotone map,
    which for Gaussians is the quantile map z = (x - sqrt(ab) mu) / sqrt(v(ab)) = const:
        x(ab_1) = sqrt(ab_1) mu + sqrt(v(ab_1)) (x(ab_0) - sqrt(ab_0) mu) / sqrt(v(ab_0)).
    The solvers end with the x0 prediction at the last kept step (the step to alpha_bar = 1 keeps only x0), so the
    exact answer is x0_hat of the exact ODE solution at that step's alpha_bar: the same endpoint, exactly.

    `table[t]` is alpha_bar at the ORIGINAL timestep t that the model is given.
    """

    def __init__(self, table: np.ndarray, shape=(2, 3, 2, 2), seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.from_numpy(np.array(table, dtype=np.float64))
        self.mu = torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5
        self.s = 0.3 + 0.8 * torch.rand(shape, generator=generator, dtype=torch.float64)
        self.x_T = torch.randn(shape, generator=generator, dtype=torch.float64)

    def variance(self, ab: float) -> torch.Tensor:
        return ab * self.s**2 + 1 - ab

    def x0_hat(self, x: torch.Tensor, ab: float) -> torch.Tensor:
        return self.mu + math.sqrt(ab) * self.s**2 * (x - math.sqrt(ab) * self.mu) / self.variance(ab)

    def ode_solution(self, ab_from: float, ab_to: float) -> torch.Tensor:
        z = (self.x_T - math.sqrt(ab_from) * self.mu) / self.variance(ab_from).sqrt()
        return math.sqrt(ab_to) * self.mu + self.variance(ab_to).sqrt() * z

    def exact_output(self, sched: Schedule) -> torch.Tensor:
        ab_last, ab_first = float(sched.alphas_cumprod[0]), float(sched.alphas_cumprod[-1])
        return self.x0_hat(self.ode_solution(ab_first, ab_last), ab_last)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.table[t].reshape(-1, *([1] * (x.ndim - 1)))
        eps = (1 - ab).sqrt() * (x - ab.sqrt() * self.mu) / (ab * self.s**2 + 1 - ab)
        return torch.cat([eps, torch.full_like(eps, 0.5)], dim=1)


def _glide_toy(name: str) -> GaussianToy:
    return GaussianToy(Schedule.create(name, 1000, "full").alphas_cumprod)


def _log_snr_uniform_schedule(num_steps: int, lam_max: float = 4.0, lam_min: float = -6.0) -> Schedule:
    """A path whose kept steps are evenly spaced in log-SNR, so every step shrinks as the count doubles.

    Only timestep_map and alphas_cumprod describe a path for the solvers; every other table is NaN, so a solver
    that read one would return NaN.
    """
    lam = np.linspace(lam_max, lam_min, num_steps)
    nan = np.full(num_steps, np.nan)
    tables = {f.name: nan for f in dataclasses.fields(Schedule) if f.type in ("np.ndarray", np.ndarray)}
    tables.update(timestep_map=np.arange(num_steps), alphas_cumprod=1.0 / (1.0 + np.exp(-2.0 * lam)))
    return Schedule(noise_schedule="log-SNR uniform", diffusion_steps=num_steps, respacing="full", **tables)


def _toy_errors(loop, schedules, toy_for, **kwargs) -> list[float]:
    errors = []
    for sched in schedules:
        toy = toy_for(sched)
        out = loop(toy, toy.x_T, sched, clip_denoised=False, **kwargs)
        errors.append(float((out - toy.exact_output(sched)).abs().max()))
    return errors


def _order(step_counts, errors) -> float:
    """Least-squares slope of -log(error) against log(step count): the measured convergence order."""
    return -float(np.polyfit(np.log(step_counts), np.log(errors), 1)[0])


def test_toy_exact_output_is_the_quantile_map_then_the_x0_prediction():
    # The quantile map solves the ODE: x(ab) stays on the z-quantile of N(sqrt(ab) mu, v(ab)), and on the way
    # eps_hat / x0_hat are consistent with x_t = sqrt(ab) x0_hat + sqrt(1 - ab) eps_hat.
    toy = _glide_toy("linear")
    x = toy.ode_solution(0.01, 0.9)
    z_from = (toy.x_T - 0.1 * toy.mu) / toy.variance(0.01).sqrt()
    z_to = (x - math.sqrt(0.9) * toy.mu) / toy.variance(0.9).sqrt()
    torch.testing.assert_close(z_to, z_from, rtol=0, atol=1e-14)
    t = torch.full((x.shape[0],), int(np.argmin(np.abs(toy.table.numpy() - 0.9))), dtype=torch.long)
    ab = float(toy.table[t[0]])
    eps = toy(x, t)[:, : x.shape[1]]
    torch.testing.assert_close(math.sqrt(ab) * toy.x0_hat(x, ab) + math.sqrt(1 - ab) * eps, x, rtol=0, atol=1e-14)


# ---------------------------------------------------------------- convergence against the exact ODE solution


@pytest.mark.parametrize(("solver", "lower_order_final", "expected"), [
    ("dpmpp_2m", False, 2.0), ("dpmpp_2m", True, 2.0), ("unipc", False, 3.0),
])  # fmt: skip
def test_solvers_reach_their_order_on_a_log_snr_uniform_path(solver, lower_order_final, expected):
    # 2M is second order; UniPC-2's corrector raises its predictor's order 2 to 3. A single first-order last
    # step adds a local O(h^2) error, which keeps 2M at order 2.
    schedules = [_log_snr_uniform_schedule(n) for n in STEP_COUNTS]
    errors = _toy_errors(
        LOOPS[solver], schedules, lambda s: GaussianToy(s.alphas_cumprod), lower_order_final=lower_order_final
    )
    assert _order(STEP_COUNTS, errors) == pytest.approx(expected, abs=0.15)
    assert errors[-1] < 1e-3


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_dpmpp_2m_is_second_order_on_glide_respacings(name):
    # GLIDE's '20'..'160' respacings over the real schedules, with a second-order last step.
    schedules = [Schedule.create(name, 1000, str(n)) for n in STEP_COUNTS]
    errors = _toy_errors(sample_dpmpp_2m, schedules, lambda _: _glide_toy(name), lower_order_final=False)
    assert 1.75 <= _order(STEP_COUNTS, errors) <= 2.25


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_unipc_is_at_least_second_order_and_beats_2m_on_glide_respacings(name):
    # On time-uniform grids the last log-SNR steps (into t = 0) do not shrink with the step count, which caps
    # the measured order near 2; UniPC's corrector still lowers the error at every count.
    schedules = [Schedule.create(name, 1000, str(n)) for n in STEP_COUNTS]
    errors = _toy_errors(sample_unipc, schedules, lambda _: _glide_toy(name), lower_order_final=False)
    errors_2m = _toy_errors(sample_dpmpp_2m, schedules, lambda _: _glide_toy(name), lower_order_final=False)
    assert _order(STEP_COUNTS, errors) >= 1.9
    assert all(e < e_2m for e, e_2m in zip(errors[1:], errors_2m[1:], strict=True))


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
@pytest.mark.parametrize("solver", SOLVERS)
def test_first_order_last_step_beats_second_order_and_ddim_at_few_steps(name, solver):
    step_counts = (10, 20, 40)
    schedules = [Schedule.create(name, 1000, str(n)) for n in step_counts]
    default = _toy_errors(LOOPS[solver], schedules, lambda _: _glide_toy(name))
    second_order_last = _toy_errors(LOOPS[solver], schedules, lambda _: _glide_toy(name), lower_order_final=False)
    ddim = _toy_errors(sample_ddim, schedules, lambda _: _glide_toy(name))
    for d, s, e in zip(default, second_order_last, ddim, strict=True):
        assert d < s and d < e


@pytest.mark.parametrize("solver", SOLVERS)
def test_full_respacing_is_close_to_exact(solver):
    sched = Schedule.create("squaredcos_cap_v2", 1000, "full")
    (error,) = _toy_errors(LOOPS[solver], [sched], lambda _: _glide_toy("squaredcos_cap_v2"))
    assert error < 1e-4


# ---------------------------------------------------------------- the papers' formulas, transcribed in NumPy


def _np_model(x: np.ndarray, t: int) -> np.ndarray:
    eps = np.tanh(0.8 * x) + 0.3 * np.sin(x * (1 + t / 500.0))
    return np.concatenate([eps, np.cos(x)], axis=1)


def _torch_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    scale = (1 + t.to(x.dtype) / 500.0).reshape(-1, *([1] * (x.ndim - 1)))
    eps = torch.tanh(0.8 * x) + 0.3 * torch.sin(x * scale)
    return torch.cat([eps, torch.cos(x)], dim=1)


def _phi_by_quadrature(k: int, z: float) -> float:
    # phi_k(z) = int_0^1 e^{(1-u) z} u^{k-1} / (k-1)! du (the exponential-integrator functions of both papers).
    value, _ = integrate.quad(lambda u: math.exp((1 - u) * z) * u ** (k - 1) / math.factorial(k - 1), 0, 1)
    return value


def _np_threshold(x0: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return x0
    if mode == "static":
        return np.clip(x0, -1, 1)
    s = np.maximum(np.quantile(np.abs(x0).reshape(len(x0), -1), 0.9, axis=1), 1.0).reshape(-1, 1, 1, 1)
    return np.clip(x0, -s, s) / s


def _reference_solve(solver: str, sched: Schedule, x_T: np.ndarray, lower_order_final: bool, mode: str):
    """DPM-Solver++(2M) (Lu et al. 2022) and UniPC-2 bh2 (Zhao et al. 2023) in their own notation, float64.

    Time runs t_0 (noisiest kept step) ... t_{M-1} (t = 0); h_i = lambda_{t_i} - lambda_{t_{i-1}}. The step from
    t_{M-1} to alpha_bar = 1 returns the data prediction there.
    """
    ab = np.asarray(sched.alphas_cumprod)[::-1]
    ts = np.asarray(sched.timestep_map)[::-1]
    alpha, sigma, lam = np.sqrt(ab), np.sqrt(1 - ab), 0.5 * np.log(ab / (1 - ab))
    channels = x_T.shape[1]

    def data_prediction(x, i):
        eps = _np_model(x, int(ts[i]))[:, :channels]
        return _np_threshold((x - sigma[i] * eps) / alpha[i], mode)

    m, x, x_before = {}, x_T, None
    last = len(ts) - 1
    for i in range(last):
        m[i] = data_prediction(x, i)
        if solver == "unipc" and i >= 1:
            # UniC-p: rks = (lambda_k - lambda_s) / h for the earlier point (if any) and 1 for the new one,
            # B_h = expm1(hh), hh = -h; R rows rks^(n-1), b_n = hh phi_{n+1}(hh) n! / B_h; rho = 1/2 for p = 1.
            h = lam[i] - lam[i - 1]
            hh = -h
            b_h = math.expm1(hh)
            rks = ([(lam[i - 2] - lam[i - 1]) / h] if i >= 2 else []) + [1.0]
            diffs = ([(m[i - 2] - m[i - 1]) / rks[0]] if i >= 2 else []) + [m[i] - m[i - 1]]
            if len(rks) == 1:
                rhos = np.array([0.5])
            else:
                big_r = np.array([[rk ** (n - 1) for rk in rks] for n in (1, 2)])
                b = np.array([hh * _phi_by_quadrature(n + 1, hh) * math.factorial(n) / b_h for n in (1, 2)])
                rhos = np.linalg.solve(big_r, b)
            x = (
                sigma[i] / sigma[i - 1] * x_before
                - alpha[i] * b_h * m[i - 1]
                - alpha[i] * b_h * sum(rho * d for rho, d in zip(rhos, diffs, strict=True))
            )
        h = lam[i + 1] - lam[i]
        multistep = i >= 1 and not (lower_order_final and i + 1 == last)
        x_before = x
        if solver == "dpmpp_2m":
            if multistep:
                r = (lam[i] - lam[i - 1]) / h
                d = (1 + 1 / (2 * r)) * m[i] - 1 / (2 * r) * m[i - 1]
            else:
                d = m[i]
            x = sigma[i + 1] / sigma[i] * x - alpha[i + 1] * (math.exp(-h) - 1) * d
        else:
            # UniP-2 with rho_p = 1/2 and B_h = expm1(-h).
            b_h = math.expm1(-h)
            x = sigma[i + 1] / sigma[i] * x - alpha[i + 1] * b_h * m[i]
            if multistep:
                r1 = (lam[i - 1] - lam[i]) / h
                x = x - alpha[i + 1] * b_h * 0.5 * (m[i - 1] - m[i]) / r1
    return data_prediction(x, last)


@pytest.mark.parametrize("mode", ["none", "static", "dynamic"])
@pytest.mark.parametrize("lower_order_final", [True, False])
@pytest.mark.parametrize(("solver", "name", "respacing"), [
    ("dpmpp_2m", "squaredcos_cap_v2", "5"), ("dpmpp_2m", "linear", "ddim4"),
    ("unipc", "squaredcos_cap_v2", "6"), ("unipc", "linear", "ddim5"),
])  # fmt: skip
def test_loops_match_a_numpy_transcription_of_the_papers(solver, name, respacing, lower_order_final, mode):
    sched = Schedule.create(name, 1000, respacing)
    x_T = torch.randn((2, 3, 4, 4), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    kwargs = {"clip_denoised": mode != "none", "dynamic_threshold": 0.9 if mode == "dynamic" else None}
    out = LOOPS[solver](_torch_model, x_T, sched, lower_order_final=lower_order_final, **kwargs)
    expected = _reference_solve(solver, sched, x_T.numpy(), lower_order_final, mode)
    # Unclipped x0 reaches 1e4 at the cosine schedule's noisiest step, hence the relative part.
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-11)
    if mode == "static":
        unclipped = LOOPS[solver](_torch_model, x_T, sched, lower_order_final=lower_order_final, clip_denoised=False)
        assert not torch.allclose(out, unclipped), "clipping never acted: the test does not exercise it"


@pytest.mark.parametrize(("solver", "respacing"), [("dpmpp_2m", "2"), ("dpmpp_2m", "3"), ("unipc", "2")])
@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_all_first_order_runs_equal_ddim(solver, respacing, name):
    # First-order DPM-Solver++ is DDIM (eta 0): alpha_t x0 + sigma_t (x_s - alpha_s x0) / sigma_s, clipped x0 and
    # all. With 2 kept steps every solver step is first order, with 3 also 2M's (first step, then into t = 0).
    sched = Schedule.create(name, 1000, respacing)
    x_T = torch.randn((2, 3, 4, 4), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = sample_ddim(_torch_model, x_T, sched, eta=0.0)
    torch.testing.assert_close(LOOPS[solver](_torch_model, x_T, sched), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- loop contract


class RecordingModel:
    def __init__(self):
        self.timesteps: list[list[int]] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.timesteps.append(t.tolist())
        return _torch_model(x, t)


@pytest.mark.parametrize("solver", SOLVERS)
def test_model_sees_each_original_timestep_once_and_progress_counts_evaluations(solver):
    sched = Schedule.create("linear", 1000, "ddim25")
    model, calls = RecordingModel(), []
    x_T = torch.randn((2, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    LOOPS[solver](model, x_T, sched, progress=lambda *a: calls.append(a))
    assert model.timesteps == [[t, t] for t in range(960, -1, -40)]
    assert calls == [(k, 25) for k in range(1, 26)]


@pytest.mark.parametrize("dynamic_threshold", [None, 0.95])
@pytest.mark.parametrize("solver", SOLVERS)
def test_each_row_equals_running_that_row_alone(solver, dynamic_threshold):
    sched = Schedule.create("squaredcos_cap_v2", 1000, "20")
    x_T = torch.randn((3, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    loop = LOOPS[solver]
    batch = loop(_torch_model, x_T, sched, dynamic_threshold=dynamic_threshold)
    for row in range(3):
        alone = loop(_torch_model, x_T[row : row + 1], sched, dynamic_threshold=dynamic_threshold)
        assert torch.equal(batch[row : row + 1], alone)


@pytest.mark.parametrize("dynamic_threshold", [None, 0.995])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("solver", SOLVERS)
def test_output_keeps_the_dtype_of_x_T(solver, dtype, dynamic_threshold):
    sched = Schedule.create("linear", 1000, "10")
    x_T = torch.randn((1, 3, 4, 4), generator=torch.Generator().manual_seed(0)).to(dtype)
    out = LOOPS[solver](_torch_model, x_T, sched, dynamic_threshold=dynamic_threshold)
    assert out.dtype == dtype and bool(out.abs().max() <= 1)


# ---------------------------------------------------------------- respacings and errors


@pytest.mark.parametrize("respacing", ["", "full", "2", "10", "27", "100", "250", "ddim10", "ddim25", "1,1,1,1"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_evenly_spaced_respacings_are_accepted(solver, respacing):
    check_solver_respacing(solver, respacing)


@pytest.mark.parametrize(("respacing", "timesteps"), [
    ("fast27", "599, 600, 799"), ("10,10,3,2,2", "599, 600, 799"), ("100,50", "499, 500, 510"),
])  # fmt: skip
@pytest.mark.parametrize("solver", SOLVERS)
def test_respacings_with_adjacent_steps_beside_long_gaps_are_refused(solver, respacing, timesteps):
    with pytest.raises(ValueError) as excinfo:
        check_solver_respacing(solver, respacing)
    message = str(excinfo.value)
    assert repr(respacing) in message and solver in message and timesteps in message
    assert "'ddim50'" in message and "\n" not in message
    with pytest.raises(ValueError, match="unusable"):
        LOOPS[solver](_torch_model, torch.zeros(1, 3, 2, 2), Schedule.create("linear", 1000, respacing))


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_single_kept_step_is_refused(solver):
    # Schedule.create cannot build a 1-step schedule; the check refuses it from the respacing alone.
    with pytest.raises(ValueError, match=r"timestep respacing '1' .*at least 2"):
        check_solver_respacing(solver, "1")
    for steps in (1, 0):
        with pytest.raises(ValueError, match=f"keeps {steps} timestep"):
            LOOPS[solver](_torch_model, torch.zeros(1, 3, 2, 2), _log_snr_uniform_schedule(steps))


def test_unknown_solver_and_invalid_respacing_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^solver 'dpmpp_3m' unknown: allowed are dpmpp_2m, unipc$"):
        check_solver_respacing("dpmpp_3m", "50")
    with pytest.raises(ValueError, match="'ddim0' invalid"):
        check_solver_respacing("unipc", "ddim0")


@pytest.mark.parametrize("solver", SOLVERS)
def test_bad_thresholds_and_model_outputs_are_refused(solver):
    sched, x = Schedule.create("linear", 1000, "10"), torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match="dynamic_threshold 1.5 invalid"):
        LOOPS[solver](_torch_model, x, sched, dynamic_threshold=1.5)
    with pytest.raises(ValueError, match="needs clip_denoised=True"):
        LOOPS[solver](_torch_model, x, sched, clip_denoised=False, dynamic_threshold=0.99)
    with pytest.raises(ValueError, match="3 channels; expected 6"):
        LOOPS[solver](lambda x, t: x, x, sched)


# ---------------------------------------------------------------- diffusers, where installed


@pytest.mark.parametrize("respacing", ["10", "ddim25", "50"])
@pytest.mark.parametrize("name", NOISE_SCHEDULES)
@pytest.mark.parametrize("solver", SOLVERS)
def test_loops_match_diffusers_schedulers(solver, name, respacing):
    # diffusers' final step goes from the last kept timestep to sigma = 0 and is first order there, like ours;
    # the step into the last kept timestep it takes at full order, hence lower_order_final=False here.
    diffusers = pytest.importorskip("diffusers")
    common = {"num_train_timesteps": 1000, "prediction_type": "epsilon", "thresholding": False}
    if solver == "dpmpp_2m":
        scheduler = diffusers.DPMSolverMultistepScheduler(
            trained_betas=betas_for_schedule(name, 1000).tolist(), algorithm_type="dpmsolver++", solver_order=2,
            lower_order_final=True, final_sigmas_type="zero", **common,
        )  # fmt: skip
    else:
        scheduler = diffusers.UniPCMultistepScheduler(
            trained_betas=betas_for_schedule(name, 1000).tolist(), solver_type="bh2", solver_order=2,
            predict_x0=True, lower_order_final=True, final_sigmas_type="zero", **common,
        )  # fmt: skip
    sched = Schedule.create(name, 1000, respacing)
    scheduler.set_timesteps(sched.num_steps)
    # Our kept timesteps, and their sigma = sqrt((1 - ab) / ab) in float64 (diffusers keeps float32 by default).
    alpha_bar = sched.alphas_cumprod[::-1]
    scheduler.timesteps = torch.from_numpy(sched.timestep_map[::-1].copy())
    scheduler.sigmas = torch.from_numpy(np.append(np.sqrt((1 - alpha_bar) / alpha_bar), 0.0))
    toy = _glide_toy(name)
    x = toy.x_T
    for t in scheduler.timesteps:
        eps = toy(x, t.expand(x.shape[0]))[:, : x.shape[1]]
        x = scheduler.step(eps, t, x).prev_sample
    ours = LOOPS[solver](toy, toy.x_T, sched, clip_denoised=False, lower_order_final=False)
    # DPMSolverMultistepScheduler.step casts the sample to float32; UniPC's stays in float64.
    tolerance = 1e-6 if solver == "dpmpp_2m" else 1e-12
    torch.testing.assert_close(ours, x.to(ours.dtype), rtol=0, atol=tolerance)


# ---------------------------------------------------------------- a real GLIDE UNet


@pytest.mark.parametrize("solver", SOLVERS)
def test_two_step_runs_of_the_tiny_reference_base_equal_ddim(solver, reference_model, reference_dir):
    # The reference tiny base (official weights layout, random values) returns 6 channels; with 2 kept steps the
    # solvers take one first-order step, which is DDIM's. The linear schedule, since at t = 999 the cosine one's
    # x0 prediction multiplies float32 rounding by sigma / alpha = 2e4 (157 here).
    record = load_file(reference_dir / "tiny_base_a" / "sample_ddpm_cfg.safetensors")
    model = reference_model("tiny_base_a")
    text = model.encode_text(record["tokens"][:2], record["mask"][:2])

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x, t, text)

    sched = Schedule.create("linear", 1000, "2")
    x_T = record["noise"][0][:2]
    expected = sample_ddim(model_fn, x_T, sched, eta=0.0)
    # float32 rounding differs between the two update forms; 1e-4 is the whole-loop tolerance of test_pipeline.py.
    torch.testing.assert_close(LOOPS[solver](model_fn, x_T, sched), expected, rtol=0, atol=1e-4)
