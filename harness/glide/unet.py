"""The GLIDE UNet (ADM layout) with its text encoder: (x_t, t, tokens, mask[, low_res, inpaint]) -> eps, variance.

It knows nothing about sampling. Parameter names and order equal the released checkpoints (`base.pt`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .presets import ModelConfig
from .text import LayerNorm, Transformer


class GroupNorm32(nn.GroupNorm):
    """GroupNorm (32 groups in the released models) computed in float32, optionally fused with the SiLU after it."""

    def __init__(self, channels: int, silu: bool = False, groups: int = 32):
        super().__init__(groups, channels, eps=1e-5)
        self.silu = silu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)
        if self.silu:
            h = F.silu(h, inplace=True)
        return h.to(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features [cos, sin] of the original timestep index (cos first, as the released models)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    """Residual block with scale-shift timestep conditioning; optionally resamples by 2 (up or down)."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int,
        dropout: float,
        resample: str = "",
        groups: int = 32,
    ):
        super().__init__()
        self.resample = resample
        self.in_layers = nn.Sequential(
            GroupNorm32(channels, silu=True, groups=groups),
            nn.Identity(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels, groups=groups),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers[0](x)
        h = self.in_layers[2](self._resample(h))
        x = self._resample(x)
        scale, shift = self.emb_layers(emb).to(h.dtype)[..., None, None].chunk(2, dim=1)
        norm, silu, dropout, conv = self.out_layers
        h = norm(h) * (1 + scale) + shift
        h = conv(dropout(silu(h)))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Spatial self-attention whose keys and values are prefixed by projections of the text sequence."""

    def __init__(self, channels: int, heads: int, encoder_channels: int, groups: int = 32):
        super().__init__()
        self.heads = heads
        self.norm = GroupNorm32(channels, groups=groups)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.encoder_kv = nn.Conv1d(encoder_channels, channels * 2, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        # Both projections are laid out head by head: (b, heads, k * head_ch, positions).
        qkv = self.qkv(self.norm(x).reshape(b, c, -1)).reshape(b, self.heads, 3 * c // self.heads, -1)
        q, k, v = qkv.transpose(2, 3).chunk(3, dim=-1)
        q = q.contiguous()  # fused CPU attention kernels need unit stride on the head dimension
        text_kv = self.encoder_kv(text).to(qkv.dtype).reshape(b, self.heads, 2 * c // self.heads, -1)
        text_k, text_v = text_kv.transpose(2, 3).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(q, torch.cat([text_k, k], dim=2), torch.cat([text_v, v], dim=2))
        h = self.proj_out(out.transpose(2, 3).reshape(b, c, -1))
        return x + h.reshape(b, c, height, width)


class Block(nn.ModuleList):
    """A sequence of layers, each given what it needs: the timestep embedding or the text sequence."""

    def forward(self, h: torch.Tensor, emb: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            elif isinstance(layer, AttentionBlock):
                h = layer(h, text)
            else:
                h = layer(h)
        return h


@dataclass(frozen=True)
class TextEmbedding:
    """The text encoder's outputs: `proj` (batch, 4C) joins the timestep embedding, `seq` (batch, width, ctx)
    feeds every attention block."""

    proj: torch.Tensor
    seq: torch.Tensor

    def repeat(self, n: int) -> TextEmbedding:
        return TextEmbedding(self.proj.expand(n, -1), self.seq.expand(n, -1, -1))


class GlideUNet(nn.Module):
    """Text-conditional ADM UNet; with `super_res` it also takes the 64px image to upsample."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.num_channels
        emb_ch = 4 * ch
        groups = cfg.norm_groups
        heads = self._heads(cfg.num_heads)
        heads_up = self._heads(cfg.num_heads_upsample if cfg.num_heads_upsample != -1 else cfg.num_heads)

        # Embedding tables start as N(0, 0.02), as in GPT-2-style text encoders; checkpoints overwrite them.
        self.positional_embedding = nn.Parameter(torch.randn(cfg.text_ctx, cfg.xf_width) * 0.02)
        if cfg.xf_padding:
            self.padding_embedding = nn.Parameter(torch.randn(cfg.text_ctx, cfg.xf_width) * 0.02)
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))

        self.input_blocks = nn.ModuleList([Block([nn.Conv2d(cfg.input_channels, ch, 3, padding=1)])])
        skip_chans, ds = [ch], 1
        for level, mult in enumerate(cfg.mult):
            for _ in range(cfg.num_res_blocks):
                layers = [ResBlock(ch, emb_ch, mult * cfg.num_channels, cfg.dropout, groups=groups)]
                ch = mult * cfg.num_channels
                if ds in cfg.attention_ds:
                    layers.append(AttentionBlock(ch, heads(ch), cfg.xf_width, groups))
                self.input_blocks.append(Block(layers))
                skip_chans.append(ch)
            if level != len(cfg.mult) - 1:
                self.input_blocks.append(Block([self._resample_block(ch, emb_ch, "down")]))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = Block(
            [
                ResBlock(ch, emb_ch, ch, cfg.dropout, groups=groups),
                AttentionBlock(ch, heads(ch), cfg.xf_width, groups),
                ResBlock(ch, emb_ch, ch, cfg.dropout, groups=groups),
            ]
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.mult))):
            for i in range(cfg.num_res_blocks + 1):
                skip = skip_chans.pop()
                layers = [ResBlock(ch + skip, emb_ch, mult * cfg.num_channels, cfg.dropout, groups=groups)]
                ch = mult * cfg.num_channels
                if ds in cfg.attention_ds:
                    layers.append(AttentionBlock(ch, heads_up(ch), cfg.xf_width, groups))
                if level and i == cfg.num_res_blocks:
                    layers.append(self._resample_block(ch, emb_ch, "up"))
                    ds //= 2
                self.output_blocks.append(Block(layers))

        self.out = nn.Sequential(
            GroupNorm32(ch, silu=True, groups=groups), nn.Identity(), nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        )

        self.transformer = Transformer(cfg.xf_width, cfg.xf_layers, cfg.xf_heads)
        if cfg.xf_final_ln:
            self.final_ln = LayerNorm(cfg.xf_width)
        self.token_embedding = nn.Embedding(cfg.n_vocab, cfg.xf_width)
        self.transformer_proj = nn.Linear(cfg.xf_width, emb_ch)

    def _heads(self, num_heads: int):
        head_ch = self.cfg.num_head_channels

        def heads(channels: int) -> int:
            return channels // head_ch if head_ch != -1 else num_heads

        return heads

    def _resample_block(self, ch: int, emb_ch: int, direction: str) -> nn.Module:
        if not self.cfg.resblock_updown:
            raise ValueError(
                "model.resblock_updown=false is not supported: the released models use resblock resampling"
            )
        return ResBlock(ch, emb_ch, ch, self.cfg.dropout, resample=direction, groups=self.cfg.norm_groups)

    def encode_text(self, tokens: torch.Tensor, mask: torch.Tensor) -> TextEmbedding:
        """Text embedding of (batch, text_ctx) tokens; padding positions take a learned per-position embedding."""
        x = self.token_embedding(tokens) + self.positional_embedding[None]
        if self.cfg.xf_padding:
            x = torch.where(mask[..., None], x, self.padding_embedding[None])
        x = self.transformer(x)
        if self.cfg.xf_final_ln:
            x = self.final_ln(x)
        # The last position (usually padding) summarises the prompt for the timestep embedding.
        return TextEmbedding(proj=self.transformer_proj(x[:, -1]), seq=x.permute(0, 2, 1))

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        text: TextEmbedding,
        low_res: torch.Tensor | None = None,
        inpaint_image: torch.Tensor | None = None,
        inpaint_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Model output (batch, 6, H, W): eps and the variance interpolation values v, for original timesteps.

        An inpainting model takes `inpaint_image` (batch, 3, H, W) and `inpaint_mask` (batch, 1, H, W), 1 where
        the source pixel is kept; either one missing is zeros, as in the official code.
        """
        inputs = [x]
        if self.cfg.inpaint:
            b, _, height, width = x.shape
            if inpaint_image is None:
                inpaint_image = x.new_zeros(b, self.cfg.in_channels, height, width)
            if inpaint_mask is None:
                inpaint_mask = x.new_zeros(b, 1, height, width)
            inputs += [(inpaint_image * inpaint_mask).to(x.dtype), inpaint_mask.to(x.dtype)]
        elif inpaint_image is not None or inpaint_mask is not None:
            raise ValueError("inpaint_image and inpaint_mask need an inpainting model (model.inpaint=true)")
        if self.cfg.super_res:
            if low_res is None:
                raise ValueError("the super-resolution model needs low_res")
            up = F.interpolate(low_res, size=x.shape[-2:], mode="bilinear", align_corners=False)
            inputs.append(up.to(x.dtype))
        x = torch.cat(inputs, dim=1)
        emb = self.time_embed(timestep_embedding(timesteps, self.cfg.num_channels).to(x.dtype))
        emb = emb + text.proj.to(emb.dtype)
        h, skips = x, []
        for block in self.input_blocks:
            h = block(h, emb, text.seq)
            skips.append(h)
        h = self.middle_block(h, emb, text.seq)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, text.seq)
        return self.out(h).to(x.dtype)

    def cast_matmul_weights(self, dtype: torch.dtype) -> GlideUNet:
        """Store conv, linear and embedding weights in `dtype`, norms in float32, as official fp16 inference does.

        Autocast would otherwise cast every weight again on every forward.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Linear | nn.Embedding):
                module.to(dtype)
        return self

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every state-dict key with its shape, in order: what a checkpoint for this config must hold."""
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}
