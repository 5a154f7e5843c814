"""GLIDE's noised CLIP: a text encoder, an image encoder of noisy images x_t at timestep t, and its guidance gradient.

Parameter names and shapes equal the released `clip_text_enc.pt` / `clip_image_enc.pt`; option names are the official.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import expected_dtypes, expected_shapes, load_state_dict
from .presets import CLIP_END_TOKEN, CLIP_START_TOKEN, NOISED_CLIP, NoisedClipConfig

CLIP_CONTEXT = 77
# Per-channel pixel statistics (0..255 scale) that CLIP's image input is normalised with.
IMAGE_MEAN = (122.77093945, 116.74601272, 104.09373519)
IMAGE_STD = (68.50053285, 66.63215831, 70.32316309)
# Embeddings are normalised as z / (||z|| + eps), not by a clamped norm.
NORM_EPS = 1e-12


def _param(*shape: int, std: float = 0.02) -> nn.Parameter:
    # Random starting values that checkpoints overwrite; built on the meta device they cost nothing.
    return nn.Parameter(torch.randn(shape) * std)


class Affine(nn.Module):
    """y = x w^T (+ b): the checkpoints name a linear map's tensors `w` and `b`."""

    def __init__(self, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        self.w = _param(n_out, n_in, std=1 / math.sqrt(n_in))
        self.b = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.w, self.b)


class LayerNorm(nn.Module):
    """LayerNorm in float32 (or wider) whatever the activations' dtype, with gain `g` and bias `b`, eps 1e-5."""

    def __init__(self, width: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(width))
        self.b = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(x.dtype, torch.float32)
        h = F.layer_norm(x.to(dtype), (x.shape[-1],), self.g.to(dtype), self.b.to(dtype), 1e-5)
        return h.to(x.dtype)


