"""Exact, device-independent decoder networks: the hyper-synthesis (which sets the entropy model's
parameters) and the synthesis (which makes the pixels) in fixed-point arithmetic.

Why: a learned codec whose decoder runs in floating point decodes differently on different devices
(summation order, fused multiply-adds, library kernels), and a single scale that lands in another
table bin derails the range decoder for the rest of the file (Balle et al., "Integer networks for
data compression with latent-variable models", 2019). Here every tensor of the decoder holds
integers: weights are scaled by a power of two per output channel and rounded to 16 bits, each
activation by a power of two per layer (calibrated) and clamped to 24 bits, and each layer's
rescaling is a multiplication by a power of two followed by floor (the power made exactly, by
ldexp on the CPU: ``power_of_two``). The integers are carried in
float64, which represents every integer below 2**53 exactly, so convolutions (an im2col plus a
matrix product on CPU and on CUDA with cuDNN off) give the same integers whatever the order of the
sums; ``build`` checks the worst case of every accumulator against 2**53. Transposed convolutions
are rewritten as 3x3 convolutions with four phases and a pixel shuffle, and long rows are processed
in chunks so that memory stays bounded.

A float network is converted once (``IntegerNet.calibrate``) after training; the integer weights
are buffers of the model and travel in its safetensors file.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gensdk_plugins.compression.layers import GDN

ACT_LIMIT = 2 ** 23          # |activation| < 2**23 after every layer (clamped)
ACT_TARGET = 2 ** 21         # calibration puts the largest activation seen near here (4x headroom)
WEIGHT_LIMIT = 2 ** 15 - 1   # 16-bit weights
SQUARE_SHIFT = 8             # IGDN squares activations shifted down to 15 bits
GAMMA_LIMIT = 2 ** 12
EXACT = 2 ** 53
CHUNK_ELEMENTS = 2 ** 25     # im2col elements per convolution call (256 MiB of float64)


def exponent_for(max_abs: float, target: float) -> int:
    """The power of two that maps ``max_abs`` to at most ``target``."""
    return int(math.floor(math.log2(target / max_abs))) if max_abs > 0 else 0


def power_of_two(exponent: int | torch.Tensor) -> float | torch.Tensor:
    """2**exponent exactly, made on the CPU by ldexp (Python's or NumPy's), never by a device's pow or
    exp2: CUDA's double pow is only accurate to 2 ulp, and a factor one ulp off moves the rounding
    ties of ``rescale`` (x * 2**-k exactly half-way), which changes a pixel on one device only."""
    if isinstance(exponent, torch.Tensor):
        return torch.from_numpy(np.ldexp(1.0, exponent.cpu().numpy().astype(np.int64)))
    return math.ldexp(1.0, int(exponent))


def rescale(x: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """round(x * scale) for integer-valued float64 x and a ``power_of_two`` scale: exact (the product
    is exact, then floor of x + 0.5)."""
    return torch.floor(x * scale + 0.5)


def clamp(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-ACT_LIMIT, ACT_LIMIT - 1)


def exact_conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """3x3 convolution, zero padding 1, of integer-valued float64 tensors, in row chunks, with cuDNN
    off so that no transform-based algorithm (FFT, Winograd) rounds the sums."""
    rows = max(1, CHUNK_ELEMENTS // max(1, x.shape[0] * x.shape[1] * 9 * x.shape[3]))
    padded = F.pad(x, (1, 1, 1, 1))
    with torch.backends.cudnn.flags(enabled=False):
        return torch.cat([F.conv2d(padded[:, :, r:r + rows + 2], weight) for r in range(0, x.shape[2], rows)], 2)


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(n)) of non-negative integers below 2**53, exactly: the float square root is at most
    one off whatever its rounding, and the two corrections are exact integer comparisons."""
    s = torch.floor(torch.sqrt(n))
    s = s - (s * s > n).double()
    return s + ((s + 1) * (s + 1) <= n).double()


