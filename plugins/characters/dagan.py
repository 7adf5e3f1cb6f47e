"""DAGAN (Antoniou, Storkey & Edwards 2017): a generator conditioned on one image of a character
that draws new variants of the same character, so that a class with 1-5 examples can grow.

The generator is a U-Net: an encoder of the source image whose bottleneck and middle level get
noise maps, and a decoder with skip connections. The discriminator judges *pairs*: (source, another
real image of its class) against (source, generated), so copying the source is no way out, and the
generator must learn the variation between examples of one class (here: fonts, sizes, offsets).
The mode-seeking term of MSGAN (Mao et al. 2019) keeps different noise giving different images, and
DiffAugment (the same shift / cutout of both images of a pair) keeps D from memorising a small set.
Images are in [-1, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as _sn

from gensdk.core.gan import Objective, gradient_penalty, mode_seeking
from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.dcgan import DCGANDiscriminator
from gensdk.core.nn.diffaugment import check_policy, diff_augment


def _down(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.Dropout(dropout))


class UNetGenerator(nn.Module):
    """``(source [B, C, S, S], z [B, z_dim]) -> image [B, C, S, S]``; S a power of two >= 16."""

    def __init__(self, channels: int, image_size: int, z_dim: int, width: int, dropout: float):
        super().__init__()
        if image_size < 16 or image_size & (image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
        levels = (image_size // 4).bit_length() - 1          # stride-2 stages down to 4x4
        widths = [width * 2 ** min(i, 3) for i in range(levels + 1)]
        self.z_dim, self.noise_ch = z_dim, width // 2
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(_down(widths[i], widths[i + 1]) for i in range(levels))
        # noise enters at the 4x4 bottleneck and at the level above it (DAGAN injects at several)
        self.noise_bottom = nn.Linear(z_dim, self.noise_ch * 16)
        self.noise_mid = nn.Linear(z_dim, self.noise_ch * 64)
        ups = []
        for i in reversed(range(levels)):
            c_in = widths[i + 1] + (widths[i + 1] if i + 1 < levels else 0)  # + the skip of this level
            c_in += self.noise_ch * ((i + 1 == levels) + (i + 2 == levels))  # + noise maps at 4x4, 8x8
            ups.append(_up(c_in, widths[i], dropout if i >= levels - 2 else 0.0))
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.Conv2d(2 * widths[0], widths[0], 3, 1, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(widths[0], channels, 3, 1, 1), nn.Tanh())

    def forward(self, source: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(source)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        b = source.shape[0]
        noise_bottom = self.noise_bottom(z).view(b, self.noise_ch, 4, 4)
        noise_mid = self.noise_mid(z).view(b, self.noise_ch, 8, 8)
        h = torch.cat([skips[-1], noise_bottom], 1)
        for k, up in enumerate(self.ups):
            h = up(h)
            parts = [h, skips[-2 - k]] + ([noise_mid] if k == 0 else [])  # after the first up: 8x8
            h = torch.cat(parts, 1)
        return self.out(h)


class PairDiscriminator(nn.Module):
    """Scores a pair (source, candidate) stacked on channels; a DCGAN body with spectral norm."""

    def __init__(self, channels: int, image_size: int, width: int, spectral_norm: bool, minibatch_std: bool):
        super().__init__()
        self.body = DCGANDiscriminator(image_size, 2 * channels, width=width, spectral_norm=spectral_norm,
                                       minibatch_std=minibatch_std, batch_norm=False)
        head = nn.Linear(self.body.out_features, 1)
        self.head = _sn(head) if spectral_norm else head

    def forward(self, x: torch.Tensor, y: Any = None, *, source: torch.Tensor, policy: list[str] = ()) -> torch.Tensor:
        pair = torch.cat([source, x], 1)
        if policy:  # one augmentation for both images, so that their relation is kept
            pair = diff_augment(pair, list(policy))
        return self.head(self.body(pair)).squeeze(1)


class ClassCritic(nn.Module):
    """Names the class of one image; trained on real images, it tells G when a variant has left the
    class of its source (the auxiliary classifier of AC-GAN, kept apart from D so that D's view of the
    source cannot give the answer away)."""

    def __init__(self, channels: int, image_size: int, width: int, num_classes: int):
        super().__init__()
        self.body = DCGANDiscriminator(image_size, channels, width=width, spectral_norm=True, batch_norm=False)
        self.head = nn.Linear(self.body.out_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@register_model("dagan")
class DAGAN(GenerativeModel):
    """Image-conditioned GAN. A training batch is ``(source, target)``: two images of one class."""

    def __init__(self, *, image_size: int = 32, channels: int = 1, z_dim: int = 64, width: int = 64,
                 dropout: float = 0.3, loss: str = "hinge", spectral_norm: bool = True,
                 minibatch_std: bool = True, gp_weight: float = 10.0, diversity: float = 0.1,
                 diffaugment: str = "translation,cutout", num_classes: int = 0, class_weight: float = 1.0,
                 lr_g: float = 2e-4, lr_d: float = 2e-4, betas: list[float] = (0.0, 0.9)):
        super().__init__()
        if z_dim < 1 or width < 4 or diversity < 0:
            raise ValueError("z_dim must be >= 1, width >= 4 and diversity >= 0")
        self.objective = Objective(loss)
        self.z_dim, self.gp_weight, self.diversity = z_dim, gp_weight, diversity
        self.policy = check_policy(diffaugment)
        self.num_classes, self.class_weight = num_classes, class_weight
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.image_shape = (channels, image_size, image_size)
        self.generator = UNetGenerator(channels, image_size, z_dim, width, dropout)
        self.discriminator = PairDiscriminator(channels, image_size, width, spectral_norm, minibatch_std)
        # with labels, a class critic keeps variants in their source's class
        self.critic = ClassCritic(channels, image_size, max(4, width // 2), num_classes) if num_classes else None

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        d_params = list(self.discriminator.parameters()) + (list(self.critic.parameters()) if self.critic else [])
        return {"d": torch.optim.Adam(d_params, lr=self.lr_d, betas=self.betas),
                "g": torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas)}

    def ema_module(self) -> nn.Module:
        return self.generator

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        if len(batch) < 2:
            raise ValueError("DAGAN trains on pairs: data must be (source, target) images of the same class")
        source, target = batch[0], batch[1]
        labels = batch[2] if self.critic is not None and len(batch) > 2 else None
        G, D = self.generator, self.discriminator
        z = torch.randn(source.shape[0], self.z_dim, device=source.device)
        with torch.no_grad():
            fake = G(source, z)
        d_loss = self.objective.d_loss(D(target, source=source, policy=self.policy),
                                       D(fake, source=source, policy=self.policy))
        if self.objective.name == "wgan-gp":
            d_loss = d_loss + self.gp_weight * gradient_penalty(D, target, fake, source=source)
        if labels is not None:
            d_loss = d_loss + self.class_weight * F.cross_entropy(self.critic(self.augment(target)), labels)
        ctx.optimize("d", d_loss)

        frozen = [D] + ([self.critic] if self.critic is not None else [])
        for net in frozen:
            net.requires_grad_(False)
        z1, z2 = torch.randn(2, source.shape[0], self.z_dim, device=source.device)
        fake1 = G(source, z1)
        g_loss = self.objective.g_loss(D(fake1, source=source, policy=self.policy))
        losses = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
        if labels is not None:
            class_loss = F.cross_entropy(self.critic(self.augment(fake1)), labels)
            g_loss = g_loss + self.class_weight * class_loss
            losses["class_loss"] = class_loss.detach()
        if self.diversity > 0:
            ms = mode_seeking(fake1, G(source, z2), z1, z2)
            g_loss = g_loss + self.diversity * ms
            losses["mode_seeking"] = ms.detach()
        ctx.optimize("g", g_loss)
        for net in frozen:
            net.requires_grad_(True)
        return losses

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    @torch.no_grad()
    def generate(self, source: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Variants of each source image (one per row), in [-1, 1]."""
        source = source.to(self.device)
        if tuple(source.shape[1:]) != self.image_shape:
            raise ValueError(f"source images must have shape [N, {', '.join(map(str, self.image_shape))}], "
                             f"got {list(source.shape)}")
        if z is None:
            z = torch.randn(source.shape[0], self.z_dim, device=self.device)
        return self.generator(source, z.to(self.device)).float()

    def sample(self, n: int, source: torch.Tensor | None = None, **kw: Any) -> torch.Tensor:
        if source is None:
            raise ValueError("DAGAN draws variants of given images: pass source=images ([N, C, S, S] in [-1, 1])")
        return self.generate(source[torch.arange(n) % len(source)])


def same_class_pairs(labels: torch.Tensor, max_pairs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (i, j), i != j, labels[i] == labels[j]: every ordered pair, or ``max_pairs`` of them
    drawn at random (classes with one example pair with themselves so that they are not lost)."""
    gen = torch.Generator().manual_seed(seed)
    sources, targets = [], []
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        if len(idx) == 1:
            sources.append(idx)
            targets.append(idx)
            continue
        i, j = torch.meshgrid(idx, idx, indexing="ij")
        off_diagonal = i != j
        sources.append(i[off_diagonal])
        targets.append(j[off_diagonal])
    i, j = torch.cat(sources), torch.cat(targets)
    if len(i) > max_pairs:
        keep = torch.randperm(len(i), generator=gen)[:max_pairs]
        i, j = i[keep], j[keep]
    return i, j