class Attention(nn.Module):
    """Pre-LayerNorm multi-head attention with separate q, k, v maps (k without bias)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln = LayerNorm(width)
        self.f_q = Affine(width, width)
        self.f_k = Affine(width, width, bias=False)
        self.f_v = Affine(width, width)
        self.f_c = Affine(width, width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        b, n, width = x.shape
        h = self.ln(x)
        q, k, v = (f(h).view(b, n, self.heads, -1).transpose(1, 2) for f in (self.f_q, self.f_k, self.f_v))
        # The official code pads the context to a multiple of 32 and masks the padding; without padding the
        # result is the same, so only the causal mask of the text encoder remains.
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.f_c(out.transpose(1, 2).reshape(b, n, width))


class MLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.ln = LayerNorm(width)
        self.f_1 = Affine(width, 4 * width)
        self.f_2 = Affine(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f_2(F.gelu(self.f_1(self.ln(x))))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool):
        super().__init__()
        self.causal = causal
        self.f_attn = Attention(width, heads)
        self.f_mlp = MLP(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.f_attn(x, self.causal)
        return x + self.f_mlp(x)


class TextInput(nn.Module):
    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.w_voc = _param(cfg.n_vocab, cfg.text_width)
        self.w_pos = _param(cfg.max_text_len, cfg.text_width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.w_voc[tokens] + self.w_pos[None, : tokens.shape[1]]


class TextOutput(nn.Module):
    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.ln = LayerNorm(cfg.text_width)
        self.f = Affine(cfg.text_width, cfg.n_embd, bias=False)

    def forward(self, h: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        # With causal attention the state at the last real token (the end token) has seen the whole prompt.
        return self.f(self.ln(h[torch.arange(h.shape[0], device=h.device), lens - 1]))


class ImageInput(nn.Module):
    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        width = cfg.image_width
        # Registration order is the checkpoint's key order: w_t, patch_proj, w_pos, ln.
        self.w_t = _param(cfg.n_timesteps, width)
        self.patch_proj = _param(width, 3, cfg.patch_size, cfg.patch_size, std=1 / math.sqrt(3 * cfg.patch_size**2))
        self.w_pos = _param(1 + cfg.n_patches, width)
        self.ln = LayerNorm(width)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        # Constants, not buffers: a model built on the meta device and loaded with assign=True has no others.
        mean = torch.tensor(IMAGE_MEAN, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
        std = torch.tensor(IMAGE_STD, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
        pixels = (x + 1) * 127.5
        h = F.conv2d((pixels - mean) / std, self.patch_proj, stride=self.patch_size)
        patches = h.flatten(2).transpose(1, 2)
        # The first token is the ORIGINAL timestep's learned embedding (not the respaced index).
        tokens = torch.cat([self.w_t[timesteps][:, None], patches], dim=1)
        return self.ln(tokens + self.w_pos[None])


class ImageOutput(nn.Module):
    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.ln = LayerNorm(cfg.image_width)
        self.f = Affine(cfg.image_width, cfg.n_embd, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.f(self.ln(h[:, 0]))


class TextEncoder(nn.Module):
    """(tokens (batch, ctx), lens (batch,)) -> raw text embeddings (batch, n_embd); lens count start and end."""

    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.cfg = cfg
        layers = {"input": TextInput(cfg)}
        for i in range(cfg.n_xf_blocks_text):
            layers[f"block_{i}"] = Block(cfg.text_width, cfg.n_head_text, causal=True)
        layers["output"] = TextOutput(cfg)
        self.blocks = nn.ModuleDict(layers)

    def forward(self, tokens: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.cfg.max_text_len:
            raise ValueError(
                f"{tokens.shape[1]} tokens per prompt; the noised CLIP takes at most {self.cfg.max_text_len}"
            )
        h = self.blocks["input"](tokens)
        for i in range(self.cfg.n_xf_blocks_text):
            h = self.blocks[f"block_{i}"](h)
        return self.blocks["output"](h, lens)


class ImageEncoder(nn.Module):
    """(x_t (batch, 3, size, size) in [-1, 1], original timesteps (batch,)) -> raw image embeddings (batch, n_embd)."""

    def __init__(self, cfg: NoisedClipConfig):
        super().__init__()
        self.cfg = cfg
        layers = {"input": ImageInput(cfg)}
        for i in range(cfg.n_xf_blocks_image):
            layers[f"block_{i}"] = Block(cfg.image_width, cfg.n_head_image, causal=False)
        layers["output"] = ImageOutput(cfg)
        self.blocks = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        size = self.cfg.image_size
        if tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"image of shape {tuple(x.shape)}; the noised CLIP takes (batch, 3, {size}, {size})")
        h = self.blocks["input"](x, timesteps)
        for i in range(self.cfg.n_xf_blocks_image):
            h = self.blocks[f"block_{i}"](h)
        return self.blocks["output"](h)


def load_encoders(
    text_path: str | os.PathLike[str],
    image_path: str | os.PathLike[str],
    cfg: NoisedClipConfig = NOISED_CLIP,
) -> tuple[TextEncoder, ImageEncoder]:
    """Both encoders in eval mode with the weights of `clip_text_enc.pt` / `clip_image_enc.pt` (or .safetensors).

    Every key and shape is checked before anything is built; a mismatch is a CheckpointError naming the key.
    """
    encoders = []
    for cls, path in ((TextEncoder, text_path), (ImageEncoder, image_path)):
        with torch.device("meta"):
            encoder = cls(cfg)
        state_dict = load_state_dict(Path(path), expected_shapes(encoder), dtypes=expected_dtypes(encoder))
        # The meta-device encoder takes the loaded tensors as they are: no random init, no second copy.
        encoder.load_state_dict(state_dict, strict=True, assign=True)
        encoders.append(encoder.eval().requires_grad_(False))
    text_encoder, image_encoder = encoders
    return text_encoder, image_encoder


def normalize(z: torch.Tensor) -> torch.Tensor:
    """z / (||z|| + 1e-12) over the last axis, as the official encoders normalise their embeddings."""
    return z / (z.norm(dim=-1, keepdim=True) + NORM_EPS)


def clip_guidance_grad(
    image_encoder: ImageEncoder,
    text_emb: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """scale * d/dx_t of logit_scale * sum_rows(z_text . z_image(x_t, t)): the noised-CLIP guidance gradient.

    `text_emb` is the normalised text embedding (batch, n_embd), `t` the ORIGINAL timesteps. The config's
    logit_scale (100) is the logit multiplier itself: the official code keeps its log and exponentiates it.
    """
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        z_image = normalize(image_encoder(x, t))
        similarity = image_encoder.cfg.logit_scale * (text_emb.detach() * z_image).sum()
        (grad,) = torch.autograd.grad(similarity, x)
    return grad * scale


def tokenize(texts: Sequence[str], context: int = CLIP_CONTEXT) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP BPE tokens (batch, context) and lengths (batch,) of the noised CLIP's prompts.

    Each row is [start] + BPE tokens[: context - 2] + [end], padded with 0; a length counts start and end.
    open_clip's SimpleTokenizer (the released `bpe_simple_vocab_16e6`, with ftfy, HTML unescaping,
    whitespace collapsing and lower-casing) gives the official tokens.
    """
    if context < 2:
        raise ValueError(f"CLIP token context {context!r} must be at least 2 (start and end tokens)")
    bpe = _bpe()
    tokens = torch.zeros(len(texts), context, dtype=torch.long)
    lens = torch.zeros(len(texts), dtype=torch.long)
    for row, text in enumerate(texts):
        ids = [CLIP_START_TOKEN, *bpe.encode(text)[: context - 2], CLIP_END_TOKEN]
        tokens[row, : len(ids)] = torch.tensor(ids)
        lens[row] = len(ids)
    return tokens, lens


@functools.cache
def _bpe():
    # Imported here, once: open_clip is slow to import and reading its 49,408-token vocabulary takes a moment.
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()
