"""Self-attention over image positions: the SAGAN block (Zhang et al. 2019) and the diffusion U-Net's block."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn


class SelfAttention2d(nn.Module):
    """``x + gamma * o(softmax(f(x)^T g(x)) h(x))`` over all ``H*W`` positions; ``gamma`` starts at 0.

    With ``gamma = 0`` the block starts as the identity, so the network first learns local structure
    and mixes in long-range dependencies as ``gamma`` grows. Query/key convs ``f, g`` have
    ``max(1, channels // reduction)`` outputs; the value conv ``h`` has ``channels // 2`` outputs, as in the
    SAGAN/BigGAN reference code (halving the memory of the value path), and ``o`` maps back to
    ``channels``. Unlike that code we do not max-pool keys/values, to keep the block simple. Logits
    are unscaled (``scale=1``), as in the paper. ``spectral_norm=True`` wraps the four 1x1 convs, as
    SAGAN does in both networks.
    """

    def __init__(self, channels: int, reduction: int = 8, spectral_norm: bool = False):
        super().__init__()
        if channels < 2:
            raise ValueError(f"SelfAttention2d: channels must be >= 2, got {channels!r}")
        if not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"SelfAttention2d: reduction must be a positive integer, got {reduction!r}")
        wrap = _sn if spectral_norm else (lambda m: m)
        qk, v = max(1, channels // reduction), channels // 2  # >= 1 for tiny test widths
        self.f = wrap(nn.Conv2d(channels, qk, 1, bias=False))   # queries
        self.g = wrap(nn.Conv2d(channels, qk, 1, bias=False))   # keys
        self.h = wrap(nn.Conv2d(channels, v, 1, bias=False))    # values
        self.o = wrap(nn.Conv2d(v, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        # [B, C', H, W] -> [B, 1 head, HW, C'] for scaled_dot_product_attention
        q = self.f(x).flatten(2).transpose(1, 2).unsqueeze(1)
        k = self.g(x).flatten(2).transpose(1, 2).unsqueeze(1)
        v = self.h(x).flatten(2).transpose(1, 2).unsqueeze(1)
        a = F.scaled_dot_product_attention(q, k, v, scale=1.0)        # [B, 1, HW, C/2]
        a = a.squeeze(1).transpose(1, 2).reshape(b, -1, hgt, wid)
        return x + self.gamma * self.o(a)


class AttentionBlock2d(nn.Module):
    """``x + proj(attention(GroupNorm(x)))``: multi-head self-attention over positions, as in the
    diffusion U-Net (Ho et al. 2020). Unlike SAGAN's block above it normalises its input and scales
    the logits by 1/sqrt(head dim), which keeps the softmax soft for the un-normalised features of
    a residual U-Net; the zero-initialised projection starts it as the identity."""

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"AttentionBlock2d: {channels} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(math.gcd(32, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        # [B, 3C, H, W] -> three [B, heads, HW, C/heads]
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, hgt * wid)
        q, k, v = qkv.transpose(-1, -2).unbind(1)
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(a.transpose(-1, -2).reshape(b, c, hgt, wid))
