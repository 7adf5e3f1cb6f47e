"""Distortion and rate-distortion metrics of image compression: PSNR, MS-SSIM and Bjontegaard deltas.

PSNR and MS-SSIM are computed on RGB at 8 bits (peak 255) for codec output, and on [0, 1] float
tensors for training, with the same definitions so that a training log and a benchmark agree.

BD-rate / BD-PSNR (G. Bjontegaard, VCEG-M33, 2001) average the gap between two RD curves over the
range where both are measured. ``method="pchip"`` (default) interpolates each curve with a piecewise
cubic Hermite polynomial, as the JCT-VC / JVET common-test-condition spreadsheets and CompressAI do;
``method="cubic"`` fits one cubic polynomial, as in the original VCEG-M33 proposal. Both need at
least 4 points per curve (the CTC use 4): fewer raise ValueError, and so do non-finite values or two
points at one distortion. Curves that do not overlap have no BD value: the functions return None,
which a table shows as "n/a", rather than an extrapolation.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli, Bovik 2003
WIN_SIZE = 11


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape, over all pixels and channels (peak 255);
    identical images give inf."""
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ, {a.shape} and {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def psnr_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each item of two (N, C, H, W) batches in [0, 1] (peak 1): a tensor (N,)."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse)


def ms_ssim_torch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """MS-SSIM of each item of two (N, C, H, W) batches: a tensor (N,), differentiable (the training
    loss is ``1 - ms_ssim_torch(x_hat, x).mean()``).

    With a short side of 161 px or more this is the standard 5-scale MS-SSIM, equal to
    ``pytorch_msssim.ms_ssim`` (the test checks it). pytorch_msssim refuses smaller images; here they
    get the scales that fit (a scale needs a side above 10 px, so a 64 px crop has 3 scales) with the
    standard weights of those scales renormalized to sum 1. Such values are fine for comparing codecs
    on the same small images but are not comparable with published 5-scale numbers. Below 11 px
    no scale fits: ValueError."""
    side = min(x.shape[-2:])
    levels = sum(side > (WIN_SIZE - 1) * 2 ** k for k in range(len(MS_SSIM_WEIGHTS)))
    if levels == 0:
        raise ValueError(f"ms_ssim: images of {tuple(x.shape[-2:])} px are too small (short side must be > 10)")
    with torch.autocast(x.device.type, enabled=False):  # float32 even in a bf16 training step
        return _ms_ssim(x.float(), y.float(), levels, data_range)


def _ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int, data_range: float) -> torch.Tensor:
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim  # the per-scale SSIM and contrast terms

    weights = x.new_tensor(MS_SSIM_WEIGHTS[:levels])
    if levels < len(MS_SSIM_WEIGHTS):  # the standard 5 weights sum to 1.0001: keep them as published
        weights = weights / weights.sum()
    win = _fspecial_gauss_1d(WIN_SIZE, 1.5).repeat([x.shape[1], 1, 1, 1])
    terms = []
    for level in range(levels):
        ssim, cs = _ssim(x, y, win=win, data_range=data_range, size_average=False, K=(0.01, 0.03))
        if level < levels - 1:
            terms.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=padding), F.avg_pool2d(y, 2, padding=padding)
    terms.append(torch.relu(ssim))
    return torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0).mean(1)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two uint8 RGB (H, W, 3) images (data range 255); see ``ms_ssim_torch`` for images
    under 161 px on a side."""
    if a.shape != b.shape:
        raise ValueError(f"ms_ssim: shapes differ, {a.shape} and {b.shape}")
    # torch.tensor copies: the arrays Pillow returns are read-only, which torch.from_numpy warns about
    to_tensor = lambda v: torch.tensor(v, dtype=torch.float32).permute(2, 0, 1)[None]  # noqa: E731
    return float(ms_ssim_torch(to_tensor(a), to_tensor(b), data_range=255.0)[0])


# --- Bjontegaard deltas -------------------------------------------------------------------------

def _curve(points: Iterable[Sequence[float]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(rate, distortion) points -> (log rate, distortion) sorted by distortion, checked."""
    pts = np.asarray([tuple(p)[:2] for p in points], dtype=np.float64)
    if pts.ndim != 2 or len(pts) < 4:
        raise ValueError(f"BD: curve {name} has {len(pts)} points, needs at least 4 (rate, distortion) points")
    if not np.isfinite(pts).all() or (pts[:, 0] <= 0).any():
        raise ValueError(f"BD: curve {name} has a rate <= 0 or a non-finite value")
    pts = pts[np.argsort(pts[:, 1])]
    if (np.diff(pts[:, 1]) <= 0).any():
        raise ValueError(f"BD: curve {name} has two points at one distortion value")
    return np.log(pts[:, 0]), pts[:, 1]


def _mean_gap(xa, ya, xb, yb, method: str) -> float | None:
    """Mean of (curve b - curve a), each y as a function of x, over the x range both cover."""
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if hi <= lo:
        return None
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        ia, ib = PchipInterpolator(xa, ya).integrate(lo, hi), PchipInterpolator(xb, yb).integrate(lo, hi)
    elif method == "cubic":
        pa, pb = np.polyint(np.polyfit(xa, ya, 3)), np.polyint(np.polyfit(xb, yb, 3))
        ia = np.polyval(pa, hi) - np.polyval(pa, lo)
        ib = np.polyval(pb, hi) - np.polyval(pb, lo)
    else:
        raise ValueError(f"BD: unknown method {method!r} (known: pchip, cubic)")
    return float((ib - ia) / (hi - lo))


def bd_rate(rd_a: Iterable[Sequence[float]], rd_b: Iterable[Sequence[float]], method: str = "pchip") -> float | None:
    """Bjontegaard delta rate in percent of curve b against anchor a, each a list of (bpp, psnr):
    the mean change of rate at equal distortion, negative when b needs fewer bits. None when the
    distortion ranges do not overlap."""
    la, da = _curve(rd_a, "a")
    lb, db = _curve(rd_b, "b")
    gap = _mean_gap(da, la, db, lb, method)
    return None if gap is None else float((math.exp(gap) - 1) * 100)


def bd_psnr(rd_a: Iterable[Sequence[float]], rd_b: Iterable[Sequence[float]], method: str = "pchip") -> float | None:
    """Bjontegaard delta PSNR in dB of curve b against anchor a: the mean quality gain at equal rate
    (positive when b is better). None when the rate ranges do not overlap."""
    la, da = _curve(rd_a, "a")
    lb, db = _curve(rd_b, "b")
    order_a, order_b = np.argsort(la), np.argsort(lb)
    if (np.diff(la[order_a]) <= 0).any() or (np.diff(lb[order_b]) <= 0).any():
        raise ValueError("BD: a curve has two points at one rate")
    return _mean_gap(la[order_a], da[order_a], lb[order_b], db[order_b], method)


def bd_table(curves: dict[str, Sequence[Sequence[float]]],
             method: str = "pchip") -> dict[tuple[str, str], float | None]:
    """BD-rate of every ordered pair of named curves: ``table[(a, b)]`` is b against anchor a."""
    return {(a, b): bd_rate(curves[a], curves[b], method) for a in curves for b in curves if a != b}
