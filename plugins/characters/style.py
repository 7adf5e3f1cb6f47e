"""Style crossing: draw a class in the style of a font that the real images show only for other classes.

The test fonts of a character set are unseen, so new *styles* help more than new copies of the few
styles a class was seen in. This is the idea of DAGAN and FUNIT (Liu et al. 2019: a style code learned
across classes, crossed with content). Here it is a class-conditional diffusion model (the core's
``diffusion`` with a U-Net) whose denoiser also reads a style: an embedding, by a small CNN trained
with it, of a *reference* image, another image of the same style group (a font, a writer; usually of
another class). Trained on (image, its class, a reference of its font), the model can only take the
class's shape from the label and the look (stroke width, serifs, slant, weight, size) from the
reference. Sampled with a class and a reference of any font, it draws that class in that font,
including fonts the data never show for that class.

Guidance contrasts (class, reference) with (no class, no reference); "no reference" is the all-zero
image (mid-gray in [-1, 1], which no character is), the core's dropped context. Images are in [-1, 1].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from gensdk.core.diffusion import Diffusion
from gensdk.core.model import register_model


class StyleEncoder(nn.Module):
    """A reference image [N, C, S, S] -> its style vector [N, dim]: three stride-2 convolutions and a
    global average, so the vector keeps what is everywhere in the glyph (strokes) more than where."""

    def __init__(self, channels: int, width: int, dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.GroupNorm(math.gcd(8, 2 * width), 2 * width), nn.SiLU(),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.SiLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class StyledDenoiser(nn.Module):
    """``net(x, t, y, reference) = unet(x, t, y, encoder(reference))``: one module, so that the
    trainer's EMA averages the encoder with the U-Net."""

    def __init__(self, unet: nn.Module, encoder: StyleEncoder):
        super().__init__()
        self.unet, self.encoder = unet, encoder

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(x, t, y, self.encoder(context.to(x.dtype)))


@register_model("style-diffusion")
class StyleDiffusion(Diffusion):
    """Diffusion (U-Net) conditioned on a class and a reference image's style. A training batch is
    ``(image, class, reference)``; ``sample(n, labels=, context=references)``."""

    def __init__(self, *, data_shape: list[int], timesteps: int = 1000, schedule: str = "cosine",
                 prediction: str = "v", clip: float | None = 1.0, width: int = 32, depth: int = 1,
                 channel_mult: list[int] = (1, 2, 2), attention: bool = True, dropout: float = 0.0,
                 num_classes: int = 0, label_dropout: float = 0.1, lr: float = 3e-4, sampler: str = "dpm++2m",
                 sample_steps: int = 12, style_dim: int = 64, style_width: int = 32):
        if style_dim < 1 or style_width < 1:
            raise ValueError(f"style_dim and style_width must be >= 1, got {style_dim}, {style_width}")
        super().__init__(data_shape=data_shape, timesteps=timesteps, schedule=schedule, prediction=prediction,
                         clip=clip, arch="unet", width=width, depth=depth, channel_mult=channel_mult,
                         attention=attention, dropout=dropout, num_classes=num_classes, label_dropout=label_dropout,
                         lr=lr, sampler=sampler, sample_steps=sample_steps, context_dim=style_dim)
        self.net = StyledDenoiser(self.net, StyleEncoder(self.data_shape[0], style_width, style_dim))


NO_REFERENCE = -1  # a pair's reference index when its group has no other image: the dropped (zero) reference


def style_pairs(groups: Sequence[str], per_image: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs (target i, reference j): for every image, up to ``per_image`` other images of
    its style group, drawn at random. An image alone in its group gets one pair with ``NO_REFERENCE``
    (trained as the unstyled class), never itself: a reference that is the target would teach the
    model to copy the reference's shape."""
    gen = torch.Generator().manual_seed(seed)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    targets, references = [], []
    for i, g in enumerate(groups):
        others = torch.tensor([j for j in members[g] if j != i], dtype=torch.long)
        if len(others) == 0:
            targets.append(i)
            references.append(NO_REFERENCE)
            continue
        picks = others[torch.randperm(len(others), generator=gen)[:per_image]]
        targets += [i] * len(picks)
        references += picks.tolist()
    return torch.tensor(targets, dtype=torch.long), torch.tensor(references, dtype=torch.long)


def pair_data(images: torch.Tensor, labels: torch.Tensor, groups: Sequence[str], per_image: int, seed: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target, class, reference) for the trainer, images in [0, 1] mapped to [-1, 1]; a missing
    reference is the zero image, the model's "no reference"."""
    i, j = style_pairs(groups, per_image, seed)
    scaled = images * 2 - 1
    references = torch.where((j == NO_REFERENCE).view(-1, 1, 1, 1), torch.zeros_like(scaled[i]), scaled[j.clamp(min=0)])
    return scaled[i], labels[i], references
