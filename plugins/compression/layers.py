"""Building blocks of the transform codecs (Balle et al. 2017/2018, CompressAI's layout).

GDN is written here because no maintained library outside CompressAI provides it, and CompressAI's
pinned torch range does not admit the torch this project runs on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows where it would push x up (Balle's lower_bound)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * ((x >= ctx.bound) | (grad < 0)).to(grad.dtype), None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    # the bound stays a Python number: a tensor made from it each call would be a host-to-device
    # copy per step, which a CUDA graph cannot capture
    return _LowerBound.apply(x, float(bound))


class GDN(nn.Module):
    """Generalized divisive normalization: y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2); the inverse
    (IGDN, in the synthesis transform) multiplies instead. beta and gamma are kept non-negative by
    Balle's reparameterization (stored as square roots, bounded below)."""

    pedestal = 2.0 ** -36

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_bound = (beta_min + self.pedestal) ** 0.5
        self.gamma_bound = self.pedestal ** 0.5
        self.beta_param = nn.Parameter(torch.sqrt(torch.ones(channels) + self.pedestal))
        self.gamma_param = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self.pedestal))

    def beta(self) -> torch.Tensor:
        return lower_bound(self.beta_param, self.beta_bound) ** 2 - self.pedestal

    def gamma(self) -> torch.Tensor:
        return lower_bound(self.gamma_param, self.gamma_bound) ** 2 - self.pedestal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma()
        norm = F.conv2d(x * x, gamma[:, :, None, None].to(x.dtype), self.beta().to(x.dtype))
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Upsampling by ``stride`` exactly (output = stride x input), as CompressAI's ``deconv``."""
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, output_padding=stride - 1, padding=kernel // 2)
