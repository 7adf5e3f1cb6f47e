"""Classical image codecs as anchors, through Pillow and pillow-heif, measured by real file bytes.

Each codec encodes a uint8 RGB image to the bytes of a complete file (headers included, as a user
would store it) and decodes them back to uint8 RGB; rate is ``8 * len(bytes) / (H * W)`` bpp.
The options were chosen for compression efficiency, not speed, and are what a paper's table would
state:

- jpeg: Pillow/libjpeg, 4:2:0 chroma (the libjpeg default), ``optimize=True`` (optimal Huffman
  tables: the same pixels in about 3-25% fewer bytes).
- webp: Pillow/libwebp lossy, ``method=6`` (slowest, best). WebP lossy is always 4:2:0.
- jpeg2000: Pillow/OpenJPEG, 9/7 wavelet (``irreversible=True``), the RGB->YCbCr transform
  (``mct=1``: without it the same rate loses about 3 dB), a bare codestream (``no_jp2=True``), and
  rate control by ``quality_mode="rates"``: here the *quality* number is the target bpp, converted
  to OpenJPEG's compression ratio 24 / bpp (OpenJPEG lands within 1% of it).
- avif: Pillow's own AVIF plugin (Pillow >= 11.2; libaom encoder, dav1d decoder), ``subsampling=
  "4:4:4"``, ``speed=2``, ``autotiling=False`` (one tile: tiles cost bits and only buy threads).
  Measured on 3 test photos against speed 0 (BD-rate, PSNR): speed 2 +0.7% at 1/4 of the time,
  speed 4 +5.2% at 1/11, speed 6 +11.6% at 1/50. Speed 2 takes about 5 s per 512x512 image on
  2 busy cores: the whole 6-photo ladder takes minutes, the slowest codec here.
- hevc: HEVC intra (x265) in a HEIF file through pillow-heif 1.x: ``chroma=444`` and encoder
  parameters ``preset=slower``, ``tune=psnr`` and ``x265:psy-rd=0``, ``x265:psy-rdoq=0``,
  ``x265:aq-mode=0``. libheif's defaults (tune=ssim, and psy-rd / aq forced on after the tune)
  trade PSNR for perceived sharpness; switched off, x265 is a PSNR anchor like the HM reference
  used in papers. Measured on the 6 test photos (BD-rate, PSNR): 4:4:4 alone -9.5% against
  libheif's defaults, tune=psnr -14.2%, and with psy-rd, psy-rdoq and aq off -26.0%; preset slower
  gains 0.1% over slow, veryslow nothing more. libheif maps ``quality`` to x265's CRF as
  ``(100 - quality) / 2``.

What was verified about 4:4:4 (tests/test_compression_classical.py checks it on every run): an
image of alternating 1-pixel red and blue columns carries all its information in full-resolution
chroma. At quality 95, hevc and avif reproduce it within 3 levels (mean error < 1); with 4:2:0
(the libheif and Pillow-AVIF defaults) the error is 152 levels at most, 89 on average. The files say
the same: pillow-heif reads ``info["chroma"] == 444`` back from the HEIF, and the AVIF's av1C box
has seq_profile 1 (High) with chroma subsampling x = y = 0.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from gensdk.errors import UserError

from .metrics import ms_ssim, psnr


def _jpeg2000_options(bpp: float) -> dict[str, Any]:
    return {"quality_mode": "rates", "quality_layers": [24.0 / bpp], "irreversible": True, "mct": 1, "no_jp2": True}


HEVC_PARAMS = {"preset": "slower", "tune": "psnr", "x265:psy-rd": "0", "x265:psy-rdoq": "0", "x265:aq-mode": "0"}


def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:
        raise RuntimeError("pillow_heif is not installed") from None
    pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class Codec:
    """One codec: a Pillow format, its save options for a quality number, and a default ladder of
    quality numbers from low to high quality (higher quality: more bytes, less distortion)."""

    name: str
    format: str
    qualities: tuple[float, ...]
    options: Callable[[float], dict[str, Any]]
    install: str  # what to install when the codec does not work here
    setup: Callable[[], None] = field(default=lambda: None)  # e.g. registering a Pillow plugin

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """uint8 RGB (H, W, 3) -> the bytes of one file."""
        self.check()
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{self.name}: expected uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=self.format, **self.options(quality))
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        """The bytes of one file -> uint8 RGB (H, W, 3)."""
        self.check()
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    def check(self) -> None:
        """UserError, naming what to install, when this codec does not work on this machine."""
        reason = _unavailable(self.name)
        if reason:
            raise UserError(f"codec {self.name} is not available here ({reason}): install {self.install}")


CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec("jpeg", "JPEG", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
          lambda q: {"quality": int(q), "subsampling": "4:2:0", "optimize": True}, "Pillow (with libjpeg)"),
    Codec("webp", "WEBP", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
          lambda q: {"quality": int(q), "method": 6}, "Pillow (with libwebp)"),
    Codec("jpeg2000", "JPEG2000", (0.1, 0.15, 0.25, 0.4, 0.6, 0.9, 1.3, 2.0), _jpeg2000_options,
          "Pillow (with OpenJPEG)"),
    Codec("avif", "AVIF", (10, 20, 30, 40, 50, 60, 70, 80, 90),
          lambda q: {"quality": int(q), "speed": 2, "subsampling": "4:4:4", "autotiling": False}, "Pillow>=11.2"),
    Codec("hevc", "HEIF", (0, 10, 20, 30, 40, 50, 60),
          lambda q: {"quality": int(q), "chroma": 444, "enc_params": dict(HEVC_PARAMS)}, "pillow-heif>=1.0",
          _register_heif),
)}


@functools.lru_cache(maxsize=None)
def _unavailable(name: str) -> str:
    """Why the codec cannot round-trip a small image here ("" when it can); tried once per process."""
    codec = CODECS[name]
    try:
        codec.setup()
        probe = np.tile(np.arange(64, dtype=np.uint8)[:, None, None] * 4, (1, 64, 3))
        buffer = io.BytesIO()
        Image.fromarray(probe).save(buffer, format=codec.format, **codec.options(codec.qualities[-1]))
        with Image.open(io.BytesIO(buffer.getvalue())) as im:
            im.convert("RGB").load()
    except Exception as err:  # noqa: BLE001 - KeyError (no such plugin), OSError, RuntimeError, ...
        return str(err) or type(err).__name__
    return ""


def available_codecs() -> list[str]:
    """Names of the codecs that work on this machine."""
    return [name for name in CODECS if not _unavailable(name)]


def get_codec(name: str) -> Codec:
    if name not in CODECS:
        raise UserError(f"unknown codec {name!r} (known: {', '.join(CODECS)})")
    return CODECS[name]


def rd_points(codec_name: str, images: dict[str, np.ndarray], qualities: Sequence[float] | None = None) -> list[dict]:
    """One rate-distortion point per quality: bpp, PSNR and MS-SSIM, each computed per image and
    averaged over the images (the Kodak convention), with the per-image values kept.
    Returns [{"codec", "quality", "bpp", "psnr", "ms_ssim", "per_image": {name: {...}}}]."""
    codec = get_codec(codec_name)
    codec.check()
    if not images:
        raise UserError("rd_points: no images given")
    points = []
    for quality in qualities if qualities is not None else codec.qualities:
        per_image = {}
        for name, image in images.items():
            data = codec.encode(image, quality)
            decoded = codec.decode(data)
            per_image[name] = {"bytes": len(data), "bpp": 8 * len(data) / (image.shape[0] * image.shape[1]),
                               "psnr": psnr(image, decoded), "ms_ssim": ms_ssim(image, decoded)}
        mean = {key: float(np.mean([v[key] for v in per_image.values()])) for key in ("bpp", "psnr", "ms_ssim")}
        points.append({"codec": codec_name, "quality": quality, **mean, "per_image": per_image})
    return points
