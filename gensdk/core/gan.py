"""Generative adversarial networks: the six classic objectives, the usual stabilizers, conditioning,
and the GAN / progressive-growing GAN models that the trainer runs.

Objectives (``loss=``):
  minimax        Goodfellow et al. 2014, G minimises log(1 - D(G(z))): saturates early in training
  nonsaturating  the same D, G maximises log D(G(z))
  wgan           Arjovsky et al. 2017, critic with weight clipping (``clip``), RMSprop in the paper
  wgan-gp        Gulrajani et al. 2017, gradient penalty on real/fake interpolates (``gp_weight``)
  lsgan          Mao et al. 2017, least squares with targets a (fake), b (real), c (G's target)
  hinge          Lim & Ye 2017 / Miyato et al. 2018, as used by SAGAN and BigGAN
Stabilizers: instance noise (Sønderby et al. 2017, annealed to 0), feature matching (Salimans et al.
2016, added to G's loss with a weight), minibatch standard deviation (Karras et al. 2018, in D), the
mode-seeking term against conditional collapse (MSGAN, Mao et al. 2019, ``diversity``), and
differentiable augmentation of everything D sees (DiffAugment, Zhao et al. 2020) for small data sets.
Conditioning: the label's embedding is concatenated to z in G; D is a projection discriminator
(Miyato & Koyama 2018): logit = head(h) + <embed(y), h>.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from gensdk.core.nn.diffaugment import check_policy, diff_augment
from gensdk.core.nn.layers import MinibatchStdDev
from gensdk.core.nn.mlp import MLP, activation
from gensdk.core.nn.progressive import ProDiscriminator, ProGenerator

OBJECTIVES = ("minimax", "nonsaturating", "wgan", "wgan-gp", "lsgan", "hinge")


class Objective:
    """Discriminator and generator losses of one GAN objective, on raw D outputs (logits)."""

    def __init__(self, name: str, lsgan_abc: tuple[float, float, float] = (0.0, 1.0, 1.0)):
        if name not in OBJECTIVES:
            raise ValueError(f"unknown GAN loss {name!r}; known: {', '.join(OBJECTIVES)}")
        self.name = name
        self.a, self.b, self.c = lsgan_abc

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.name in ("minimax", "nonsaturating"):
            # -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus for stability
            return F.softplus(-real).mean() + F.softplus(fake).mean()
        if self.name in ("wgan", "wgan-gp"):
            return fake.mean() - real.mean()
        if self.name == "lsgan":
            return 0.5 * ((real - self.b).pow(2).mean() + (fake - self.a).pow(2).mean())
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # hinge

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.name == "minimax":
            return -F.softplus(fake).mean()  # = mean log(1 - sigmoid(f)), minimised
        if self.name == "nonsaturating":
            return F.softplus(-fake).mean()
        if self.name == "lsgan":
            return 0.5 * (fake - self.c).pow(2).mean()
        return -fake.mean()  # wgan, wgan-gp, hinge


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, **kw: Any) -> torch.Tensor:
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates; in float32 because the
    double backward through bf16 loses the penalty's precision."""
    with torch.autocast(device_type=real.device.type, enabled=False):
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        mixed = (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)
        out = critic(mixed, **kw)
        (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def mode_seeking(fake1: torch.Tensor, fake2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """MSGAN's term (Mao et al. 2019), to minimise: the inverse of the image distance per unit of noise
    distance between two samples of one condition; a conditional G that ignores z makes it explode."""
    ratio = (fake1 - fake2).abs().flatten(1).mean(1) / (z1 - z2).abs().mean(1)
    return 1.0 / (ratio.mean() + 1e-5)


class Generator(nn.Module):
    """A generator network, with the label embedding concatenated to z when conditional."""

    def __init__(self, net: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.net = net
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, **kw: Any) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(z, **kw)


class Discriminator(nn.Module):
    """A feature body, a linear head and, when conditional, the projection term."""

    def __init__(self, body: nn.Module, num_classes: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(body.out_features, 1)
        self.embed = nn.Embedding(num_classes, body.out_features) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, features: bool = False, **kw: Any):
        h = self.body(x, **kw).flatten(1)
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(y) * h).sum(1)
        return (logits, h) if features else logits


class MLPGenerator(nn.Module):
    def __init__(self, z_in: int, data_shape: list[int], hidden: list[int], output: str):
        super().__init__()
        self.data_shape = list(data_shape)
        self.mlp = MLP(z_in, math.prod(data_shape), hidden, act="relu")
        self.out = nn.Tanh() if output == "tanh" else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp(z)).view(-1, *self.data_shape)


