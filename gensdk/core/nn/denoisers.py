"""Denoising networks for diffusion and flow matching: ``net(x, t, y) -> output shaped like x``.

``t`` is a float time in [0, 1] per example (each model family says what it means); ``y`` holds
class indices, where index ``num_classes`` is the "no label" class that classifier-free guidance
trains with (so a conditional net has ``num_classes + 1`` embeddings). ``context`` (optional, nets
built with ``context_dim > 0``) is a further vector per example beside the label, e.g. a style
embedding; a zero vector stands for "no context". Both nets add the time, label and context
embeddings into every block, as the DDPM U-Net does with time (Ho et al. 2020).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.nn.attention import AttentionBlock2d

TIME_SCALE = 1000.0  # t in [0, 1] is embedded as t * 1000: the frequencies of the DDPM embedding for T = 1000


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style sin/cos features of ``t * TIME_SCALE`` (Vaswani et al. 2017), ``[N] -> [N, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * TIME_SCALE)[:, None] * freqs[None]
    emb = torch.cat([args.cos(), args.sin()], 1)
    return F.pad(emb, (0, dim % 2))


class Conditioning(nn.Module):
    """The embedding of time (sinusoidal, then a 2-layer MLP) plus, when conditional, of the label and
    of the context vector (a linear map without bias, so the zero vector adds nothing)."""

    def __init__(self, base: int, dim: int, num_classes: int, context_dim: int = 0):
        super().__init__()
        if context_dim < 0:
            raise ValueError(f"context_dim must be >= 0, got {context_dim}")
        self.base = base
        self.time = nn.Sequential(nn.Linear(base, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None
        self.context = nn.Linear(context_dim, dim, bias=False) if context_dim else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None, context: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time(sinusoidal_embedding(t, self.base))
        if self.label is not None:
            if y is None:
                raise ValueError("a conditional denoiser needs labels")
            emb = emb + self.label(y)
        if self.context is not None:
            if context is None or context.shape != (len(t), self.context.in_features):
                raise ValueError(f"this denoiser needs a context of shape [{len(t)}, {self.context.in_features}], "
                                 f"got {None if context is None else list(context.shape)}")
            emb = emb + self.context(context.to(emb.dtype))
        return emb


class MLPDenoiser(nn.Module):
    """Residual MLP for vectors ``[N, D]``: ``depth`` blocks of width ``width``, each reading the
    conditioning embedding (LayerNorm keeps the residual stream's scale in check)."""

    def __init__(self, dim: int, width: int = 256, depth: int = 3, num_classes: int = 0, context_dim: int = 0):
        super().__init__()
        if dim < 1 or width < 2 or depth < 1:
            raise ValueError(f"MLP denoiser: dim, width >= 2 and depth >= 1 are needed, got {dim}, {width}, {depth}")
        self.cond = Conditioning(width, width, num_classes, context_dim)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
            for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.cond(t, y, context)
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = h + block(h + emb)
        return self.out(h).view_as(x)


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv; GroupNorm again, scaled and shifted per channel by the embedding;
    SiLU, dropout, 3x3 conv; plus a (1x1) skip. The scale and shift come after the norm (the
    "scale-shift norm" of Dhariwal & Nichol 2021) because an embedding added before a GroupNorm is
    removed by it wherever a group holds a single channel, as at small widths: the net would see
    neither time nor label. The last conv starts at zero, so each block starts as the identity (Ho
    et al. 2020's initialisation)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * cout))
        self.out_norm = group_norm(cout)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), nn.Conv2d(cout, cout, 3, padding=1))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.out_norm(self.in_layers(x)) * (1 + scale) + shift
        return self.skip(x) + self.out_layers(h)


class UNet(nn.Module):
    """A small DDPM-style U-Net for images ``[N, C, H, W]``: one level per entry of ``channel_mult``
    (``width * mult`` channels, ``blocks`` residual blocks each), halving the resolution between
    levels; a middle of two residual blocks around self-attention (``attention``) at the lowest
    resolution; the up path mirrors the down path with skip connections. H and W must be divisible by
    2 ** (levels - 1): 8x8 digits with [1, 2] go 8 -> 4, 32x32 characters with [1, 2, 2] go 32 -> 8."""

    def __init__(self, channels: int, image_size: int, width: int = 64, channel_mult: Sequence[int] = (1, 2),
                 blocks: int = 2, attention: bool = True, dropout: float = 0.0, num_classes: int = 0,
                 context_dim: int = 0):
        super().__init__()
        mult = [int(m) for m in channel_mult]
        if not mult or min(mult) < 1 or width < 1 or blocks < 1:
            raise ValueError(f"U-Net: width, blocks and every channel_mult must be >= 1, got {width}, {blocks}, {mult}")
        if image_size % 2 ** (len(mult) - 1):
            raise ValueError(f"U-Net: image size {image_size} is not divisible by 2^{len(mult) - 1} "
                             f"(channel_mult {mult} has {len(mult)} levels)")
        emb_dim = 4 * width
        self.cond = Conditioning(width, emb_dim, num_classes, context_dim)
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [width], width
        for level, m in enumerate(mult):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, width * m, emb_dim, dropout))
                ch = width * m
                skips.append(ch)
            if level < len(mult) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout)
        self.attn = AttentionBlock2d(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout)
        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(mult))):
            for _ in range(blocks + 1):  # one more than down: it also takes the downsampler's skip
                self.up.append(ResBlock(ch + skips.pop(), width * m, emb_dim, dropout))
                ch = width * m
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.cond(t, y, context)
        h = self.inp(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            h = layer(torch.cat([h, hs.pop()], 1), emb) if isinstance(layer, ResBlock) else layer(h)
        return self.out(h)
