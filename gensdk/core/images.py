"""Image files in: one reader for every plugin, and folders of labelled images (one subfolder per class).

``read_image`` turns any file Pillow reads into uint8 pixels, whatever its mode (gray, palette, alpha,
16 bits). ``load_image_folder`` turns a class folder into an ``ImageSet``: gray squares in [0, 1] with
bright ink on a dark background, whatever the polarity and size of the input (character images, the
small CNNs of the architectures plugin). In a folder a bad file is skipped and recorded, never an
exception; a folder that cannot be a data set at all is a ``UserError``.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from gensdk.core.data import Dataset
from gensdk.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm")
MAX_PIXELS = 2 ** 28  # 268 M pixels: far above any real photo, far below what exhausts memory

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not an image with a gray end
_PILLOW_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS is global: set it for one read at a time


class BadImage(UserError):
    """A file that is not a readable image; the message names the file."""


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS, *, keep_gray: bool = False) -> np.ndarray:
    """A file as uint8 RGB (H, W, 3), or with ``keep_gray`` as (H, W) when the image is gray (gray, 1-bit,
    16-bit, gray+alpha, a palette of grays). EXIF rotation applied, transparency composited on white,
    16-bit scaled to 8. An image over ``max_pixels`` (a decompression bomb) is refused before it is
    decoded. Any fault is a BadImage (a UserError) naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BadImage(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadImage(f"{path}: cannot read image (empty file, 0 bytes)")
    try:
        with _PILLOW_LIMIT, warnings.catch_warnings():  # Pillow checks the size when it opens a file
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
            try:
                with Image.open(path) as probe:  # reads the header only
                    probe.verify()  # the file's structure (PNG CRCs, truncation) before decoding
                im = Image.open(path)  # verify() leaves an image unusable: open it again
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        with im:  # decoding, outside the lock
            im.load()
            pixels = _pixels(ImageOps.exif_transpose(im))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(f"{path}: image is larger than {max_pixels} pixels (max_pixels)") from None
    except UnidentifiedImageError:
        raise BadImage(f"{path}: cannot read image (not an image format Pillow knows)") from None
    except Exception as err:  # Pillow raises many kinds: OSError, SyntaxError, struct.error, ...
        raise BadImage(f"{path}: cannot read image ({str(err) or type(err).__name__})") from None
    if pixels.ndim == 2 and not keep_gray:
        return np.repeat(pixels[..., None], 3, axis=2)
    return pixels


def has_alpha(im: Image.Image) -> bool:
    return im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info


def _pixels(im: Image.Image) -> np.ndarray:
    """(H, W) for a gray image, else (H, W, 3)."""
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if im.mode.startswith("I") or im.mode == "F":  # 16-bit (or float) gray: scale to 8 bits
        arr = np.asarray(im, dtype=np.float64)
        return np.clip(arr / 257 if im.mode.startswith("I") else arr, 0, 255).round().astype(np.uint8)
    if has_alpha(im):
        rgba = im.convert("RGBA")
        rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    else:
        rgb = im.convert("RGB")  # palette, CMYK, YCbCr, LAB, HSV
    arr = np.asarray(rgb)
    if im.mode in ("LA", "La") or (im.mode in ("P", "PA") and (arr == arr[..., :1]).all()):
        return np.ascontiguousarray(arr[..., 0])
    return arr


# --- folders of labelled images --------------------------------------------------------------------

@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class ImageFolder:
    root: Path
    classes: list[str]
    files: list[Path]
    labels: np.ndarray  # int64, index into classes
    skipped: list[Skipped] = field(default_factory=list)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def scan_folder(root: str | os.PathLike, verify: bool = False) -> ImageFolder:
    """List ``root/<class>/**/<image>`` without opening the images (``verify=True``: open each and
    skip the bad ones). Other files and empty class folders are skipped and recorded."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (expected one subfolder of images per class)")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        raise UserError(f"{root}: no class subfolders (expected one subfolder of images per class)")
    skipped = [Skipped(str(p), "not in a class folder") for p in entries if not p.is_dir()]
    classes: list[str] = []
    files: list[Path] = []
    labels: list[int] = []
    for class_dir in class_dirs:
        found, seen = [], 0
        for path in sorted(class_dir.rglob("*")):
            if _hidden(path, root) or not path.is_file():
                continue
            seen += 1
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(Skipped(str(path), "not an image file"))
                continue
            if verify:
                try:
                    read_image(path)
                except BadImage as err:
                    skipped.append(Skipped(str(path), str(err)))
                    continue
            found.append(path)
        if not found:
            skipped.append(Skipped(str(class_dir), "no readable images" if seen else "empty class folder"))
            continue
        labels += [len(classes)] * len(found)
        classes.append(class_dir.name)
        files += found
    if not files:
        raise UserError(f"{root}: no readable images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return ImageFolder(root, classes, files, np.array(labels, np.int64), skipped)


@dataclass
class ImageSet:
    """Images (N, 1, S, S) float32 in [0, 1], ink bright (1) on dark (0), with int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    sources: list[str]  # a file path, "font:DejaVuSans.ttf", "sklearn-digits:123"
    skipped: list[Skipped] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        per_class = torch.bincount(self.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, per_class))

    def select(self, indices: Sequence[int] | torch.Tensor) -> ImageSet:
        """The images at ``indices``, with the same classes."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageSet(self.images[idx], self.labels[idx], list(self.classes),
                        [self.sources[i] for i in idx.tolist()], list(self.skipped), dict(self.meta))

    def subset(self, per_class: int, seed: int = 0) -> ImageSet:
        """A low-data subset: ``per_class`` random images of every class (all of a smaller class).
        For one seed, the subset of a smaller budget is part of that of a larger one."""
        if per_class < 1:
            raise ValueError(f"per_class must be positive, got {per_class}")
        gen = torch.Generator().manual_seed(seed)
        picks = []
        for label in range(len(self.classes)):
            of_class = (self.labels == label).nonzero().squeeze(1)
            picks.append(of_class[torch.randperm(len(of_class), generator=gen)[:per_class]])
        chosen = self.select(torch.cat(picks).sort().values)
        chosen.meta["per_class"] = per_class
        return chosen

    def to_dataset(self, scale: str = "unit") -> Dataset:
        """A core Dataset: ``unit`` keeps [0, 1], ``tanh`` maps to [-1, 1]."""
        if scale not in ("unit", "tanh"):
            raise ValueError(f"scale must be unit or tanh, got {scale!r}")
        x = self.images if scale == "unit" else self.images * 2 - 1
        return Dataset(x, self.labels, num_classes=len(self.classes), kind="image",
                       meta={**self.meta, "classes": list(self.classes), "scale": scale})


def to_gray_square(array: np.ndarray, size: int) -> np.ndarray:
    """Any image -> (size, size) float32 gray in [0, 1] with bright ink: inverted when the border is
    mostly light (dark ink on paper), padded to a square with the background, then resized."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)  # floats are taken to be in [0, 1]
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        elif arr.shape[2] in (3, 4):
            arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma
        else:
            raise ValueError(f"expected 1, 3 or 4 channels, got shape {arr.shape}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {arr.shape}")
    arr = np.clip(arr, 0.0, 1.0)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if np.median(border) > 127 / 255:
        arr = 1.0 - arr
        border = 1.0 - border
    height, width = arr.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.pad(arr, ((top, side - height - top), (left, side - width - left)),
                    constant_values=float(np.median(border)))
    resized = Image.fromarray(square, "F").resize((size, size), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)  # Lanczos overshoots a little


