"""Differentiable augmentation for data-efficient GANs (DiffAugment, Zhao et al. 2020).

With little data a discriminator memorises the training images and the generator collapses. The same
random translation / cutout / brightness is applied to real and generated images wherever D sees
them (in D's and in G's step), and gradients flow through it, so D cannot memorise and G is not
pushed to reproduce the augmentations. Policies: a comma-separated subset of ``translation``,
``cutout``, ``brightness``; images of shape [B, C, H, W] in any range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout", "brightness")


def check_policy(policy: str) -> list[str]:
    parts = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; known: {', '.join(POLICIES)}")
    return parts


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size; the edge pixels are repeated into the gap
    (for characters and most images that is the background)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(0, h - 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(0, w - 1)
    index = (rows * w + cols).view(b, 1, h * w).expand(-1, x.shape[1], -1)
    return x.flatten(2).gather(2, index).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.25) -> torch.Tensor:
    """Set one random square of ``ratio`` of the side to the image's minimum (the background)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((ys - cy).abs() <= ch // 2) & ((xs - cx).abs() <= cw // 2)
    background = x.detach().amin(dim=(1, 2, 3), keepdim=True)
    return torch.where(hole.unsqueeze(1), background, x)


def brightness(x: torch.Tensor, amount: float = 0.25) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 0.5) * 2 * amount


def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    for name in policy:
        x = {"translation": translation, "cutout": cutout, "brightness": brightness}[name](x)
    return x
