"""Entropy models: the factorized density of Balle 2018 (for z, and for y in the factorized prior)
and the conditional Gaussian (for y given the hyperprior). Each has two faces:

- training: likelihoods of the noisy or rounded latents, whose -log2 is the rate term;
- coding: probability tables over integer symbols, with one escape symbol per table for values
  outside its support. The tables live in the model's buffers, so encoder and decoder read the same
  numbers from the same file; the ``constriction`` range coder turns them into fixed-point models.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gensdk_plugins.compression.layers import lower_bound

LIKELIHOOD_BOUND = 1e-9
ESCAPE_RANGE = 1 << 16       # an escaped symbol is sent as a 16-bit number: |symbol| <= 32767
SYMBOL_LIMIT = ESCAPE_RANGE // 2 - 1


class EntropyBottleneck(nn.Module):
    """A learned univariate density per channel: the cumulative is a small monotone network
    (softplus matrices, tanh gates, a final sigmoid), and the likelihood of an integer is the mass of
    its unit interval. ``quantiles`` track each channel's tails (trained by ``aux_loss``), which sets
    the support of the coding tables."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9, table_length: int = 512):
        super().__init__()
        self.channels, self.table_length = channels, table_length
        sizes = (1, *filters, 1)
        scale = init_scale ** (1 / (len(sizes) - 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(sizes) - 1):
            init = math.log(math.expm1(1 / scale / sizes[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, sizes[i + 1], sizes[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, sizes[i + 1], 1) - 0.5))
            if i < len(sizes) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, sizes[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        target = math.log(2 / tail_mass - 1)
        self.register_buffer("target", torch.tensor([-target, 0.0, target]))
        # coding tables, filled by update_tables(): symbol v of channel c has probability
        # pmf[c, v - offset[c]] for 0 <= v - offset[c] < length[c]; pmf[c, length[c]] is the escape
        self.register_buffer("table_offset", torch.zeros(channels, dtype=torch.int32))
        self.register_buffer("table_size", torch.zeros(channels, dtype=torch.int32))
        self.register_buffer("table_pmf", torch.zeros(channels, table_length + 1))

    def _logits_cumulative(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """x: (C, 1, n) -> the logit of each channel's cumulative at x, (C, 1, n)."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            matrix, bias = (matrix.detach(), bias.detach()) if detach else (matrix, bias)
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                factor = self.factors[i].detach() if detach else self.factors[i]
                x = x + torch.tanh(factor) * torch.tanh(x)
        return x

    def _mass(self, values: torch.Tensor) -> torch.Tensor:
        """values: (C, 1, n) -> probability of [v - 0.5, v + 0.5] per channel, computed on the side of
        the median where the sigmoid is not saturated (Balle's sign trick)."""
        lower = self._logits_cumulative(values - 0.5)
        upper = self._logits_cumulative(values + 0.5)
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Likelihood of each element of x (B, C, H, W), float32 whatever the autocast."""
        with torch.autocast(x.device.type, enabled=False):
            b, c, h, w = x.shape
            flat = x.float().permute(1, 0, 2, 3).reshape(c, 1, -1)
            mass = self._mass(flat).reshape(c, b, h, w).permute(1, 0, 2, 3)
            return lower_bound(mass, LIKELIHOOD_BOUND)

    def aux_loss(self) -> torch.Tensor:
        """Moves the quantiles (only) to where the cumulative hits tail/2, 1/2 and 1 - tail/2."""
        return torch.abs(self._logits_cumulative(self.quantiles, detach=True) - self.target).sum()

    @torch.no_grad()
    def update_tables(self) -> None:
        """The integer supports and probabilities the range coder uses, from the trained density."""
        q = self.quantiles.detach().float()[:, 0, :]
        median = torch.round(q[:, 1])
        low = torch.maximum(torch.floor(q[:, 0]), median - self.table_length // 2)
        high = torch.minimum(torch.ceil(q[:, 2]), low + self.table_length - 1)
        size = (high - low + 1).clamp(min=1)
        grid = low[:, None] + torch.arange(self.table_length, device=q.device)[None]
        pmf = self._mass(grid[:, None, :])[:, 0, :].double()
        pmf = pmf * (torch.arange(self.table_length, device=q.device)[None] < size[:, None])
        escape = (1 - pmf.sum(1)).clamp(min=LIKELIHOOD_BOUND)
        table = torch.cat([pmf, torch.zeros_like(escape)[:, None]], 1)
        table[torch.arange(self.channels), size.long()] = escape
        self.table_offset.copy_(low.to(torch.int32))
        self.table_size.copy_(size.to(torch.int32))
        self.table_pmf.copy_(table.float())

    def tables(self) -> list[np.ndarray]:
        """One probability vector (symbols, then escape) per channel, for the coder."""
        pmf, size = self.table_pmf.cpu().double().numpy(), self.table_size.cpu().numpy()
        return [pmf[c, :size[c] + 1] for c in range(self.channels)]


def standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2))


class GaussianConditional(nn.Module):
    """y given (mean, scale) from the hyperprior: likelihood of each integer bin of a Gaussian. For
    coding, scales are quantized to a table of 64 log-spaced values (0.11 to 256, as in CompressAI);
    each has a probability vector over [-K, K] (K = 6.1 scales: tail mass 1e-9) plus the escape."""

    scale_min, scale_max, levels, tail_mass = 0.11, 256.0, 64, 1e-9

    def __init__(self):
        super().__init__()
        table = torch.exp(torch.linspace(math.log(self.scale_min), math.log(self.scale_max), self.levels,
                                         dtype=torch.float64))
        tail = -torch.special.ndtri(torch.tensor(self.tail_mass / 2, dtype=torch.float64))
        half = torch.ceil(table * tail).to(torch.int32)
        width = int(2 * half.max()) + 1
        values = torch.arange(width, dtype=torch.float64)[None] - half[:, None]
        upper = standard_normal_cdf((0.5 - values.abs()) / table[:, None])
        lower = standard_normal_cdf((-0.5 - values.abs()) / table[:, None])
        pmf = (upper - lower) * (values.abs() <= half[:, None])
        pmf = torch.cat([pmf, torch.zeros(self.levels, 1, dtype=torch.float64)], 1)
        pmf[torch.arange(self.levels), (2 * half).long() + 1] = (1 - pmf.sum(1)).clamp(min=LIKELIHOOD_BOUND)
        self.register_buffer("scale_table", table.float())
        self.register_buffer("table_half", half)
        self.register_buffer("table_pmf", pmf.float())

    def likelihood(self, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(y.device.type, enabled=False):
            values = (y.float() - means.float()) if means is not None else y.float()
            values = values.abs()
            scales = lower_bound(scales.float(), self.scale_min)
            mass = standard_normal_cdf((0.5 - values) / scales) - standard_normal_cdf((-0.5 - values) / scales)
            return lower_bound(mass, LIKELIHOOD_BOUND)

    def tables(self) -> list[np.ndarray]:
        pmf, half = self.table_pmf.cpu().double().numpy(), self.table_half.cpu().numpy()
        return [pmf[i, :2 * half[i] + 2] for i in range(self.levels)]