def load_image_folder(root: str | os.PathLike, size: int = 32, progress: bool = False) -> ImageSet:
    """Every readable image of ``scan_folder(root)``, as ``to_gray_square`` of ``size``. Unreadable
    files are skipped and recorded; a class left with no image is dropped (and recorded)."""
    from tqdm import tqdm

    folder = scan_folder(root)
    skipped = list(folder.skipped)
    images, labels, sources = [], [], []
    for path, label in tqdm(list(zip(folder.files, folder.labels.tolist())), desc="reading images",
                            unit="image", disable=not progress):
        try:
            images.append(to_gray_square(read_image(path, keep_gray=True), size))
        except BadImage as err:
            skipped.append(Skipped(str(path), str(err)))
            continue
        labels.append(label)
        sources.append(str(path))
    # Classes whose every file was bad: drop them and renumber, as scan_folder(verify=True) does.
    kept = sorted(set(labels))
    for label in sorted(set(range(len(folder.classes))) - set(kept)):
        skipped.append(Skipped(str(folder.root / folder.classes[label]), "no readable images"))
    if not kept:
        raise UserError(f"{folder.root}: no readable images in its class folders")
    new_label = {old: new for new, old in enumerate(kept)}
    return ImageSet(torch.from_numpy(np.stack(images))[:, None],
                    torch.tensor([new_label[label] for label in labels], dtype=torch.long),
                    [folder.classes[label] for label in kept], sources, skipped,
                    {"source": str(folder.root), "size": size})
