"""A small text-conditioned UNet whose module names follow Stable Diffusion's.

Why: every parameter preset of the pack selects parameters by SD names (`attn2.to_k`, ...).
A model that shares those names lets the tests, the lab and the benchmarks exercise exactly
the selection logic a real SD1.x UNet sees in ComfyUI, at a size that trains on a CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = (0, 1)
    context_dim: int = 768
    num_heads: int = 4
    groups: int = 8


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class CrossAttention(nn.Module):
    """`attn1` (self) and `attn2` (cross) share this layout: to_q/to_k/to_v/to_out.0."""

    def __init__(self, dim: int, context_dim: int | None, heads: int):
        super().__init__()
        self.heads = heads
        kv_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0.0))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        context = x if context is None else context
        b, n, d = x.shape
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        q, k, v = (z.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = CrossAttention(dim, None, heads)
        self.attn2 = CrossAttention(dim, context_dim, heads)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    def __init__(self, channels: int, context_dim: int, heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(channels, context_dim, heads)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        b, c, h, w = x.shape
        z = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.transformer_blocks:
            z = block(z, context)
        return x + self.proj_out(z).transpose(1, 2).reshape(b, c, h, w)


class ResBlock(nn.Module):
    def __init__(self, channels: int, out_channels: int, emb_dim: int, groups: int):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups, out_channels), nn.SiLU(),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = (nn.Identity() if channels == out_channels
                                else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Stage(nn.Sequential):
    """One entry of input_blocks/output_blocks: a ResBlock, then optionally attention or resampling."""

    def forward(self, x: Tensor, emb: Tensor, context: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x


class UNet(nn.Module):
    """ε-prediction UNet called as `unet(x, t, context=cond)`, like ComfyUI's diffusion_model."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = c = config
        ch, emb_dim = c.model_channels, 4 * c.model_channels
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        attn = lambda width: SpatialTransformer(width, c.context_dim, c.num_heads, c.groups)  # noqa: E731
        self.input_blocks = nn.ModuleList([Stage(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        skips = [ch]
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, mult * c.model_channels, emb_dim, c.groups)]
                ch = mult * c.model_channels
                if level in c.attention_levels:
                    layers.append(attn(ch))
                self.input_blocks.append(Stage(*layers))
                skips.append(ch)
            if level != len(c.channel_mult) - 1:
                self.input_blocks.append(Stage(Downsample(ch)))
                skips.append(ch)
        self.middle_block = Stage(ResBlock(ch, ch, emb_dim, c.groups), attn(ch),
                                  ResBlock(ch, ch, emb_dim, c.groups))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            for i in range(c.num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), mult * c.model_channels, emb_dim, c.groups)]
                ch = mult * c.model_channels
                if level in c.attention_levels:
                    layers.append(attn(ch))
                if level and i == c.num_res_blocks:
                    layers.append(Upsample(ch))
                self.output_blocks.append(Stage(*layers))
        self.out = nn.Sequential(nn.GroupNorm(c.groups, ch), nn.SiLU(),
                                 nn.Conv2d(ch, c.out_channels, 3, padding=1))

    def forward(self, x: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(x.dtype))
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h)
