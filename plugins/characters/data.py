"""Character images in: image folders (one subfolder per class), fonts, scikit-learn's digits.

Everything becomes a ``CharacterSet``: gray square images in [0, 1] with bright ink on a dark
background, whatever the polarity and size of the input. A bad file is skipped and recorded, never
an exception; a folder that cannot be a data set at all is a ``UserError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps

from gensdk.core.data import Dataset, register_dataset
from gensdk.errors import UserError

from . import fonts as font_render

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DIGITS_SOURCES = ("sklearn-digits", "digits")

# A truncated file must fail to load, not come back with a gray bottom that looks like an image.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class BadImage(ValueError):
    """A file that is not a readable image; the message names the file."""


@dataclass
class Skipped:
    path: str
    reason: str


def read_image(path: str | os.PathLike) -> np.ndarray:
    """uint8 pixels: (H, W) for gray, 1-bit, gray+alpha and gray-palette images, (H, W, 3) for color.
    Transparency is composited on white and EXIF rotation applied. Raises BadImage."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ValueError("empty file, 0 bytes")
        with Image.open(path) as im:
            im.verify()  # checks the structure (PNG chunk CRCs) without decoding
        with Image.open(path) as im:  # verify() leaves the image unusable: open it again
            im.load()
            return _pixels(ImageOps.exif_transpose(im))
    except Exception as err:  # Pillow raises many kinds (OSError, SyntaxError, struct.error, ...)
        raise BadImage(f"{path}: not a readable image ({str(err) or type(err).__name__})") from None


def _pixels(im: Image.Image) -> np.ndarray:
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if im.mode.startswith("I") or im.mode == "F":  # 16-bit or float gray: scale to 8 bits
        arr = np.asarray(im, dtype=np.float64)
        return np.clip(arr / 257 if im.mode.startswith("I") else arr, 0, 255).round().astype(np.uint8)
    gray_mode = im.mode in ("LA", "La")
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    else:
        rgb = im.convert("RGB")  # palette, CMYK, YCbCr, LAB, HSV
    arr = np.asarray(rgb)
    if gray_mode or (im.mode in ("P", "PA") and (arr == arr[..., :1]).all()):
        return np.ascontiguousarray(arr[..., 0])
    return arr


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
class CharacterSet:
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

    def select(self, indices: Sequence[int] | torch.Tensor) -> CharacterSet:
        """The images at ``indices``, with the same classes."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return CharacterSet(self.images[idx], self.labels[idx], list(self.classes),
                            [self.sources[i] for i in idx.tolist()], list(self.skipped), dict(self.meta))

    def subset(self, per_class: int, seed: int = 0) -> CharacterSet:
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


def load_folder(root: str | os.PathLike, size: int = 32, progress: bool = False) -> CharacterSet:
    """Every readable image of ``scan_folder(root)``, as ``to_gray_square`` of ``size``. Unreadable
    files are skipped and recorded; a class left with no image is dropped (and recorded)."""
    from tqdm import tqdm

    folder = scan_folder(root)
    skipped = list(folder.skipped)
    images, labels, sources = [], [], []
    for path, label in tqdm(list(zip(folder.files, folder.labels.tolist())), desc="reading images",
                            unit="image", disable=not progress):
        try:
            images.append(to_gray_square(read_image(path), size))
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
    return CharacterSet(torch.from_numpy(np.stack(images))[:, None],
                        torch.tensor([new_label[label] for label in labels], dtype=torch.long),
                        [folder.classes[label] for label in kept], sources, skipped,
                        {"source": str(folder.root), "size": size})


def load_digits(size: int = 32) -> CharacterSet:
    """scikit-learn's 1,797 handwritten 8x8 digits (0..16, ink bright), bilinear-resized to ``size``."""
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return CharacterSet(x, torch.tensor(raw.target, dtype=torch.long), [str(d) for d in range(10)],
                        [f"sklearn-digits:{i}" for i in range(len(x))], meta={"source": "sklearn-digits",
                                                                               "size": size})


def load_characters(source: str | os.PathLike, size: int = 32, progress: bool = False) -> CharacterSet:
    """``sklearn-digits`` (or ``digits``), or an image folder with one subfolder per class."""
    if str(source) in DIGITS_SOURCES:
        return load_digits(size)
    root = Path(source)
    if (root / "characters.json").is_file() and (root / "train").is_dir():
        raise UserError(f"{root}: a rendered character set; pass {root / 'train'} or {root / 'test'}")
    return load_folder(root, size, progress)


def render_set(fonts: Sequence[font_render.Font] | None = None, chars: str = "all", per_font: int = 1,
               size: int = 32, lookalikes: str = "merge", seed: int = 0) -> CharacterSet:
    """Characters rendered from ``fonts`` (default: the system's usable fonts) in memory."""
    if fonts is None:
        fonts, _ = font_render.usable_fonts(font_render.find_fonts(), font_render.chars_of(chars))
    out = font_render.render_arrays(fonts, chars, per_font, size, lookalikes, seed)
    images = torch.from_numpy(out.images).float().div_(255).unsqueeze(1)
    sources = [f"font:{out.fonts[i].name}" for i in out.font_index.tolist()]
    skipped = [Skipped(out.fonts[i].path, f"{ch!r}: {why}") for i, ch, why in out.skipped]
    return CharacterSet(images, torch.from_numpy(out.labels), out.classes, sources, skipped,
                        {"source": "fonts", "size": size, "members": out.members, "lookalikes": out.lookalikes,
                         "confusables": out.confusables})


@register_dataset("characters")
def characters(source: str = "sklearn-digits", size: int = 32, scale: str = "tanh", per_class: int = 0,
               seed: int = 0) -> Dataset:
    """Character images for recipes: ``source`` is sklearn-digits or an image folder; ``per_class``
    > 0 takes a low-data subset of that many images per class (chosen by ``seed``)."""
    chars = load_characters(source, size)
    if per_class > 0:
        chars = chars.subset(per_class, seed)
    return chars.to_dataset(scale)
