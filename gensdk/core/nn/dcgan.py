"""DCGAN generator and discriminator body (Radford et al. 2016), with optional SAGAN attention.

Both are all-convolutional (strided convs, no pooling) and use the DCGAN init: conv weights
~ N(0, 0.02), BatchNorm scales ~ N(1, 0.02), biases 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from gensdk.core.nn.attention import SelfAttention2d
from gensdk.core.nn.layers import MinibatchStdDev


def _check_size(name: str, img_size: int) -> int:
    if not isinstance(img_size, int) or img_size < 8 or img_size & (img_size - 1):
        raise ValueError(f"{name}: img_size must be a power of 2 >= 8, got {img_size!r}")
    return img_size.bit_length() - 1  # log2


def _check_positive(name: str, what: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")


def _check_attention(name: str, attention_at: int | None, valid: list[int]) -> None:
    if attention_at is not None and attention_at not in valid:
        raise ValueError(f"{name}: attention_at must be one of {valid} (a hidden stage's resolution) "
                         f"or None, got {attention_at!r}")


def _dcgan_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """``z [B, z_in] -> image [B, channels, img_size, img_size]`` in ``[-1, 1]``.

    A 4x4 transposed conv projects z to ``width * 2^(n-1)`` channels at 4x4; each stride-2 stage
    (ConvTranspose2d(4, 2, 1) + BatchNorm + ReLU) doubles the resolution and halves the channels,
    reaching ``width`` at ``img_size / 2``; a last transposed conv gives ``channels`` with tanh.
    ``attention_at`` (4 .. img_size/2) inserts a :class:`SelfAttention2d` after that resolution's stage.
    """

    def __init__(self, z_in: int, img_size: int, channels: int, width: int = 64,
                 attention_at: int | None = None):
        super().__init__()
        name = "DCGANGenerator"
        n = _check_size(name, img_size) - 2           # number of stride-2 upsamplings (the last one is to RGB)
        for what, value in (("z_in", z_in), ("channels", channels), ("width", width)):
            _check_positive(name, what, value)
        _check_attention(name, attention_at, [4 << i for i in range(n)])
        self.z_in, self.img_size, self.channels = z_in, img_size, channels

        ch = width * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, ch, 4, 1, 0, bias=False),  # 1x1 -> 4x4
                                   nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        res = 4
        if attention_at == res:
            layers.append(SelfAttention2d(ch))
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),  # no bias: BN removes it
                       nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch, res = ch // 2, res * 2
            if attention_at == res:
                layers.append(SelfAttention2d(ch))
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_in:
            raise ValueError(f"DCGANGenerator: expected z of shape [B, {self.z_in}], got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Discriminator body: ``x [B, channels, img_size, img_size] -> features [B, out_features]``.

    Stride-2 Conv2d(4, 2, 1) + LeakyReLU(0.2) stages halve the resolution down to 4x4 while the
    channels double from ``width``. BatchNorm follows every stage conv but the first, unless
    ``batch_norm=False``; by default it is on, and off when ``spectral_norm=True`` (SN replaces it,
    as in SAGAN/SNGAN). Turn it off for WGAN-GP too: BN couples samples, which breaks the per-sample
    gradient penalty. ``minibatch_std`` does not change the BN choice. ``spectral_norm`` wraps every
    conv (attention included). Optional :class:`MinibatchStdDev` comes right before the last conv, a
    4x4 valid conv to the same number of channels + LeakyReLU, flattened to ``out_features``.
    """

    def __init__(self, img_size: int, channels: int, width: int = 64, minibatch_std: bool = False,
                 attention_at: int | None = None, spectral_norm: bool = False,
                 batch_norm: bool | None = None):
        super().__init__()
        name = "DCGANDiscriminator"
        n = _check_size(name, img_size) - 2           # number of stride-2 downsamplings, to 4x4
        for what, value in (("channels", channels), ("width", width)):
            _check_positive(name, what, value)
        _check_attention(name, attention_at, [img_size >> i for i in range(1, n + 1)])
        use_bn = not spectral_norm if batch_norm is None else batch_norm
        wrap = _sn if spectral_norm else (lambda m: m)
        self.img_size, self.channels = img_size, channels

        def conv(c_in: int, c_out: int, *args: int, bias: bool = True) -> nn.Module:
            c = nn.Conv2d(c_in, c_out, *args, bias=bias)
            _dcgan_init(c)                             # init before SN reparametrises the weight
            return wrap(c)

        layers: list[nn.Module] = []
        c_in, ch, res = channels, width, img_size
        for i in range(n):
            bn = use_bn and i > 0
            layers.append(conv(c_in, ch, 4, 2, 1, bias=not bn))   # no bias before BN: BN removes it
            if bn:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2))
            res //= 2
            if attention_at == res:
                layers.append(SelfAttention2d(ch, spectral_norm=spectral_norm))
            c_in, ch = ch, ch * 2
        if minibatch_std:
            layers.append(MinibatchStdDev())
        layers += [conv(c_in + int(minibatch_std), c_in, 4, 1, 0), nn.LeakyReLU(0.2),
                   nn.Flatten()]
        self.net = nn.Sequential(*layers)
        for m in self.net.modules():                   # BN scales (convs were initialised above)
            if isinstance(m, nn.BatchNorm2d):
                _dcgan_init(m)
        self.out_features = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[2] != self.img_size or x.shape[3] != self.img_size:
            raise ValueError(f"DCGANDiscriminator: expected x of shape [B, {self.channels}, {self.img_size}, "
                             f"{self.img_size}], got {tuple(x.shape)}")
        return self.net(x)