def phase_kernel(weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose2d(k=5, stride=2, padding=2, output_padding=1) weight (Cin, Cout, 5, 5) -> the
    (4 Cout, Cin, 3, 3) weight of a 3x3 convolution whose pixel shuffle by 2 gives the same output:
    output pixel 2m + p takes input m + j - 1 through tap p + 4 - 2j."""
    cin, cout = weight.shape[:2]
    out = weight.new_zeros(cout, 2, 2, cin, 3, 3)
    for py in range(2):
        for px in range(2):
            for jy in range(3):
                for jx in range(3):
                    ty, tx = py + 4 - 2 * jy, px + 4 - 2 * jx
                    if ty < 5 and tx < 5:
                        out[:, py, px, :, jy, jx] = weight[:, :, ty, tx].T
    return out.reshape(4 * cout, cin, 3, 3)


class IntConv(nn.Module):
    """An integer 3x3 stride-1 convolution, or a 5x5 stride-2 transposed one (``up``)."""

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        self.up = isinstance(layer, nn.ConvTranspose2d)
        shape = layer.weight.shape
        if self.up and (shape[2:] != (5, 5) or layer.stride != (2, 2) or layer.padding != (2, 2)
                        or layer.output_padding != (1, 1)):
            raise ValueError(f"integer decoder: unsupported transposed convolution {layer}")
        if not self.up and (shape[2:] != (3, 3) or layer.stride != (1, 1) or layer.padding != (1, 1)):
            raise ValueError(f"integer decoder: unsupported convolution {layer}")
        cout = shape[1] if self.up else shape[0]
        self.register_buffer("weight", torch.zeros(shape, dtype=torch.int16))  # |w| <= WEIGHT_LIMIT
        self.register_buffer("bias", torch.zeros(cout, dtype=torch.float64))
        self.register_buffer("weight_exp", torch.zeros(cout, dtype=torch.int32))
        self.register_buffer("exps", torch.zeros(2, dtype=torch.int32))  # input, output exponents
        self._kernel: tuple | None = None

    def build(self, layer: nn.Module, a_in: int, out_max: float) -> int:
        w = layer.weight.detach().double().cpu()
        per_out = w.abs().amax(dim=(0, 2, 3) if self.up else (1, 2, 3))
        wexp = torch.tensor([exponent_for(float(m), WEIGHT_LIMIT) for m in per_out], dtype=torch.int32)
        shape = (1, -1, 1, 1) if self.up else (-1, 1, 1, 1)
        W = torch.round(w * torch.pow(2.0, wexp.double()).reshape(shape))
        a_out = exponent_for(out_max, ACT_TARGET)
        B = torch.round(layer.bias.detach().double().cpu() * torch.pow(2.0, (a_in + wexp).double()))
        fan = W.abs().sum(dim=(0, 2, 3) if self.up else (1, 2, 3))
        if float((fan * ACT_LIMIT + B.abs()).max()) >= EXACT:
            raise ValueError("integer decoder: an accumulator could exceed 2**53")
        self.weight.copy_(W.to(torch.int16))
        self.bias.copy_(B)
        self.weight_exp.copy_(wexp)
        self.exps.copy_(torch.tensor([a_in, a_out], dtype=torch.int32))
        self._kernel = None
        return a_out

    def kernel(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = (device, self.weight._version, self.exps._version)  # a load_state_dict bumps the versions
        if self._kernel is None or self._kernel[0] != key:
            w = self.weight.to(device, torch.float64)
            scale = power_of_two(self.exps[1] - self.exps[0] - self.weight_exp).to(device)
            bias = self.bias.to(device)
            if self.up:
                w, scale, bias = phase_kernel(w), scale.repeat_interleave(4), bias.repeat_interleave(4)
            self._kernel = (key, (w, bias[None, :, None, None], scale[None, :, None, None]))
        return self._kernel[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, bias, scale = self.kernel(x.device)
        y = clamp(rescale(exact_conv3x3(x, w) + bias, scale))
        return F.pixel_shuffle(y, 2) if self.up else y


class IntReLU(nn.Module):
    def __init__(self, slope: float = 0.0):
        super().__init__()
        self.slope = round(slope * 2 ** 16)  # leaky slope in 1/65536ths (0.01 -> 655)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.slope:
            return torch.clamp_min(x, 0)
        return torch.where(x >= 0, x, rescale(x * self.slope, power_of_two(-16)))


class IntIGDN(nn.Module):
    """y_i = x_i sqrt(beta_i + sum_j gamma_ij x_j^2) with x' = x / 2**SQUARE_SHIFT squared, gamma in
    12 bits at an even exponent g, so that sqrt of the integer sum carries the exponent
    (a - SQUARE_SHIFT) + g / 2 exactly."""

    def __init__(self, layer: GDN):
        super().__init__()
        channels = layer.beta_param.shape[0]
        self.register_buffer("gamma", torch.zeros(channels, channels, dtype=torch.int16))  # <= GAMMA_LIMIT
        self.register_buffer("beta", torch.zeros(channels, dtype=torch.float64))
        self.register_buffer("exps", torch.zeros(3, dtype=torch.int32))  # input, output, gamma exponents

    def build(self, layer: GDN, a_in: int, out_max: float) -> int:
        gamma, beta = layer.gamma().detach().double().cpu(), layer.beta().detach().double().cpu()
        g = 2 * (exponent_for(float(gamma.max()), GAMMA_LIMIT) // 2)
        square_bound = (ACT_LIMIT >> SQUARE_SHIFT) ** 2
        while True:
            G = torch.round(gamma * 2.0 ** g)
            B = torch.round(beta * 2.0 ** (2 * (a_in - SQUARE_SHIFT) + g))
            if float((G.sum(1) * square_bound + B).max()) < EXACT:
                break
            g -= 2
        a_out = exponent_for(out_max, ACT_TARGET)
        self.gamma.copy_(G.to(torch.int16))
        self.beta.copy_(B)
        self.exps.copy_(torch.tensor([a_in, a_out, g], dtype=torch.int32))
        return a_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_in, a_out, g = (int(v) for v in self.exps)
        small = rescale(x, power_of_two(-SQUARE_SHIFT))
        gamma = self.gamma.to(x.device, torch.float64)[:, :, None, None]
        with torch.backends.cudnn.flags(enabled=False):
            norm = F.conv2d(small * small, gamma) + self.beta.to(x.device)[None, :, None, None]
        root = isqrt(norm)  # carries exponent (a_in - SQUARE_SHIFT) + g / 2
        return clamp(rescale(x * root, power_of_two(a_out - a_in - (a_in - SQUARE_SHIFT) - g // 2)))


class IntegerNet(nn.Module):
    """The integer twin of a float ``nn.Sequential`` of convolutions, transposed convolutions, ReLU /
    LeakyReLU and inverse GDN. ``forward`` maps integers at ``input_exp`` to integers at
    ``output_exp`` (value = integer / 2**exp)."""

    def __init__(self, net: nn.Sequential):
        super().__init__()
        layers = []
        for layer in net:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                layers.append(IntConv(layer))
            elif isinstance(layer, nn.ReLU):
                layers.append(IntReLU())
            elif isinstance(layer, nn.LeakyReLU):
                layers.append(IntReLU(layer.negative_slope))
            elif isinstance(layer, GDN) and layer.inverse:
                layers.append(IntIGDN(layer))
            else:
                raise ValueError(f"integer decoder: unsupported layer {layer}")
        self.layers = nn.ModuleList(layers)
        self.register_buffer("io_exps", torch.zeros(2, dtype=torch.int32))

    @property
    def input_exp(self) -> int:
        return int(self.io_exps[0])

    @property
    def output_exp(self) -> int:
        return int(self.io_exps[1])

    @torch.no_grad()
    def calibrate(self, net: nn.Sequential, inputs: list[torch.Tensor], input_exp: int) -> None:
        """Set every exponent from the largest activations of ``net`` on ``inputs`` and convert the
        weights; the calibration inputs are float latents like those the decoder will see."""
        maxima = [0.0] * len(net)
        for x in inputs:
            x = x.float()
            for i, layer in enumerate(net):
                x = layer(x)
                maxima[i] = max(maxima[i], float(x.abs().max()))
        a = input_exp
        for i, (layer, twin) in enumerate(zip(net, self.layers)):
            if isinstance(twin, (IntConv, IntIGDN)):
                a = twin.build(layer, a, maxima[i])
        self.io_exps.copy_(torch.tensor([input_exp, a], dtype=torch.int32))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        for layer in self.layers:
            x = layer(x)
        return x
