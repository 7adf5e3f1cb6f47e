"""Classic (non-generative) augmentation of character images with albumentations.

Characters are ink on a plain background. Every pipeline runs on the *ink-bright* form of an image
(background 0, ink high): so geometric transforms can fill their borders with 0 = background, a
dropout hole is background, and "dilation" thickens strokes. ``ClassicAugmenter.augment`` detects
the polarity of its input (border median > 127: light background), inverts it when needed, runs the
pipeline and inverts back, so the output has the input's shape, dtype and polarity.

No transform flips or mirrors: a mirrored character is another character (or none).
Pipelines are albumentations ``Compose`` objects, saved and loaded with albumentations' own YAML.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from gensdk.core.io import atomic_write
from gensdk.errors import UserError
from gensdk.extras import require

if TYPE_CHECKING:
    import albumentations as A


def _albumentations() -> Any:
    """albumentations (the 'images' extra), imported on first use: the plugin loads without it."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check on import
    return require("albumentations", "images")


def _default() -> A.Compose:
    A = _albumentations()
    return A.Compose([
        A.Affine(rotate=(-10, 10), shear=(-10, 10), scale=(0.85, 1.1), translate_percent=(-0.08, 0.08),
                 fill=0, p=0.8),
        # Simard et al. 2003 style: uniform noise smoothed by sigma, displacement ~1 px on 32x32
        A.ElasticTransform(alpha=20, sigma=5, noise_distribution="uniform", fill=0, p=0.3),
        # scale is the kernel's (width, height), not a range: an int n means (1, n), a vertical-only kernel
        A.OneOf([A.Morphological(scale=(2, 2), operation="dilation", p=1.0),
                 A.Morphological(scale=(2, 2), operation="erosion", p=1.0)], p=0.3),
        A.GaussNoise(std_range=(0.02, 0.08), per_channel=False, p=0.3),  # gray noise: ink stays monochrome
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 0.8), p=1.0),
                 A.MotionBlur(blur_limit=(3, 3), p=1.0)], p=0.2),
        A.CoarseDropout(num_holes_range=(1, 2), hole_height_range=(0.05, 0.12), hole_width_range=(0.05, 0.12),
                        fill=0, p=0.2),
    ])


def _light() -> A.Compose:
    A = _albumentations()
    return A.Compose([
        A.Affine(rotate=(-5, 5), shear=(-5, 5), scale=(0.95, 1.05), translate_percent=(-0.04, 0.04),
                 fill=0, p=0.8),
        A.GaussNoise(std_range=(0.01, 0.04), per_channel=False, p=0.3),
    ])


def _strong() -> A.Compose:
    A = _albumentations()
    return A.Compose([
        A.Affine(rotate=(-15, 15), shear=(-15, 15), scale=(0.75, 1.15), translate_percent=(-0.12, 0.12),
                 fill=0, p=0.9),
        A.ElasticTransform(alpha=30, sigma=5, noise_distribution="uniform", fill=0, p=0.5),
        A.OneOf([A.Morphological(scale=(2, 2), operation="dilation", p=1.0),
                 A.Morphological(scale=(3, 3), operation="dilation", p=1.0),
                 A.Morphological(scale=(2, 2), operation="erosion", p=1.0)], p=0.5),
        A.GaussNoise(std_range=(0.04, 0.12), per_channel=False, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.5, 1.2), p=1.0),
                 A.MotionBlur(blur_limit=(3, 5), p=1.0)], p=0.4),
        A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15),
                        fill=0, p=0.4),
    ])


PRESETS = {"default": _default, "light": _light, "strong": _strong}


def pipeline(spec: str | os.PathLike = "default") -> A.Compose:
    """A preset name ("default", "light", "strong") or the path of a YAML saved by ``ClassicAugmenter.save``."""
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]()
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"{path}: not a file nor a preset name (presets: {', '.join(PRESETS)})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark else ""
        raise UserError(f"{path}: malformed YAML{where}: {e.problem}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(f"{path}: cannot read the pipeline YAML: {' '.join(str(e).split())}") from None
    except Exception as e:  # PyYAML's plain errors on bad values (`!!int x`, 2001-02-30), RecursionError
        raise UserError(f"{path}: malformed YAML: {e.__class__.__name__}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict) or not isinstance(data.get("transform"), dict):
        raise UserError(f"{path}: not an albumentations pipeline (no 'transform' mapping at the top)")
    A = _albumentations()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown arguments only warn; strict mode below raises
            transform = A.from_dict(data)
        if not isinstance(transform, A.Compose):
            raise UserError(f"{path}: expected a Compose pipeline, got {type(transform).__name__}")
        transform.strict = True  # a misspelt argument must not be silently ignored
    except KeyError as e:  # an unknown transform name, or a transform without __class_fullname__
        raise UserError(f"{path}: unknown transform or missing key {e.args[0]!r}") from None
    except (ValueError, TypeError, AttributeError) as e:  # bad arguments (pydantic errors are ValueErrors)
        raise UserError(f"{path}: invalid pipeline: {' '.join(str(e).split())}") from None
    return transform


def light_background(image: np.ndarray) -> bool:
    """Characters on a light page (border median > 127), as opposed to bright ink on dark."""
    border = np.concatenate([image[0].ravel(), image[-1].ravel(), image[:, 0].ravel(), image[:, -1].ravel()])
    return float(np.median(border)) > 127


class ClassicAugmenter:
    """An albumentations pipeline applied to character images, repeatable by seed."""

    def __init__(self, spec: str | os.PathLike = "default"):
        self.transform = pipeline(spec)

    def save(self, path: str | os.PathLike) -> None:
        """Write the pipeline as albumentations YAML (atomically)."""
        atomic_write(path, lambda tmp: _albumentations().save(self.transform, tmp, data_format="yaml"))

    def to_dict(self) -> dict[str, Any]:
        """The pipeline as a plain dict (albumentations' serialized form), for manifests."""
        return _albumentations().to_dict(self.transform)

    def _run(self, ink_bright: np.ndarray, seed: int) -> np.ndarray:
        # One fresh generator pair shared by all transforms: output depends on the seed only (not
        # on global random state nor on earlier calls). Compose.set_random_seed would instead give
        # every transform its own generator with the same seed, so their draws would be correlated.
        self.transform.set_random_state(np.random.default_rng(seed), random.Random(seed))
        return self.transform(image=ink_bright)["image"]

    def augment(self, image: np.ndarray, seed: int) -> np.ndarray:
        """``image``: uint8 (H, W) or (H, W, 3), either polarity; same shape, dtype and polarity back."""
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
        invert = light_background(image)
        out = self._run(255 - image if invert else image, seed)
        # when no transform fires albumentations hands back its input: never return the caller's array
        return 255 - out if invert else out.copy()

    def augment_batch(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """``images``: (N, 1, H, W) float in [0, 1], ink-bright; augmented copies, same shape, dtype, device.

        Image i gets its own seed drawn from ``seed``, so it does not depend on the other images.
        """
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected (N, 1, H, W) images, got {tuple(images.shape)}")
        # ink-bright by contract: no polarity detection (a bold glyph could touch the border)
        pixels = (images.detach()[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        seeds = np.random.SeedSequence(seed).generate_state(len(pixels))
        out = np.empty_like(pixels)
        for i, (p, s) in enumerate(zip(pixels, seeds)):
            out[i] = self._run(p, int(s))
        return torch.from_numpy(out).unsqueeze(1).to(device=images.device, dtype=images.dtype) / 255
