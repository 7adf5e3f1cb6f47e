"""Character images in: image folders (one subfolder per class), fonts, scikit-learn's digits.

Everything becomes a ``CharacterSet`` (the core's ``ImageSet``): gray square images in [0, 1] with
bright ink on a dark background, whatever the polarity and size of the input. Image folders are read
by the core (``gensdk.core.images``), which the architectures plugin shares.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from gensdk.core.data import Dataset, register_dataset
from gensdk.core.images import ImageSet, Skipped, load_image_folder
from gensdk.errors import UserError

from . import fonts as font_render

DIGITS_SOURCES = ("sklearn-digits", "digits")

CharacterSet = ImageSet  # this plugin's name for a labelled set of gray images (gensdk.core.images)


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
    return load_image_folder(root, size, progress)


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


def style_group(source: str) -> str:
    """The style group (a font, a writer) of an image, from its source: ``font:NAME`` (rendered in
    memory) is NAME; a file named ``<group>-<k>.<ext>`` (as ``gensdk characters render`` writes
    ``<class>/<font>-<k>.png``) is <group>, shared by that font's images of every class; any other
    file is a group of its own."""
    if source.startswith("font:"):
        return source[len("font:"):]
    stem = Path(source).stem
    group, dash, _ = stem.rpartition("-")
    return group if dash and group else source


def style_groups(chars: CharacterSet) -> list[str]:
    return [style_group(s) for s in chars.sources]


@register_dataset("characters")
def characters(source: str = "sklearn-digits", size: int = 32, scale: str = "tanh", per_class: int = 0,
               seed: int = 0) -> Dataset:
    """Character images for recipes: ``source`` is sklearn-digits or an image folder; ``per_class``
    > 0 takes a low-data subset of that many images per class (chosen by ``seed``)."""
    chars = load_characters(source, size)
    if per_class > 0:
        chars = chars.subset(per_class, seed)
    return chars.to_dataset(scale)
