"""Masked layers for autoregressive models: MADE's ``MaskedLinear`` and PixelCNN's ``MaskedConv2d``.

A mask is a registered buffer multiplied into the weight on every forward, so a masked-out weight
receives no gradient and contributes nothing, and the mask travels with the model's state dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask`` of shape ``[out, in]``.

    Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation". The mask starts
    all ones; ``set_mask`` replaces it in place (MADE swaps masks for order-agnostic training).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 mask: torch.Tensor | None = None):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))
        if mask is not None:
            self.set_mask(mask)

    def set_mask(self, mask: torch.Tensor) -> None:
        if tuple(mask.shape) != tuple(self.mask.shape):
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match weight {tuple(self.mask.shape)}")
        self.mask.copy_(mask)  # copy_ keeps the buffer's device and dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def channel_groups(n: int, data_channels: int) -> torch.Tensor:
    """Assign ``n`` feature maps to ``data_channels`` contiguous, near-equal groups (0, 0, 1, 1, 2, ...)."""
    return torch.arange(n) * data_channels // n


class MaskedConv2d(nn.Conv2d):
    """A PixelCNN convolution (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4).

    Pixels are generated in raster order (row by row, left to right). The kernel sees every pixel
    above the centre row and the pixels left of the centre on the centre row. At the centre pixel
    itself the feature maps are split into ``data_channels`` groups (e.g. R, G, B), and

    - mask ``"A"`` (first layer, which sees the raw image) connects output group ``g`` to input
      groups ``< g``: a channel never sees itself, only the earlier channels of the same pixel;
    - mask ``"B"`` (every later layer) connects group ``g`` to groups ``<= g``.

    With ``data_channels=1`` this is the familiar mask: A hides the centre, B keeps it. Padding
    defaults to ``kernel_size // 2`` so the output has the input's spatial size.
    """

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int,
                 data_channels: int = 1, padding: int | None = None, bias: bool = True):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so the kernel has a centre, got {kernel_size}")
        if data_channels < 1:
            raise ValueError(f"data_channels must be >= 1, got {data_channels}")
        super().__init__(in_channels, out_channels, kernel_size,
                         padding=kernel_size // 2 if padding is None else padding, bias=bias)
        self.mask_type = mask_type
        c = kernel_size // 2
        mask = torch.ones(out_channels, in_channels, kernel_size, kernel_size)
        mask[:, :, c, c + 1:] = 0  # right of the centre on the centre row: the future
        mask[:, :, c + 1:, :] = 0  # every row below: the future
        out_group = channel_groups(out_channels, data_channels)[:, None]
        in_group = channel_groups(in_channels, data_channels)[None, :]
        centre = in_group < out_group if mask_type == "A" else in_group <= out_group
        mask[:, :, c, c] = centre.float()
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)
