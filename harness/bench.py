"""Benchmark: UNet forward time, achieved FLOP/s and peak memory of the full-size models, end-to-end
sampling throughput, and the harness's own overhead on a tiny-model run. Not a test: machines are noisy.

    python -m harness.bench                                   # base (batch 2) + upsampler (batch 1), fp32
    python -m harness.bench --dtype fp32,bf16                 # both, with the outputs' max abs difference
    python -m harness.bench --device cuda --batch 16 --e2e    # GPU: forward + images/s end to end
    python -m harness.bench --models "" --overhead 32         # harness overhead of a model=tiny run
    python -m harness.bench --models "" --e2e --e2e-scale 0.1  # each sampler preset at a tenth of its steps
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from harness.config.compose import typed_job
from harness.glide.models import ModelSpec, load_pipeline, random_model
from harness.glide.pipeline import DTYPES, cpu_has_native_bf16, resolve_device
from harness.glide.presets import preset
from harness.glide.respacing import space_timesteps
from harness.glide.unet import GlideUNet

log = logging.getLogger("harness.bench")

# Dense peak throughput in TFLOP/s, for the share of peak; only devices whose figures are published.
PEAK_TFLOPS = {("NVIDIA H100 80GB HBM3", "bf16"): 989.0, ("NVIDIA H100 80GB HBM3", "fp16"): 989.0}


@dataclass
class ForwardResult:
    model: str
    device: str
    dtype: str
    batch: int
    seconds: float
    gflop: float
    peak_mem_gib: float | None
    output: torch.Tensor

    @property
    def gflops_per_s(self) -> float:
        return self.gflop / self.seconds


def forward_inputs(model: GlideUNet, batch: int, device: torch.device, seed: int = 0) -> dict:
    """Fixed random inputs of a forward: x_t, timesteps, tokens and mask (and low_res for the upsampler)."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "x": torch.randn(batch, 3, cfg.image_size, cfg.image_size, generator=g),
        "t": torch.randint(0, cfg.diffusion_steps, (batch,), generator=g),
        "tokens": torch.randint(0, cfg.n_vocab, (batch, cfg.text_ctx), generator=g),
        "mask": torch.arange(cfg.text_ctx)[None].expand(batch, -1) < 12,
    }
    if cfg.super_res:
        inputs["low_res"] = torch.rand(batch, 3, 64, 64, generator=g) * 2 - 1
    return {k: v.to(device) for k, v in inputs.items()}


def unet_step(model: GlideUNet, inputs: dict) -> torch.Tensor:
    """One forward as timed and counted here: the text encoder, then the UNet."""
    text = model.encode_text(inputs["tokens"], inputs["mask"])
    return model(inputs["x"], inputs["t"], text, low_res=inputs.get("low_res"))


