"""Pictures of samples with Pillow alone (no plotting stack needed): image grids and 2-D scatters."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def image_grid(images: torch.Tensor, columns: int | None = None, pad: int = 2, scale: int | None = None) -> Image.Image:
    """[N, C, H, W] in [0, 1] or [-1, 1] (detected) -> one RGB grid picture."""
    x = images.detach().float().cpu()
    if x.min() < 0:
        x = (x + 1) / 2
    x = x.clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, _, h, w = x.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.ones(3, rows * (h + pad) + pad, columns * (w + pad) + pad)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = x[i, :3]
    picture = Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    scale = scale or max(1, 256 // max(h, w))
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def scatter(sets: Sequence[torch.Tensor], labels: Sequence[str], size: int = 512,
            limit: float | None = None) -> Image.Image:
    """Overlay 2-D point sets (first two columns), one colour each, with a small legend."""
    points = [s.detach().float().cpu()[:, :2].numpy() for s in sets]
    limit = limit or 1.1 * max(float(np.abs(p).max()) for p in points if len(p))
    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    to_px = lambda v: (v / limit + 1) * size / 2  # noqa: E731
    for k, pts in enumerate(points):
        color = COLORS[k % len(COLORS)]
        for x, y in pts:
            px, py = to_px(x), size - to_px(y)
            draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=color)
        draw.text((8, 8 + 14 * k), labels[k], fill=color)
    return picture
