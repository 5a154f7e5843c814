"""Model configuration: a small frozen dataclass with the official option names, and the named presets.

`base` and `upsample` are the released models' defaults, `base_inpaint` and `upsample_inpaint` their inpainting
twins; the `tiny_*` presets are the same architectures at toy widths (random weights) for a laptop CPU. Plain
Python, free of torch: a config is checked against these presets before torch is imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

NOISE_SCHEDULES = ("squaredcos_cap_v2", "linear")
# The sampling precisions (sampler.dtype): float32, bfloat16, float16.
DTYPE_NAMES = ("fp32", "bf16", "fp16")
DEFAULT_CHANNEL_MULT = {256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}


@dataclass(frozen=True)
class ModelConfig:
    """One GLIDE UNet + text encoder. Field names follow the official `model_and_diffusion_defaults`."""

    image_size: int = 64
    num_channels: int = 192
    num_res_blocks: int = 3
    channel_mult: str = ""
    num_heads: int = 1
    num_head_channels: int = 64
    num_heads_upsample: int = -1
    attention_resolutions: str = "32,16,8"
    dropout: float = 0.1
    text_ctx: int = 128
    xf_width: int = 512
    xf_layers: int = 16
    xf_heads: int = 8
    xf_final_ln: bool = True
    xf_padding: bool = True
    n_vocab: int = 50257
    tokenizer: str = "gpt2"
    diffusion_steps: int = 1000
    noise_schedule: str = "squaredcos_cap_v2"
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    super_res: bool = False
    inpaint: bool = False  # the inpainting models also see the kept pixels and the mask of the source image
    in_channels: int = 3
    out_channels: int = 6
    norm_groups: int = 32  # GroupNorm groups; 32 in the released models, fewer lets tiny models be narrower

    def __post_init__(self) -> None:
        positive = ("image_size", "num_channels", "num_res_blocks", "text_ctx", "xf_width", "xf_heads")
        for name in positive + ("n_vocab", "diffusion_steps", "in_channels", "out_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"model.{name} must be a positive integer, got {value!r}")
        if self.xf_layers < 0:
            raise ValueError(f"model.xf_layers must be >= 0, got {self.xf_layers!r}")
        if self.xf_width % self.xf_heads:
            raise ValueError(f"model.xf_width ({self.xf_width}) must be divisible by xf_heads ({self.xf_heads})")
        if self.noise_schedule not in NOISE_SCHEDULES:
            raise ValueError(
                f"model.noise_schedule {self.noise_schedule!r} is unknown; allowed: {', '.join(NOISE_SCHEDULES)}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        widths = [self.num_channels * m for m in self.mult]  # also validates channel_mult
        if self.norm_groups <= 0 or any(w % self.norm_groups for w in widths):
            raise ValueError(
                f"model.norm_groups {self.norm_groups!r} must be positive and divide every level's width {widths}"
            )
        for res in self.attention_resolutions.split(",") if self.attention_resolutions else ():
            if not res.strip().isdigit() or int(res) <= 0 or self.image_size % int(res):
                raise ValueError(
                    f"model.attention_resolutions {self.attention_resolutions!r}: each entry must be a positive "
                    f"integer dividing image_size {self.image_size}"
                )
        # Attention runs at the levels named by attention_resolutions and in the middle block (deepest level).
        attended = [w for level, w in enumerate(widths) if 2**level in self.attention_ds] + [widths[-1]]
        if self.num_head_channels == 0 or self.num_head_channels < -1:
            raise ValueError(
                f"model.num_head_channels must be positive or -1 (use num_heads), got {self.num_head_channels!r}"
            )
        if self.num_head_channels > 0 and any(w % self.num_head_channels for w in attended):
            raise ValueError(
                f"model.num_head_channels ({self.num_head_channels}) must divide the width of every level with "
                f"attention {sorted(set(attended))}"
            )
        for name in ("num_heads", "num_heads_upsample"):
            heads = getattr(self, name)
            if name == "num_heads_upsample" and heads == -1:
                continue  # -1: the same as num_heads
            if self.num_head_channels == -1 and (heads <= 0 or any(w % heads for w in attended)):
                raise ValueError(
                    f"model.{name} ({heads}) must be positive and divide the width of every level with "
                    f"attention {sorted(set(attended))} when num_head_channels is -1"
                )
        if self.image_size % 2 ** (len(widths) - 1):
            raise ValueError(
                f"model.image_size {self.image_size} must be divisible by 2^{len(widths) - 1}, "
                f"one halving per level of channel_mult {self.channel_mult!r}"
            )

    @property
    def mult(self) -> tuple[int, ...]:
        """Channel multiplier per resolution level; "" means the official default for the image size."""
        if not self.channel_mult:
            if self.image_size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(
                    f"model.channel_mult is empty and image_size {self.image_size} has no default; "
                    f"give channel_mult explicitly (defaults exist for {sorted(DEFAULT_CHANNEL_MULT)})"
                )
            return DEFAULT_CHANNEL_MULT[self.image_size]
        try:
            mult = tuple(int(m) for m in self.channel_mult.split(","))
        except ValueError:
            mult = ()
        if not mult or min(mult) <= 0:
            raise ValueError(
                f"model.channel_mult {self.channel_mult!r} must be comma-separated positive integers, e.g. '1,2,3,4'"
            )
        return mult

    @property
    def input_channels(self) -> int:
        """Channels of the first convolution: [x_t, inpaint image * mask, mask, upsampled low_res] as present."""
        return self.in_channels * (1 + self.super_res) + (self.in_channels + 1) * self.inpaint

    @property
    def attention_ds(self) -> tuple[int, ...]:
        """Downsampling factors at which attention blocks sit (image_size / resolution)."""
        if not self.attention_resolutions:
            return ()
        return tuple(self.image_size // int(r) for r in self.attention_resolutions.split(","))

    def to_dict(self) -> dict:
        return asdict(self)


BASE = ModelConfig()
UPSAMPLE = replace(BASE, image_size=256, num_res_blocks=2, noise_schedule="linear", super_res=True)
# The tiny presets are as narrow as the architecture allows (one channel per norm group at the outer levels):
# the first run of a new user samples 40 images on a CPU in well under a minute (docs/benchmarks.md).
TINY_BASE = replace(
    BASE,
    num_channels=8,
    norm_groups=8,
    num_res_blocks=1,
    channel_mult="1,2,2,2",
    num_head_channels=16,
    attention_resolutions="16,8",
    dropout=0.0,
    text_ctx=32,
    xf_width=64,
    xf_layers=1,
    xf_heads=2,
    n_vocab=257,
    tokenizer="bytes",
)
TINY_UPSAMPLE = replace(
    TINY_BASE,
    image_size=256,
    num_channels=4,
    channel_mult="1,1,2,4",
    attention_resolutions="32",
    norm_groups=4,
    noise_schedule="linear",
    super_res=True,
)

BASE_INPAINT = replace(BASE, inpaint=True)
UPSAMPLE_INPAINT = replace(UPSAMPLE, inpaint=True)
TINY_BASE_INPAINT = replace(TINY_BASE, inpaint=True)
TINY_UPSAMPLE_INPAINT = replace(TINY_UPSAMPLE, inpaint=True)

PRESETS = {
    "base": BASE,
    "upsample": UPSAMPLE,
    "base_inpaint": BASE_INPAINT,
    "upsample_inpaint": UPSAMPLE_INPAINT,
    "tiny_base": TINY_BASE,
    "tiny_upsample": TINY_UPSAMPLE,
    "tiny_base_inpaint": TINY_BASE_INPAINT,
    "tiny_upsample_inpaint": TINY_UPSAMPLE_INPAINT,
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named preset, optionally with some fields replaced (validated again)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; allowed: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


# The noised CLIP's text tokens (CLIP's BPE): start and end of text.
CLIP_START_TOKEN = 49406
CLIP_END_TOKEN = 49407


@dataclass(frozen=True)
class NoisedClipConfig:
    """Both encoders of the noised CLIP. Widths are heads x head channels; `n_embd` is the joint embedding."""

    logit_scale: float = 100.0
    n_timesteps: int = 1000
    image_size: int = 64
    patch_size: int = 4
    n_vocab: int = 65536
    max_text_len: int = 77
    n_embd: int = 512
    n_head_text: int = 8
    n_head_state_text: int = 64
    n_xf_blocks_text: int = 12
    n_head_image: int = 12
    n_head_state_image: int = 64
    n_xf_blocks_image: int = 12
    beta_schedule: str = "squaredcos_cap_v2"  # the schedule whose noisy images it was trained on

    def __post_init__(self) -> None:
        positive = [name for name, value in vars(self).items() if isinstance(value, int) and value <= 0]
        if positive:
            raise ValueError(f"clip.{positive[0]} must be a positive integer, got {getattr(self, positive[0])!r}")
        if self.logit_scale <= 0:
            raise ValueError(f"clip.logit_scale must be positive, got {self.logit_scale!r}")
        if self.beta_schedule not in NOISE_SCHEDULES:
            raise ValueError(
                f"clip.beta_schedule {self.beta_schedule!r} is unknown; allowed: {', '.join(NOISE_SCHEDULES)}"
            )
        if self.image_size % self.patch_size:
            raise ValueError(f"clip.patch_size {self.patch_size} must divide clip.image_size {self.image_size}")

    @property
    def text_width(self) -> int:
        return self.n_head_text * self.n_head_state_text

    @property
    def image_width(self) -> int:
        return self.n_head_image * self.n_head_state_image

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


NOISED_CLIP = NoisedClipConfig()
# The same architecture at toy widths (random weights): takes the real CLIP tokens and the base model's 64 px x_t.
TINY_NOISED_CLIP = NoisedClipConfig(
    n_vocab=CLIP_END_TOKEN + 1,
    n_embd=32,
    n_head_text=2,
    n_head_state_text=16,
    n_xf_blocks_text=1,
    n_head_image=2,
    n_head_state_image=16,
    n_xf_blocks_image=1,
)
CLIP_PRESETS = {"noised_clip": NOISED_CLIP, "tiny_noised_clip": TINY_NOISED_CLIP}


def clip_preset(name: str) -> NoisedClipConfig:
    """A named noised-CLIP configuration."""
    if name not in CLIP_PRESETS:
        raise ValueError(f"unknown noised CLIP preset {name!r}; allowed: {', '.join(CLIP_PRESETS)}")
    return CLIP_PRESETS[name]
