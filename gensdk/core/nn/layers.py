"""Small layers from ProGAN (Karras et al. 2018): minibatch stddev, pixel norm, equalized learning rate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MinibatchStdDev(nn.Module):
    """Append the mean standard deviation over a group of samples as one extra channel (or feature).

    The discriminator can then see how varied a batch is, which discourages mode collapse.
    Input ``[B, C, H, W]`` gives ``[B, C + 1, H, W]``; input ``[B, F]`` gives ``[B, F + 1]``.

    Samples are split into groups of ``G = min(group_size, B)`` (sample ``i`` is in group ``i % (B // G)``,
    as in ProGAN). When ``B`` is not divisible by ``G``, ``G`` falls back to the largest divisor of ``B``
    that is ``<= G`` (for a prime batch that is 1, where the statistic is the constant ``sqrt(eps)``).
    The statistic is computed in float32 (safe under bf16 autocast) and cast back to the input dtype.
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"MinibatchStdDev: group_size must be >= 1, got {group_size!r}")
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (2, 4):
            raise ValueError(f"MinibatchStdDev: expected a 2-D or 4-D input, got shape {tuple(x.shape)}")
        b = x.shape[0]
        g = min(self.group_size, b)
        while b % g:
            g -= 1
        y = x.float().reshape(g, b // g, *x.shape[1:])
        std = (y.var(dim=0, unbiased=False) + self.eps).sqrt()        # [B/G, ...]
        stat = std.flatten(1).mean(dim=1).repeat(g).to(x.dtype)      # one value per sample, [B]
        if x.dim() == 4:
            stat = stat.view(b, 1, 1, 1).expand(b, 1, x.shape[2], x.shape[3])
        else:
            stat = stat.view(b, 1)
        return torch.cat([x, stat], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class PixelNorm(nn.Module):
    """Normalise each position's feature vector (dim 1) to unit RMS: ProGAN's replacement for BatchNorm in G."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class EqualizedLinear(nn.Module):
    """Linear layer with equalized learning rate: weights ~ N(0, 1), scaled at runtime by ``gain / sqrt(fan_in)``.

    Scaling at runtime instead of at init makes Adam's per-parameter step sizes equal across layers.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class EqualizedConv2d(nn.Module):
    """Conv2d with equalized learning rate (see :class:`EqualizedLinear`); fan_in = in_channels * k * k."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}"
