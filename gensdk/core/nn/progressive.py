"""Progressive-growing generator and discriminator body (ProGAN, Karras et al. 2018).

Stage 0 works at ``start_size``; each later stage doubles the resolution up to ``max_size``. When a
stage is new, ``alpha`` fades its block in: G blends its output with the upsampled RGB of the previous
stage, D blends with the previous stage's ``from_rgb`` of the average-pooled image. Both nets use
equalized learning rate and LeakyReLU(0.2); G uses PixelNorm and a linear (not tanh) toRGB; D ends
with a minibatch-stddev block. All layers of all stages exist from the start, so an optimizer built
once sees every parameter (those of later stages just get no gradient until their stage).

``stage`` picks a code path, so under ``torch.compile`` each stage compiles once; pass ``alpha`` as a
0-d tensor there if a Python float would cause recompiles.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.nn.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm


def _check_sizes(name: str, channels: int, start_size: int, max_size: int, width: int) -> int:
    for what, value in (("channels", channels), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")
    if not isinstance(start_size, int) or start_size < 4 or start_size & (start_size - 1):
        raise ValueError(f"{name}: start_size must be a power of 2 >= 4, got {start_size!r}")
    if not isinstance(max_size, int) or max_size < start_size or max_size & (max_size - 1):
        raise ValueError(f"{name}: max_size must be a power of 2 >= start_size={start_size}, got {max_size!r}")
    return int(math.log2(max_size // start_size)) + 1  # number of stages


def _width(res: int, width: int) -> int:
    """Channels at a resolution: ``width`` up to 32x32, then halved per doubling (as ProGAN), floor min(width, 16)."""
    return max(width * 32 // max(res, 32), min(width, 16))


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _check_stage(name: str, stage: int, alpha: float | torch.Tensor, num_stages: int) -> None:
    if not isinstance(stage, int) or not 0 <= stage < num_stages:
        raise ValueError(f"{name}: stage must be an integer in [0, {num_stages - 1}], got {stage!r}")
    if not isinstance(alpha, torch.Tensor) and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{name}: alpha must be in [0, 1], got {alpha!r}")


class _Progressive(nn.Module):
    num_stages: int
    start_size: int

    def resolution(self, stage: int) -> int:
        """Image side at ``stage`` (``start_size * 2**stage``)."""
        if not isinstance(stage, int) or not 0 <= stage < self.num_stages:
            raise ValueError(f"{type(self).__name__}: stage must be in [0, {self.num_stages - 1}], got {stage!r}")
        return self.start_size << stage


class ProGenerator(_Progressive):
    """``z [B, z_in] -> image [B, channels, r, r]`` with ``r = resolution(stage)``; output is linear (not tanh)."""

    def __init__(self, z_in: int, channels: int, start_size: int = 4, max_size: int = 32, width: int = 128):
        super().__init__()
        name = "ProGenerator"
        if not isinstance(z_in, int) or z_in < 1:
            raise ValueError(f"{name}: z_in must be a positive integer, got {z_in!r}")
        self.num_stages = _check_sizes(name, channels, start_size, max_size, width)
        self.z_in, self.channels, self.start_size, self.max_size = z_in, channels, start_size, max_size

        ch = _width(start_size, width)
        self.start_channels = ch
        # ProGAN's first block: a dense layer to a start_size map (gain sqrt(2)/4 as in the reference), then a 3x3 conv.
        self.normalize_z = PixelNorm()
        self.dense = EqualizedLinear(z_in, ch * start_size * start_size, gain=math.sqrt(2) / 4)
        self.head = nn.Sequential(_lrelu(), PixelNorm(), EqualizedConv2d(ch, ch, 3, padding=1), _lrelu(), PixelNorm())
        self.blocks = nn.ModuleList([nn.Identity()])        # stage 0's block is the head above
        self.to_rgb = nn.ModuleList([EqualizedConv2d(ch, channels, 1, gain=1.0)])
        for s in range(1, self.num_stages):
            c_out = _width(start_size << s, width)
            self.blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                EqualizedConv2d(ch, c_out, 3, padding=1), _lrelu(), PixelNorm(),
                EqualizedConv2d(c_out, c_out, 3, padding=1), _lrelu(), PixelNorm()))
            self.to_rgb.append(EqualizedConv2d(c_out, channels, 1, gain=1.0))
            ch = c_out

    def forward(self, z: torch.Tensor, stage: int, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
        _check_stage("ProGenerator", stage, alpha, self.num_stages)
        if z.dim() != 2 or z.shape[1] != self.z_in:
            raise ValueError(f"ProGenerator: expected z of shape [B, {self.z_in}], got {tuple(z.shape)}")
        x = self.dense(self.normalize_z(z)).view(z.shape[0], self.start_channels, self.start_size, self.start_size)
        x = self.head(x)
        prev = x
        for s in range(1, stage + 1):
            prev = x
            x = self.blocks[s](x)
        out = self.to_rgb[stage](x)
        if stage > 0 and (isinstance(alpha, torch.Tensor) or alpha < 1.0):
            old = F.interpolate(self.to_rgb[stage - 1](prev), scale_factor=2, mode="nearest")
            out = alpha * out + (1.0 - alpha) * old
        return out


class ProDiscriminator(_Progressive):
    """Discriminator body: ``x [B, channels, r, r] -> features [B, out_features]`` with ``r = resolution(stage)``."""

    def __init__(self, channels: int, start_size: int = 4, max_size: int = 32, width: int = 128):
        super().__init__()
        name = "ProDiscriminator"
        self.num_stages = _check_sizes(name, channels, start_size, max_size, width)
        self.channels, self.start_size, self.max_size = channels, start_size, max_size

        widths = [_width(start_size << s, width) for s in range(self.num_stages)]
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(channels, c, 1), _lrelu()) for c in widths])
        # blocks[s] maps stage s's resolution to stage s-1's (mirror of G); blocks[0] is unused.
        self.blocks = nn.ModuleList([nn.Identity()])
        for s in range(1, self.num_stages):
            self.blocks.append(nn.Sequential(
                EqualizedConv2d(widths[s], widths[s], 3, padding=1), _lrelu(),
                EqualizedConv2d(widths[s], widths[s - 1], 3, padding=1), _lrelu(),
                nn.AvgPool2d(2)))
        ch = widths[0]
        self.final = nn.Sequential(
            MinibatchStdDev(),
            EqualizedConv2d(ch + 1, ch, 3, padding=1), _lrelu(),
            nn.Flatten(),
            EqualizedLinear(ch * start_size * start_size, ch), _lrelu())
        self.out_features = ch

    def forward(self, x: torch.Tensor, stage: int, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
        _check_stage("ProDiscriminator", stage, alpha, self.num_stages)
        r = self.start_size << stage
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[2] != r or x.shape[3] != r:
            raise ValueError(f"ProDiscriminator: stage {stage} expects x of shape [B, {self.channels}, {r}, {r}], "
                             f"got {tuple(x.shape)}")
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage](h)
            if isinstance(alpha, torch.Tensor) or alpha < 1.0:
                old = self.from_rgb[stage - 1](F.avg_pool2d(x, 2))
                h = alpha * h + (1.0 - alpha) * old
            for s in range(stage - 1, 0, -1):
                h = self.blocks[s](h)
        return self.final(h)