def count_gflop(preset_name: str, batch: int) -> float:
    """FLOPs of one forward (text encoder included), counted on the meta device: shapes only, no compute."""
    with torch.device("meta"):
        model = GlideUNet(preset(preset_name))
    inputs = forward_inputs(model, batch, torch.device("meta"))
    with FlopCounterMode(display=False) as counter:
        unet_step(model, inputs)
    return counter.get_total_flops() / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall time of `repeats` calls after one warm-up call."""
    out = fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench_forward(
    preset_name: str, batch: int, device: torch.device, dtype: str, repeats: int, model: GlideUNet
) -> ForwardResult:
    """Time `model` (preset `preset_name`, on `device`) at `dtype`; a reduced dtype works on a cast copy."""
    if dtype != "fp32":
        model = copy.deepcopy(model).cast_matmul_weights(DTYPES[dtype])
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats(device)
    inputs = forward_inputs(model, batch, device)
    autocast = torch.autocast(device.type, dtype=DTYPES[dtype], enabled=dtype != "fp32")

    def call() -> torch.Tensor:
        with torch.no_grad(), autocast:
            return unet_step(model, inputs).float()

    seconds, out = time_call(call, device, repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else _rss_peak_gib()
    return ForwardResult(preset_name, str(device), dtype, batch, seconds, count_gflop(preset_name, batch), peak, out)


def _rss_peak_gib() -> float | None:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    except (ImportError, OSError):
        return None


def official_side_by_side(model: GlideUNet, result: ForwardResult, device: torch.device, repeats: int) -> str:
    """Time ratio and max abs difference against glide_text2im with the same weights, where it is installed."""
    try:
        from glide_text2im.model_creation import create_model_and_diffusion, model_and_diffusion_defaults
    except ImportError:
        return "official glide_text2im: not installed (pip cannot install it; see docs/benchmarks.md)"
    options = model_and_diffusion_defaults()
    if model.cfg.super_res:
        from glide_text2im.model_creation import model_and_diffusion_defaults_upsampler

        options = model_and_diffusion_defaults_upsampler()
    official, _ = create_model_and_diffusion(**options)
    official.load_state_dict(model.state_dict())
    official.eval().to(device)
    inputs = forward_inputs(model, result.batch, device)
    kwargs = {"tokens": inputs["tokens"], "mask": inputs["mask"]}
    if "low_res" in inputs:
        kwargs["low_res"] = inputs["low_res"]

    def call() -> torch.Tensor:
        with torch.no_grad():
            return official(inputs["x"], inputs["t"], **kwargs).float()

    seconds, out = time_call(call, device, repeats)
    diff = (out - result.output).abs().max().item()
    ratio = result.seconds / seconds
    return f"official glide_text2im: {seconds:.3f} s (ours / official = {ratio:.2f}), max abs diff {diff:.2e}"


def report_forward(result: ForwardResult) -> str:
    peak = PEAK_TFLOPS.get((torch.cuda.get_device_name() if "cuda" in result.device else "cpu", result.dtype))
    share = f", {100 * result.gflops_per_s / 1000 / peak:.0f}% of peak" if peak else ""
    mem = f", peak memory {result.peak_mem_gib:.2f} GiB" if result.peak_mem_gib is not None else ""
    return (
        f"{result.model:9s} {result.device:6s} {result.dtype:5s} batch {result.batch:3d}: "
        f"{result.seconds:8.3f} s/forward, "
        f"{result.gflop:7.1f} GFLOP, {result.gflops_per_s / 1000:7.3f} TFLOP/s{share}{mem}"
    )


def bench_end_to_end(
    device: torch.device,
    dtype: str,
    batch: int,
    base_steps: str,
    upsample_steps: str,
    base_loop: str = "ancestral",
    upsample_loop: str = "ddim",
) -> tuple[str, torch.Tensor]:
    """Images/s of base (guided) + upsampler with the full-size architectures (random weights), and the images."""
    spec = ModelSpec(weights="random")
    # Random weights: the byte-level tokenizer (no vocabulary download) feeds valid token ids just as well.
    pipeline = load_pipeline(spec, device=str(device), dtype=dtype, per_sample=False, tokenizer="bytes")
    prompts, seeds = ["a house by the lake"] * batch, list(range(batch))
    start = time.perf_counter()
    images = pipeline.sample_base(prompts, seeds, guidance_scale=3.0, steps=base_steps, loop=base_loop)
    _sync(device)
    base_s = time.perf_counter() - start
    upsampled = pipeline.upsample(prompts, images, seeds, steps=upsample_steps, temperature=0.997, loop=upsample_loop)
    _sync(device)
    total = time.perf_counter() - start
    line = (
        f"end to end {device} {dtype} batch {batch} (base {base_loop} {base_steps}, upsampler {upsample_loop} "
        f"{upsample_steps}): "
        f"{batch / total:.3f} images/s ({base_s:.1f} s base, {total - base_s:.1f} s upsampler)"
    )
    return line, upsampled


SAMPLER_KEYS = ("base_loop", "base_steps", "upsample_loop", "upsample_steps")


def sampler_preset(name: str) -> dict[str, str]:
    """The loops and step respacings of sampler=NAME (conf/sampler/NAME.yaml over SamplerConfig's defaults), as
    the run composes and types them."""
    sampler = typed_job([f"sampler={name}"]).sampler
    return {key: str(getattr(sampler, key)) for key in SAMPLER_KEYS}


def scaled_steps(respacing: str, scale: float) -> str:
    """`scale` of a respacing's kept timesteps as an evenly spaced count (at least 2), for a shorter timing run."""
    kept = len(space_timesteps(1000, respacing))
    return respacing if scale == 1 else str(max(2, round(kept * scale)))


def count_forwards(sampler: dict[str, str]) -> tuple[int, int]:
    """UNet calls per image of each stage (base: one guided call at batch 2), counted on the tiny model."""
    spec = ModelSpec(name="tiny", base="tiny_base", upsample="tiny_upsample", weights="random")
    pipeline = load_pipeline(spec, device="cpu", dtype="fp32", per_sample=False, tokenizer="bytes")
    counts = [0, 0]

    def counter(index: int):
        def hook(module, args, output):
            counts[index] += 1

        return hook

    handles = [pipeline.base.model.register_forward_hook(counter(0)),
               pipeline.upsampler.model.register_forward_hook(counter(1))]  # fmt: skip
    with torch.no_grad():
        images = pipeline.sample_base(["a"], [0], guidance_scale=3.0, steps=sampler["base_steps"],
                                      loop=sampler["base_loop"])  # fmt: skip
        pipeline.upsample(["a"], images, [0], steps=sampler["upsample_steps"], temperature=0.997,
                          loop=sampler["upsample_loop"])  # fmt: skip
    for handle in handles:
        handle.remove()
    return counts[0], counts[1]


def preset_costs(presets: list[str]) -> list[str]:
    """Per preset: UNet forwards and full-size GFLOPs per image, and each preset's FLOPs over the first's."""
    base_gflop, up_gflop = count_gflop("base", 2), count_gflop("upsample", 1)
    lines, first = [], None
    for name in presets:
        sampler = sampler_preset(name)
        base, up = count_forwards(sampler)
        gflop = base * base_gflop + up * up_gflop
        first = first or gflop
        lines.append(
            f"sampler={name} ({sampler['base_loop']} {sampler['base_steps']}, {sampler['upsample_loop']} "
            f"{sampler['upsample_steps']}): {base} + {up} UNet forwards per image, {gflop / 1e3:.1f} TFLOP per "
            f"image at full size ({gflop / first:.3f} of sampler={presets[0]})"
        )
    return lines


def image_difference(images: torch.Tensor, reference: torch.Tensor) -> str:
    diff = (images.float() - reference.float()).abs()
    return f"mean abs pixel difference {diff.mean():.2f} / 255 (max {diff.max():.0f})"


# The real model's loops (SamplerConfig's defaults), which model=tiny shortens for smoke runs: the overhead is
# measured where sampling dominates as it does in real use (each is dropped when --overhead-args sets its key).
OVERHEAD_STEPS = ("sampler.base_steps=100", "sampler.upsample_steps=fast27")


def bench_overhead(samples: int, extra: list[str]) -> str:
    """Harness overhead: wall time of a model=tiny CLI run at the official step counts minus its sampling time,
    as a share of the wall time."""
    given = {arg.split("=", 1)[0] for arg in extra}
    extra = [*(arg for arg in OVERHEAD_STEPS if arg.split("=", 1)[0] not in given), *extra]
    prompts = max(1, samples // 4)
    with tempfile.TemporaryDirectory() as tmp:
        prompt_file = Path(tmp) / "prompts.txt"
        prompt_file.write_text("\n".join(f"a photo of object number {i}" for i in range(prompts)) + "\n")
        cmd = [
            sys.executable, "-m", "harness", "+suite=file", f"suite.path={prompt_file}", "model=tiny",
            "sampler.samples_per_prompt=4", f"hydra.run.dir={tmp}/run", f"store.cache_dir={tmp}/store", *extra,
        ]  # fmt: skip
        env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_DIR": tmp}
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        wall = time.perf_counter() - start
        info = json.loads((Path(tmp) / "run" / "summary.json").read_text())["run"]
    sampling = info["sampling"]["sampling_s"]
    return (
        f"harness overhead, model=tiny, {prompts * 4} samples, {' '.join(extra)}: "
        f"wall {wall:.1f} s, sampling {sampling:.1f} s, "
        f"scoring {info['scoring_s']:.1f} s, overhead {(wall - sampling) / wall:.1%} of wall time"
    )


# What a user types, against the import of torch alone: the command line's answers before any sampling.
CLI_ANSWERS = {
    "--help": ["--help"],
    "unknown suite": ["+suite=nosuchsuite"],
    "bad value": ["+suite=bias", "sampler.guidance_scale=-1"],
    "misspelt key": ["+suite=bias", "sampler.guidance_scal=3"],
}


def bench_cli(runs: int) -> list[str]:
    """Median wall seconds of each answer over `runs` runs, taken in turn with `python -c "import torch"` so that
    load drifts reach both, and the ratio of the medians."""
    import statistics
    import subprocess
    import sys
    import time

    def seconds(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        return time.perf_counter() - start

    torch_import = [sys.executable, "-c", "import torch"]
    times: dict[str, list[float]] = {name: [] for name in ("import torch", *CLI_ANSWERS)}
    for _ in range(runs):
        times["import torch"].append(seconds(torch_import))
        for name, args in CLI_ANSWERS.items():
            times[name].append(seconds([sys.executable, "-m", "harness", *args]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["import torch"]
    return [f"cli {name}: {median:.2f} s (median of {runs}), {median / base:.2f}x import torch"
            for name, median in medians.items()]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="fp32", help="comma-separated: fp32,bf16,fp16")
    parser.add_argument("--models", default="base,upsample", help="comma-separated presets (base, upsample, ...)")
    parser.add_argument("--batch", type=int, default=None, help="batch of every model (default: base 2, others 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the available cores)")
    parser.add_argument("--e2e", action="store_true", help="also time base + upsampler sampling end to end")
    parser.add_argument("--base-steps", default="100")
    parser.add_argument("--upsample-steps", default="fast27")
    parser.add_argument("--presets", default="default,fast", help="sampler presets (conf/sampler/) for --e2e")
    parser.add_argument("--e2e-scale", type=float, default=1.0, help="--e2e: share of each preset's steps to run")
    parser.add_argument("--overhead", type=int, default=0, metavar="N", help="measure harness overhead at N samples")
    parser.add_argument("--overhead-args", default="", help="extra CLI overrides for the overhead run")
    parser.add_argument("--cli", type=int, default=0, metavar="N", help="only time the command line's answers, N runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cli:
        for line in bench_cli(args.cli):
            log.info("%s", line)
        return 0

    device = resolve_device(args.device)
    dtypes = args.dtype.split(",")
    if bad := [d for d in dtypes if d not in DTYPES]:
        parser.error(f"--dtype {bad[0]!r} is not one of {', '.join(DTYPES)}")
    if device.type == "cpu":
        torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    log.info("torch %s, %s, %d threads", torch.__version__, _device_name(device), torch.get_num_threads())
    for name in filter(None, args.models.split(",")):
        batch = args.batch or (2 if name == "base" else 1)
        model = random_model(name, seed=0).eval().to(device)
        results = [bench_forward(name, batch, device, dtype, args.repeats, model) for dtype in dtypes]
        for result in results:
            log.info("%s", report_forward(result))
        for result in results[1:]:
            diff = (result.output - results[0].output).abs()
            log.info(
                "  %s vs %s: %.2fx faster, output max abs diff %.3e (mean %.3e)",
                result.dtype, results[0].dtype, results[0].seconds / result.seconds, diff.max(), diff.mean(),
            )  # fmt: skip
        log.info("  %s", official_side_by_side(model, results[0], device, args.repeats))
        del model
    if args.e2e:
        presets = list(filter(None, args.presets.split(",")))
        for line in preset_costs(presets):
            log.info("%s", line)
        for name in presets:
            sampler = sampler_preset(name)
            base = scaled_steps(sampler["base_steps"], args.e2e_scale)
            up = scaled_steps(sampler["upsample_steps"], args.e2e_scale)
            line, _ = bench_end_to_end(device, dtypes[0], args.batch or 1, base, up, sampler["base_loop"],
                                       sampler["upsample_loop"])  # fmt: skip
            log.info("sampler=%s: %s", name, line)
        reference = None
        for dtype in dtypes if len(dtypes) > 1 else ():
            line, images = bench_end_to_end(device, dtype, args.batch or 1, args.base_steps, args.upsample_steps)
            log.info("%s", line)
            if reference is None:
                reference = images
            else:
                log.info(
                    "  256px images, %s vs %s at equal seeds: %s", dtype, dtypes[0], image_difference(images, reference)
                )
    if args.overhead:
        log.info("%s", bench_overhead(args.overhead, args.overhead_args.split()))
    return 0


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} logical cores, native bf16: {'yes' if cpu_has_native_bf16() else 'no'})"


if __name__ == "__main__":
    raise SystemExit(main())
