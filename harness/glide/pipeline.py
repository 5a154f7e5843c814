"""Text -> 64px base sample -> 256px upsampled sample: the thin glue between the GLIDE models and the loops.

Every sample draws its randomness from its own generator, seeded from (stage, seed), so its pixels do not
depend on its batch or position. Noise is drawn on the CPU and moved to the device: equal seeds give equal
starting noise on every device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .diffusion import Schedule
from .first_order import ModelFn, ProgressFn, noise_from_generators, randn_from_generators
from .guidance import Combine, get_guidance
from .loops import run_loop
from .masks import keep_known_pixels, upsampled_mask
from .noised_clip import ImageEncoder, TextEncoder, normalize, tokenize
from .presets import DTYPE_NAMES
from .tokenizer import Tokenizer
from .unet import GlideUNet, TextEmbedding

DTYPES = dict(zip(DTYPE_NAMES, (torch.float32, torch.bfloat16, torch.float16), strict=True))


def resolve_device(device: str) -> torch.device:
    """`auto` is the GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU computes bfloat16 matrix products natively."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: torch.device, num_channels: int) -> str:
    """`auto` is bf16 on a GPU, and on a CPU with native bf16 for wide models only: there bf16 runs the
    full-size UNet 1.7x faster, but narrow convolutions (the tiny presets) run slower in bf16 than in fp32."""
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu" and cpu_has_native_bf16() and num_channels >= 128:
        return "bf16"
    return "fp32"


