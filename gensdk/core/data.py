"""Built-in data sets of the core: the 2-D Gaussian playgrounds and scikit-learn's 8x8 digits.

Plugins register their own loaders the same way (``@register_dataset("name")``); a recipe's
``data: {name: ..., <options>}`` picks one.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gensdk.errors import UserError


@dataclass
class Dataset:
    """In-memory tensors: ``x`` (examples first), optional integer labels ``y``, and facts that
    evaluation needs (``meta``: e.g. the mode centres of a Gaussian mixture)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    num_classes: int = 0
    kind: str = "points"  # points | image | binary-image | tokens
    meta: dict[str, Any] = field(default_factory=dict)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.x,) if self.y is None else (self.x, self.y)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)


DATASETS: dict[str, Callable[..., Dataset]] = {}


def register_dataset(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    def wrap(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS[name] = fn
        return fn

    return wrap


def load_dataset(name: str, **options: Any) -> Dataset:
    if name not in DATASETS:
        raise UserError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    fn = DATASETS[name]
    params = inspect.signature(fn).parameters
    for key in options:
        if key not in params:
            raise UserError(f"data set {name!r} has no option {key!r}; options: {', '.join(params)}")
    try:
        return fn(**options)
    except (ValueError, TypeError) as err:
        raise UserError(f"data set {name!r}: {err}") from None


def mixture(centers: torch.Tensor, n: int, std: float, seed: int) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=gen)
    x = centers[labels] + std * torch.randn(n, 2, generator=gen)
    return Dataset(x, labels, num_classes=len(centers), kind="points",
                   meta={"centers": centers.tolist(), "std": std})


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], 1).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


@register_dataset("ring")
def ring(n: int = 100_000, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0) -> Dataset:
    """The ring of Gaussians of the GAN literature (Metz et al. 2017): ``modes`` equal components."""
    if modes < 1 or n < 1 or std <= 0:
        raise ValueError("n and modes must be positive and std > 0")
    return mixture(ring_centers(modes, radius), n, std, seed)


@register_dataset("grid")
def grid(n: int = 100_000, side: int = 5, spacing: float = 2.0, std: float = 0.05, seed: int = 0) -> Dataset:
    """A ``side x side`` grid of Gaussians (25 modes by default)."""
    if side < 1 or n < 1 or std <= 0:
        raise ValueError("n and side must be positive and std > 0")
    return mixture(grid_centers(side, spacing), n, std, seed)


DIGITS_TEST_FRACTION = 0.2
DIGITS_VALID_FRACTION = 0.1


@register_dataset("digits")
def digits(split: str = "train", binarize: bool = True, size: int = 8, scale: str = "unit",
           seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten 8x8 digits (UCI), 0..16 grey levels, with labels.

    ``split``: train (70%) | valid (10%, for early stopping and tuning) | test (20%) | all, from one fixed
    shuffle by ``seed``. ``binarize``: pixel >= 8 -> 1.
    ``size``: bilinear resize (e.g. 32 for DCGAN). ``scale``: unit ([0, 1]) or tanh ([-1, 1]).
    """
    from sklearn.datasets import load_digits

    if split not in ("train", "valid", "test", "all"):
        raise ValueError(f"split must be train, valid, test or all, got {split!r}")
    if scale not in ("unit", "tanh"):
        raise ValueError(f"scale must be unit or tanh, got {scale!r}")
    raw = load_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(raw.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test, n_valid = int(len(x) * DIGITS_TEST_FRACTION), int(len(x) * DIGITS_VALID_FRACTION)
    chosen = {"train": perm[n_test + n_valid:], "valid": perm[n_test:n_test + n_valid], "test": perm[:n_test],
              "all": perm}[split]
    x, y = x[chosen], y[chosen]
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if binarize:
        x = (x >= 0.5).float()
    if scale == "tanh":
        x = x * 2 - 1
    kind = "binary-image" if binarize and scale == "unit" else "image"
    return Dataset(x, y, num_classes=10, kind=kind, meta={"split": split, "scale": scale})