class MLPDiscriminatorBody(nn.Module):
    """LeakyReLU MLP features; with minibatch_std, the batch statistic joins before the last layer."""

    def __init__(self, data_shape: list[int], hidden: list[int], minibatch_std: bool):
        super().__init__()
        if not hidden:
            raise ValueError("the MLP discriminator needs at least one hidden layer")
        self.front = MLP(math.prod(data_shape), None, hidden[:-1], act="leaky_relu")
        width = self.front.out_features if hidden[:-1] else math.prod(data_shape)
        self.mbstd = MinibatchStdDev() if minibatch_std else nn.Identity()
        self.last = nn.Sequential(nn.Linear(width + int(minibatch_std), hidden[-1]), activation("leaky_relu"))
        self.out_features = hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.mbstd(self.front(x.flatten(1))))


@register_model("gan")
class GAN(GenerativeModel):
    """A GAN on points (``arch="mlp"``) or images (``arch="dcgan"``; with ``attention_at`` and
    ``spectral_norm`` it is a SAGAN). One trainer step = one D update; G updates every ``n_critic``."""

    def __init__(self, *, data_shape: list[int], z_dim: int = 64, arch: str = "mlp",
                 hidden: list[int] = (256, 256), output: str = "linear", width: int = 64,
                 attention_at: int | None = None, spectral_norm: bool = False,
                 loss: str = "nonsaturating", n_critic: int = 1, gp_weight: float = 10.0, clip: float = 0.01,
                 lsgan_abc: list[float] = (0.0, 1.0, 1.0), minibatch_std: bool = False,
                 drift: float = 0.0, feature_matching: float = 0.0, instance_noise: float = 0.0,
                 diffaugment: str = "", diversity: float = 0.0, num_classes: int = 0,
                 optimizer: str = "adam", lr_g: float = 2e-4, lr_d: float = 2e-4, betas: list[float] = (0.5, 0.999)):
        super().__init__()
        if n_critic < 1 or z_dim < 1 or num_classes < 0 or diversity < 0:
            raise ValueError("n_critic and z_dim must be >= 1, num_classes and diversity >= 0")
        if optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be adam or rmsprop, got {optimizer!r}")
        self.objective = Objective(loss, tuple(lsgan_abc))
        self.data_shape = list(data_shape)
        self.z_dim, self.num_classes, self.n_critic = z_dim, num_classes, n_critic
        self.gp_weight, self.clip, self.drift = gp_weight, clip, drift
        self.feature_matching, self.instance_noise = feature_matching, instance_noise
        self.diffaugment = check_policy(diffaugment)
        self.diversity = diversity
        self.optimizer, self.lr_g, self.lr_d, self.betas = optimizer, lr_g, lr_d, tuple(betas)
        self.generator, self.discriminator = self.build_networks(
            arch=arch, hidden=list(hidden), output=output, width=width, attention_at=attention_at,
            spectral_norm=spectral_norm, minibatch_std=minibatch_std)
        self._last_g_loss: torch.Tensor | None = None

    @property
    def z_in(self) -> int:
        """Generator input width: z, plus a label embedding of the same width when conditional."""
        return self.z_dim * (2 if self.num_classes else 1)

    def build_networks(self, *, arch: str, hidden: list[int], output: str, width: int,
                       attention_at: int | None, spectral_norm: bool, minibatch_std: bool,
                       ) -> tuple[Generator, Discriminator]:
        if arch == "mlp":
            if output not in ("linear", "tanh"):
                raise ValueError(f"output must be linear or tanh, got {output!r}")
            g_net = MLPGenerator(self.z_in, self.data_shape, hidden, output)
            d_body = MLPDiscriminatorBody(self.data_shape, hidden, minibatch_std)
        elif arch == "dcgan":
            if len(self.data_shape) != 3 or self.data_shape[1] != self.data_shape[2]:
                raise ValueError(f"arch dcgan needs square images [C, H, H], got data_shape {self.data_shape}")
            channels, size = self.data_shape[0], self.data_shape[1]
            g_net = DCGANGenerator(self.z_in, size, channels, width=width, attention_at=attention_at)
            # batch norm mixes examples, which breaks the per-example gradient penalty (Gulrajani et al.)
            d_body = DCGANDiscriminator(size, channels, width=width, minibatch_std=minibatch_std,
                                        attention_at=attention_at, spectral_norm=spectral_norm,
                                        batch_norm=False if self.objective.name == "wgan-gp" else None)
        else:
            raise ValueError(f"unknown GAN arch {arch!r}; known: mlp, dcgan")
        return Generator(g_net, self.num_classes, self.z_dim), Discriminator(d_body, self.num_classes)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def make(params, lr: float) -> torch.optim.Optimizer:
            if self.optimizer == "rmsprop":  # the WGAN paper's choice for the clipped critic
                return torch.optim.RMSprop(params, lr=lr)
            return torch.optim.Adam(params, lr=lr, betas=self.betas)

        return {"d": make(self.discriminator.parameters(), self.lr_d),
                "g": make(self.generator.parameters(), self.lr_g)}

    def ema_module(self) -> nn.Module:
        return self.generator

    # --- hooks that progressive growing overrides -------------------------------------------------
    def network_kwargs(self, step: int | None = None) -> dict[str, Any]:
        return {}

    def prepare_real(self, x: torch.Tensor, step: int) -> torch.Tensor:
        return x

    # --- training ---------------------------------------------------------------------------------
    def labels_of(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if len(batch) < 2:
            raise ValueError("a conditional GAN (num_classes > 0) needs labelled data")
        return batch[1]

    def noisy(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """What D sees of a real or generated batch: DiffAugment, then annealed instance noise."""
        if self.diffaugment:
            x = diff_augment(x, self.diffaugment)
        sigma = self.instance_noise * max(0.0, 1.0 - ctx.step / ctx.total_steps)
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        G, D = self.generator, self.discriminator
        kw = self.network_kwargs(ctx.step)
        real, y = self.prepare_real(batch[0], ctx.step), self.labels_of(batch)
        z = torch.randn(real.shape[0], self.z_dim, device=real.device)

        with torch.no_grad():
            fake = G(z, y, **kw)
        real_logits = D(self.noisy(real, ctx), y, **kw)
        d_loss = self.objective.d_loss(real_logits, D(self.noisy(fake, ctx), y, **kw))
        if self.objective.name == "wgan-gp":
            d_loss = d_loss + self.gp_weight * gradient_penalty(D, real, fake, y=y, **kw)
        if self.drift > 0:  # ProGAN's drift term keeps critic outputs near 0
            d_loss = d_loss + self.drift * real_logits.float().pow(2).mean()
        ctx.optimize("d", d_loss)
        if self.objective.name == "wgan":
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-self.clip, self.clip)

        if ctx.step % self.n_critic == 0:
            D.requires_grad_(False)  # G's backward need not fill D's gradients
            z = torch.randn(real.shape[0], self.z_dim, device=real.device)
            fake = G(z, y, **kw)
            fake_logits, fake_h = D(self.noisy(fake, ctx), y, features=True, **kw)
            g_loss = self.objective.g_loss(fake_logits)
            if self.diversity > 0:
                z2 = torch.randn_like(z)
                g_loss = g_loss + self.diversity * mode_seeking(fake, G(z2, y, **kw), z, z2)
            if self.feature_matching > 0:
                with torch.no_grad():
                    _, real_h = D(self.noisy(real, ctx), y, features=True, **kw)
                g_loss = g_loss + self.feature_matching * (real_h.mean(0) - fake_h.mean(0)).pow(2).sum()
            ctx.optimize("g", g_loss)
            D.requires_grad_(True)
            self._last_g_loss = g_loss.detach()
        losses = {"d_loss": d_loss.detach()}
        if self._last_g_loss is not None:
            losses["g_loss"] = self._last_g_loss
        return losses

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | list[int] | None = None, **kw: Any) -> torch.Tensor:
        y = None
        if self.num_classes:
            y = torch.arange(n) % self.num_classes if labels is None else torch.as_tensor(labels)
            if len(y) != n or y.min() < 0 or y.max() >= self.num_classes:
                raise ValueError(f"labels must be {n} integers in [0, {self.num_classes})")
            y = y.to(self.device)
        z = torch.randn(n, self.z_dim, device=self.device)
        return self.generator(z, y, **self.network_kwargs()).float()