def stage_generators(stage: str, seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per sample; `stage` keeps the base and upsampler streams apart for equal seeds."""
    generators = []
    for seed in seeds:
        digest = hashlib.sha256(f"{stage}:{int(seed)}".encode()).digest()
        generators.append(torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1))
    return generators


# row_fn(x, t, rows) -> model output for the samples `rows` (a slice into the batch's conditioning).
RowFn = Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor]


@dataclass
class KnownPixels:
    """Inpainting's inputs at one stage's size: the source in [-1, 1] (batch, 3, H, W) and the keep-mask
    (batch, 1, H, W), 1 where the source pixel is kept."""

    source: torch.Tensor
    mask: torch.Tensor

    def model_inputs(self, rows: slice, copies: int = 1) -> dict[str, torch.Tensor]:
        """The inpainting UNet's extra inputs for `rows`, repeated `copies` times (the doubled batch sees the
        same image and mask in both halves, as in the official notebook)."""
        mask = self.mask[rows]
        image = self.source[rows] * mask
        return {"inpaint_image": torch.cat([image] * copies), "inpaint_mask": torch.cat([mask] * copies)}

    def to(self, device: torch.device) -> KnownPixels:
        return KnownPixels(self.source.to(device), self.mask.to(device))


def guided_rows(
    model: GlideUNet,
    cond: TextEmbedding,
    empty: TextEmbedding,
    combine: Combine,
    guidance_scale: float,
    autocast: Callable[[], AbstractContextManager],
    known: KnownPixels | None = None,
) -> RowFn:
    """Guidance on a doubled batch: each sample's row with its prompt, then one with the empty prompt,
    run in one forward and combined by `combine` (see guidance.py)."""

    def row_fn(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
        n = x.shape[0]
        text = TextEmbedding(
            torch.cat([cond.proj[rows], empty.proj[:1].expand(n, -1)]),
            torch.cat([cond.seq[rows], empty.seq[:1].expand(n, -1, -1)]),
        )
        inputs = known.model_inputs(rows, copies=2) if known is not None else {}
        with autocast():
            out = model(torch.cat([x, x]), torch.cat([t, t]), text, **inputs).float()
        cond_out, uncond_out = out.chunk(2)
        return combine(cond_out, uncond_out, guidance_scale)

    return row_fn


def prompt_rows(
    model: GlideUNet,
    cond: TextEmbedding,
    autocast: Callable[[], AbstractContextManager],
    known: KnownPixels | None = None,
) -> RowFn:
    """Each sample's row with its own prompt only (no doubled batch): the base under a gradient guidance."""

    def row_fn(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
        inputs = known.model_inputs(rows) if known is not None else {}
        with autocast():
            return model(x, t, TextEmbedding(cond.proj[rows], cond.seq[rows]), **inputs).float()

    return row_fn


def batched(row_fn: RowFn, per_sample: bool) -> ModelFn:
    """The loops' model_fn: the whole batch in one forward, or one forward per sample.

    Matrix kernels choose their blocking by batch size, so only per-sample forwards give a sample the same
    bits whatever its batch; batching is faster on a GPU and differs in the last bits.
    """
    if not per_sample:
        return lambda x, t: row_fn(x, t, slice(None))

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([row_fn(x[i : i + 1], t[i : i + 1], slice(i, i + 1)) for i in range(x.shape[0])])

    return model_fn


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(batch, 3, H, W) in [-1, 1] -> (batch, H, W, 3) uint8, rounding as the official notebook does."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """(batch, H, W, 3) uint8 -> (batch, 3, H, W) float32 in [-1, 1]: the 8-bit quantised low-res input."""
    return images.permute(0, 3, 1, 2).float() / 127.5 - 1


@dataclass
class Stage:
    """One model with its tokenizer, on one device and dtype."""

    model: GlideUNet
    tokenizer: Tokenizer
    device: torch.device
    dtype: torch.dtype
    per_sample: bool = True
    _empty: TextEmbedding | None = field(default=None, init=False, repr=False)

    def autocast(self) -> AbstractContextManager:
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def encode(self, prompts: Sequence[str]) -> TextEmbedding:
        """The prompts' text embeddings, once per batch (not per step)."""
        if self.per_sample and len(prompts) > 1:
            parts = [self.encode([prompt]) for prompt in prompts]
            return TextEmbedding(torch.cat([p.proj for p in parts]), torch.cat([p.seq for p in parts]))
        tokens, mask = self.tokenizer.batch(prompts)
        with self.autocast():
            return self.model.encode_text(tokens.to(self.device), mask.to(self.device))

    def empty_prompt(self) -> TextEmbedding:
        """The unconditional (all padding) text embedding: one row, computed once."""
        if self._empty is None:
            self._empty = self.encode([""])
        return self._empty

    def schedule(self, respacing: str) -> Schedule:
        cfg = self.model.cfg
        return Schedule.create(cfg.noise_schedule, cfg.diffusion_steps, respacing)


@dataclass
class ClipGuide:
    """The noised CLIP's two encoders on one device, in float32: what a gradient guidance differentiates."""

    text_encoder: TextEncoder
    image_encoder: ImageEncoder
    device: torch.device

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """The prompts' normalised text embeddings (batch, n_embd), with the noised CLIP's own tokenizer.

        One prompt at a time, as Stage.encode with per_sample: a sample's guide then does not depend on its batch.
        """
        rows = []
        for prompt in prompts:
            tokens, lens = tokenize([prompt], self.text_encoder.cfg.max_text_len)
            rows.append(normalize(self.text_encoder(tokens.to(self.device), lens.to(self.device))))
        return torch.cat(rows)


class GlidePipeline:
    """The base model and the upsampler, and the noised CLIP when a gradient guidance needs it;
    `sample_base` and `upsample` return uint8 images (batch, H, W, 3)."""

    def __init__(self, base: Stage, upsampler: Stage, guide: ClipGuide | None = None):
        self.base = base
        self.upsampler = upsampler
        self.guide = guide

    def _guided(
        self, guidance: str, prompts: Sequence[str], scale: float, known: KnownPixels | None
    ) -> tuple[RowFn, dict]:
        """The base's row function under `guidance`, and the loop hooks it needs (a cond_fn for a gradient)."""
        stage = self.base
        chosen = get_guidance(guidance)
        text = stage.encode(prompts)
        if chosen.combine is not None:
            empty = stage.empty_prompt()
            return guided_rows(stage.model, text, empty, chosen.combine, scale, stage.autocast, known), {}
        if self.guide is None:
            raise ValueError(f"guidance {guidance!r} needs the noised CLIP; load the pipeline with guide=True")
        z_text = self.guide.encode(prompts)
        image_encoder = self.guide.image_encoder

        def grad_rows(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
            return chosen.gradient(image_encoder, z_text[rows], x.float(), t, scale)

        rows = prompt_rows(stage.model, text, stage.autocast, known)
        return rows, {"cond_fn": batched(grad_rows, stage.per_sample)}

    @torch.no_grad()
    def sample_base(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        *,
        guidance_scale: float,
        steps: str,
        guidance: str = "classifier_free",
        loop: str = "ancestral",
        loop_options: dict | None = None,
        progress: ProgressFn | None = None,
        known: KnownPixels | None = None,
    ) -> torch.Tensor:
        """64 px samples; with `known` (inpainting) every x_0 prediction keeps the source's known pixels."""
        stage = self.base
        known = known.to(stage.device) if known is not None else None
        row_fn, hooks = self._guided(guidance, prompts, guidance_scale, known)
        if known is not None:
            hooks["denoised_fn"] = keep_known_pixels(known.source, known.mask)
        generators = stage_generators("base", seeds)
        size = stage.model.cfg.image_size
        x_T = randn_from_generators(generators, (3, size, size), device=stage.device)
        x = run_loop(
            loop,
            batched(row_fn, stage.per_sample),
            x_T,
            stage.schedule(steps),
            noise_fn=noise_from_generators(generators),
            progress=progress,
            options=loop_options,
            hooks=hooks,
        )
        return to_uint8(x)

    @torch.no_grad()
    def upsample(
        self,
        prompts: Sequence[str],
        images_64: torch.Tensor,
        seeds: Sequence[int],
        *,
        steps: str,
        temperature: float,
        loop: str = "ddim",
        loop_options: dict | None = None,
        progress: ProgressFn | None = None,
        known: KnownPixels | None = None,
    ) -> torch.Tensor:
        """256 px samples of the 64 px images; with `known` (the source at 256 px and the 64 px keep-mask) the
        inpainting upsampler keeps the known pixels, its mask resized by nearest as in the official notebook."""
        stage = self.upsampler
        text = stage.encode(prompts)
        low_res = from_uint8(images_64).to(stage.device)
        hooks = {}
        if known is not None:
            known = KnownPixels(known.source, upsampled_mask(known.mask, stage.model.cfg.image_size)).to(stage.device)
            hooks["denoised_fn"] = keep_known_pixels(known.source, known.mask)

        def row_fn(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
            inputs = known.model_inputs(rows) if known is not None else {}
            with stage.autocast():
                emb = TextEmbedding(text.proj[rows], text.seq[rows])
                return stage.model(x, t, emb, low_res[rows], **inputs).float()

        generators = stage_generators("upsample", seeds)
        size = stage.model.cfg.image_size
        x_T = temperature * randn_from_generators(generators, (3, size, size))
        x = run_loop(
            loop,
            batched(row_fn, stage.per_sample),
            x_T.to(stage.device),
            stage.schedule(steps),
            noise_fn=noise_from_generators(generators),
            progress=progress,
            options=loop_options,
            hooks=hooks,
        )
        return to_uint8(x)
