"""Rate-distortion curves as a PNG: one line per codec, bits per pixel on x.

matplotlib is optional (the ``plot`` extra); gensdk.core.plot draws grids and scatters with Pillow
alone but has no line charts with axes, so this uses matplotlib's Agg canvas directly (no pyplot,
so no global backend or figure state is touched) and writes the file atomically.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

from gensdk.core.io import atomic_write
from gensdk.errors import UserError

LABELS = {"psnr": "PSNR (dB, RGB)", "ms_ssim": "MS-SSIM (dB, -10 log10(1 - MS-SSIM))"}


def _xy(points: Sequence, metric: str) -> tuple[list[float], list[float]]:
    """rd_points dicts or (bpp, value) pairs -> x, y sorted by rate. MS-SSIM is drawn in dB, as in
    CompressAI's plots: raw values crowd just under 1 and hide the differences."""
    pairs = sorted((p["bpp"], p[metric]) if isinstance(p, Mapping) else (p[0], p[1]) for p in points)
    if metric == "ms_ssim":
        pairs = [(b, -10 * math.log10(max(1 - v, 1e-10))) for b, v in pairs]
    return [b for b, _ in pairs], [v for _, v in pairs]


def plot_rd(curves: Mapping[str, Sequence], path: str | os.PathLike, metric: str = "psnr",
            title: str | None = None) -> None:
    """Write a PNG of the curves ``{name: rd_points(...) or [(bpp, value), ...]}`` to ``path``."""
    if metric not in LABELS:
        raise UserError(f"unknown metric {metric!r} (known: {', '.join(LABELS)})")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install matplotlib") from None
    figure = Figure(figsize=(7, 5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, points in curves.items():
        x, y = _xy(points, metric)
        axes.plot(x, y, marker="o", markersize=3, label=name)
    axes.set_xlabel("bits per pixel")
    axes.set_ylabel(LABELS[metric])
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