@register_model("progan")
class ProGAN(GAN):
    """Progressive growing (Karras et al. 2018): resolution doubles from ``start_size`` to the data's
    size; each new stage first fades in over ``phase_steps`` steps (alpha 0 -> 1), then trains stably
    for ``phase_steps``. Real images are downsampled (and faded the same way) to the current size.
    The paper's recipe is WGAN-GP with pixel norm, equalized learning rate and minibatch std."""

    def __init__(self, *, data_shape: list[int], z_dim: int = 128, start_size: int = 4, width: int = 128,
                 phase_steps: int = 1000, loss: str = "wgan-gp", n_critic: int = 1, gp_weight: float = 10.0,
                 drift: float = 1e-3, num_classes: int = 0, lr: float = 1e-3, betas: list[float] = (0.0, 0.99)):
        if phase_steps < 1:
            raise ValueError("phase_steps must be >= 1")
        self.start_size, self.phase_steps = start_size, phase_steps
        super().__init__(data_shape=data_shape, z_dim=z_dim, arch="progressive", width=width, loss=loss,
                         n_critic=n_critic, gp_weight=gp_weight, drift=drift, num_classes=num_classes,
                         lr_g=lr, lr_d=lr, betas=betas)
        # the step count travels with the weights, so a loaded model samples at its trained stage
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.long))

    def build_networks(self, *, width: int, **_: Any) -> tuple[Generator, Discriminator]:
        channels, size = self.data_shape[0], self.data_shape[-1]
        g_net = ProGenerator(self.z_in, channels, start_size=self.start_size, max_size=size, width=width)
        d_body = ProDiscriminator(channels, start_size=self.start_size, max_size=size, width=width)
        self.num_stages = g_net.num_stages
        return Generator(g_net, self.num_classes, self.z_dim), Discriminator(d_body, self.num_classes)

    def stage_and_alpha(self, step: int) -> tuple[int, float]:
        """Stage 0 trains for one phase; every later stage fades in for one phase, then is stable."""
        if step < self.phase_steps:
            return 0, 1.0
        stage, into = divmod(step - self.phase_steps, 2 * self.phase_steps)
        stage += 1
        if stage >= self.num_stages:
            return self.num_stages - 1, 1.0
        return stage, min(1.0, into / self.phase_steps)

    def network_kwargs(self, step: int | None = None) -> dict[str, Any]:
        stage, alpha = self.stage_and_alpha(int(self.trained_steps) if step is None else step)
        return {"stage": stage, "alpha": alpha}

    def prepare_real(self, x: torch.Tensor, step: int) -> torch.Tensor:
        stage, alpha = self.stage_and_alpha(step)
        size = self.start_size * 2**stage
        factor = x.shape[-1] // size
        low = F.avg_pool2d(x, factor) if factor > 1 else x
        if alpha < 1.0:  # fade the real images exactly like the generator's output
            blurred = F.interpolate(F.avg_pool2d(low, 2), scale_factor=2, mode="nearest")
            low = alpha * low + (1 - alpha) * blurred
        return low

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        losses = super().train_step(batch, ctx)
        self.trained_steps.fill_(ctx.step + 1)
        stage, alpha = self.stage_and_alpha(ctx.step)
        losses["stage"] = torch.tensor(float(stage))
        losses["alpha"] = torch.tensor(alpha)
        return losses
