"""Rate-distortion of gensdk's codecs and of classical ones on the same images, in one run.

Every rate is a real file's size: gensdk's from ``compress`` (the bytes a .gsdk file holds), the
classical codecs' from their encoders' output. Distortion is measured on the decoded pixels
(``decompress``, the integer decoder), never on a float reconstruction.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from gensdk_plugins.compression.codec import DEFAULT_TILE, compress, decompress
from gensdk_plugins.compression.metrics import bd_table, ms_ssim, psnr
from gensdk_plugins.compression.models import TransformCodec
from gensdk_plugins.compression.training import load_codec, trained_codecs


@torch.no_grad()
def estimated_bits(model: TransformCodec, image: np.ndarray, quality: int | None = None) -> float:
    """The model's own estimate of the rate: -log2 of the likelihoods of the rounded latents."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(model.device).float() / 255
    model.eval()
    rate = torch.tensor([model.rate_index(quality if quality is not None else model.qualities[0])], device=model.device)
    _, likelihoods = model.latents(model.pad(x), rate)
    return float(model.bits(likelihoods))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def codec_point(model: TransformCodec, images: dict[str, np.ndarray], tile: int = DEFAULT_TILE,
                quality: int | None = None) -> dict:
    """One quality of one model over the images: file bpp, model-estimated bpp (not for a codec
    exported for coding, which lacks the float density models), PSNR, MS-SSIM, and encode / decode
    speed in megapixels per second (wall time, after one warm-up image)."""
    quality = quality if quality is not None else model.qualities[0]
    estimate = not getattr(model, "coding_only", False)
    per_image, enc_s, dec_s, pixels = {}, 0.0, 0.0, 0
    first = next(iter(images.values()))
    decompress(compress(model, first, tile, quality), model)  # warm-up: kernels, allocator
    for name, image in images.items():
        _sync(model.device)
        t0 = time.perf_counter()
        data = compress(model, image, tile, quality)
        _sync(model.device)
        t1 = time.perf_counter()
        decoded = decompress(data, model, name)
        _sync(model.device)
        t2 = time.perf_counter()
        h, w = image.shape[:2]
        enc_s, dec_s, pixels = enc_s + t1 - t0, dec_s + t2 - t1, pixels + h * w
        per_image[name] = {"bpp": 8 * len(data) / (h * w), "psnr": psnr(image, decoded),
                           "ms_ssim": ms_ssim(image, decoded), "bytes": len(data)}
        if estimate:
            per_image[name]["estimated_bpp"] = estimated_bits(model, image, quality) / (h * w)
    keys = ("bpp", "estimated_bpp", "psnr", "ms_ssim") if estimate else ("bpp", "psnr", "ms_ssim")
    mean = {k: statistics.mean(v[k] for v in per_image.values()) for k in keys}
    return {"codec": model.model_name, "quality": quality, **mean, "per_image": per_image,
            "encode_mpix_s": pixels / 1e6 / enc_s, "decode_mpix_s": pixels / 1e6 / dec_s,
            "device": str(model.device)}


def rd_curves(points: list[dict], metric: str = "psnr") -> dict[str, list[tuple[float, float]]]:
    """Points of many codecs -> {codec: [(bpp, metric), ...]}, in the points' order."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        curves.setdefault(p["codec"], []).append((p["bpp"], p[metric]))
    return curves


def evaluate(images: dict[str, np.ndarray], codecs: Path | None = None, classical: tuple[str, ...] = (),
             device: str = "cpu", progress=None) -> dict:
    """RD points of every trained codec in ``codecs`` and every named classical codec, and the BD-rate
    (PSNR) of each curve against each."""
    from gensdk_plugins.compression.classical import rd_points

    points = []
    for name, quality in (trained_codecs(codecs) if codecs is not None else []):
        points.append(codec_point(load_codec(codecs, name, quality, device), images, quality=quality))
        if progress:
            progress(f"{name} q{quality}: {points[-1]['bpp']:.3f} bpp, {points[-1]['psnr']:.2f} dB")
    for name in classical:
        points += rd_points(name, images)
        if progress:
            progress(f"{name}: {len(points)} points so far")
    bd = {f"{b} vs {a}": v for (a, b), v in bd_table(rd_curves(points)).items()}  # b against anchor a
    return {"points": points, "bd_rate_psnr": bd, "images": {k: list(v.shape) for k, v in images.items()}}
