"""Autoencoder-family generative models over flattened data, with MLP encoders and decoders.

  vae  Variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014): ELBO with the
       reparameterisation trick and the analytic KL to N(0, I); ``beta != 1`` is a beta-VAE
       (Higgins et al. 2017); ``num_classes > 0`` a conditional VAE (Sohn et al. 2015).
       ``nll`` is the importance-weighted bound of Burda et al. 2016 (IWAE).
  aae  Adversarial autoencoder (Makhzani et al. 2016): a latent discriminator pushes q(z) to N(0, I).
  wae  Wasserstein autoencoder, WAE-MMD (Tolstikhin et al. 2018): an MMD penalty with the inverse
       multiquadratics kernel pushes q(z) to N(0, I).

Decoder likelihoods (``likelihood=``), shared by all three through ``reconstruction_nll``:
  bernoulli  the decoder outputs logits; the loss is BCE-with-logits summed over dimensions (data in [0, 1]).
  gaussian   the decoder outputs means. The VAE learns one log-variance per data dimension (a free
             parameter, not a function of z, initialised to 0), floored at ``LOG_VAR_MIN`` so that a
             constant pixel (the blank borders of digits) cannot push the density to infinity, and
             learned ``LOG_VAR_LR_FACTOR`` times faster than the nets (see ``VAE.make_optimizers``).
             AAE and WAE have no likelihood to fit a variance to, so they use unit variance:
             0.5 * squared error + const.
All reconstruction losses are per-example negative log-likelihoods in nats, computed in float32.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.mlp import MLP

LIKELIHOODS = ("bernoulli", "gaussian")
LOG_VAR_MIN = -7.0  # std >= 0.03: the floor of the gaussian VAE's learned decoder variance
LOG_VAR_LR_FACTOR = 10.0  # the gaussian VAE learns its decoder log-variance this much faster than the nets
LOG_2PI = math.log(2 * math.pi)
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # as in the WAE authors' code (mmd_penalty)


# --- losses shared by the three models ---------------------------------------------------------
def reconstruction_nll(out: torch.Tensor, x: torch.Tensor, likelihood: str,
                       log_var: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x | z) summed over the last dimension, in float32: ``out`` is the decoder's output
    (logits or means), ``log_var`` the gaussian log-variance (None: unit variance)."""
    out, x = out.float(), x.float()
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
    if log_var is None:
        log_var = torch.zeros((), device=out.device)
    return -gaussian_log_prob(x, out, log_var)


def gaussian_log_prob(v: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(v; mean, exp(log_var)) summed over the last dimension."""
    return -0.5 * ((v - mean).pow(2) * torch.exp(-log_var) + log_var + LOG_2PI).sum(-1)


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) per example, in closed form (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(-1)


def imq_mmd(z_q: torch.Tensor, z_p: torch.Tensor, prior_var: float = 1.0) -> torch.Tensor:
    """Unbiased MMD^2 between two equally large samples with the inverse multiquadratics kernel
    k(a, b) = C / (C + ||a - b||^2), summed over C = 2 * dim * prior_var * s for the scales s of
    ``IMQ_SCALES`` (Tolstikhin et al. 2018 and their code). Heavy tails give useful gradients even
    for far-apart codes, where an RBF kernel's vanish."""
    z_q, z_p = z_q.float(), z_p.float()
    n, dim = z_q.shape

    def sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)  # elementwise: exact in float32

    d_qq, d_pp, d_pq = sq_dists(z_q, z_q), sq_dists(z_p, z_p), sq_dists(z_p, z_q)
    off_diag = 1 - torch.eye(n, device=z_q.device)
    total = z_q.new_zeros(())
    for scale in IMQ_SCALES:
        c = 2 * dim * prior_var * scale
        within = ((c / (c + d_qq) + c / (c + d_pp)) * off_diag).sum() / (n * n - n)
        across = (c / (c + d_pq)).sum() * 2 / (n * n)
        total = total + within - across
    return total


# --- the shared autoencoder ----------------------------------------------------------------------
class _Autoencoder(GenerativeModel):
    """Flattening, optional one-hot label conditioning, the MLP encoder/decoder pair, the decoder's
    likelihood and prior sampling. Subclasses define ``code`` (x -> a point in latent space)."""

    def __init__(self, *, data_shape: Sequence[int], latent_dim: int, hidden: Sequence[int],
                 likelihood: str, num_classes: int, encoder_out: int, learn_variance: bool):
        super().__init__()
        shape = [int(s) for s in data_shape]
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"data_shape must be a non-empty list of positive ints, got {data_shape!r}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim!r}")
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden widths must be positive, got {hidden!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; known: {', '.join(LIKELIHOODS)}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes!r}")
        self.data_shape = tuple(shape)
        self.data_dim = math.prod(shape)
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.num_classes = num_classes
        hidden = [int(h) for h in hidden]
        self.encoder = MLP(self.data_dim + num_classes, encoder_out, hidden)
        self.decoder = MLP(latent_dim + num_classes, self.data_dim, hidden[::-1])  # mirror of the encoder
        # Per-dimension decoder log-variance (gaussian VAE only); None means unit variance.
        self.log_var = nn.Parameter(torch.zeros(self.data_dim)) if learn_variance and likelihood == "gaussian" else None

    # --- inputs --------------------------------------------------------------------------------
    def one_hot(self, labels: Any, n: int, draw: bool = False) -> torch.Tensor | None:
        """Validated one-hot labels for ``n`` examples (None for an unconditional model). ``labels``:
        an int (every example) or ``n`` ints; when None, ``draw`` picks uniform classes (sampling)."""
        if self.num_classes == 0:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional (num_classes=0); do not pass labels")
            return None
        if labels is None:
            if not draw:
                raise ValueError(f"{type(self).__name__} is conditional (num_classes={self.num_classes}); "
                                 "pass the labels")
            labels = torch.randint(self.num_classes, (n,), device=self.device)
        labels = torch.as_tensor(labels, device=self.device)
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.dim() == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise ValueError(f"expected {n} labels, got shape {tuple(labels.shape)}")
        if n and (labels.min() < 0 or labels.max() >= self.num_classes):  # one sync: fine outside training
            raise ValueError(f"labels must be in [0, {self.num_classes}), got values in "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        return F.one_hot(labels.long(), self.num_classes).float()

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"expected data of shape [N, {', '.join(map(str, self.data_shape))}], "
                             f"got {list(x.shape)}")
        return x.reshape(len(x), self.data_dim).float()

    def _batch(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The trainer's ``(x,)`` or ``(x, y)`` as flat x and one-hot labels; an unconditional
        model ignores labels. Labels are not range-checked here to keep the step free of syncs."""
        x = self._flat(batch[0])
        if self.num_classes == 0:
            return x, None
        if len(batch) < 2:
            raise ValueError(f"{type(self).__name__} has num_classes={self.num_classes} but the data has no labels")
        return x, F.one_hot(batch[1].long(), self.num_classes).float()

    @staticmethod
    def _with(v: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return v if cond is None else torch.cat([v, cond.to(v.dtype)], -1)

    # --- networks --------------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output over the flat data, float32: logits (bernoulli) or means (gaussian)."""
        return self.decoder(self._with(z, cond)).float()

    def recon_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        log_var = None if self.log_var is None else self.log_var.clamp(min=LOG_VAR_MIN)
        return reconstruction_nll(out, x, self.likelihood, log_var)

    def _emit(self, out: torch.Tensor, mean: bool) -> torch.Tensor:
        """Decoder mean (probabilities or means) or a draw from the decoder's likelihood."""
        if self.likelihood == "bernoulli":
            probs = torch.sigmoid(out)
            return probs if mean else torch.bernoulli(probs)
        if mean:
            return out
        std = torch.ones((), device=out.device) if self.log_var is None else \
            (0.5 * self.log_var.clamp(min=LOG_VAR_MIN)).exp()
        return out + std * torch.randn_like(out)

    def code(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The latent code used by ``reconstruct``: each family (VAE, AAE, WAE) defines its own."""
        raise NotImplementedError(f"{type(self).__name__} must define code")

    # --- public API ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels: Any = None, mean: bool = True) -> torch.Tensor:
        """``n`` samples of shape ``[n, *data_shape]`` decoded from prior draws z ~ N(0, I).
        ``mean=True`` returns the decoder mean (bernoulli: pixel probabilities), ``mean=False`` a
        draw from the decoder. A conditional model takes ``labels`` (an int or ``n`` ints; None:
        uniform classes)."""
        cond = self.one_hot(labels, n, draw=True)
        z = torch.randn(n, self.latent_dim, device=self.device)
        return self._emit(self.decode(z, cond), mean).reshape(n, *self.data_shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: Any = None) -> torch.Tensor:
        """Decoder mean of each example's code (the posterior mean for the VAE), shaped like x."""
        cond = self.one_hot(y, len(x))
        return self._emit(self.decode(self.code(self._flat(x), cond), cond), mean=True).reshape(x.shape)


@register_model("vae")
class VAE(_Autoencoder):
    """Variational autoencoder (Kingma & Welling 2014): q(z|x) = N(mu(x), diag exp(log_var(x))),
    p(z) = N(0, I), p(x|z) from ``likelihood``. Trained on recon + beta * KL, where recon is the
    one-sample estimate of -E_q log p(x|z) and KL is analytic; ``beta != 1`` gives a beta-VAE
    (Higgins et al. 2017). ``num_classes > 0``: a conditional VAE (Sohn et al. 2015), the one-hot
    label concatenated to the encoder's and the decoder's inputs."""

    def __init__(self, *, data_shape: list[int], latent_dim: int = 16, hidden: list[int] = [256, 256],  # noqa: B006
                 likelihood: str = "bernoulli", beta: float = 1.0, num_classes: int = 0, lr: float = 1e-3):
        super().__init__(data_shape=data_shape, latent_dim=latent_dim, hidden=hidden, likelihood=likelihood,
                         num_classes=num_classes, encoder_out=2 * latent_dim, learn_variance=True)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}")
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.beta, self.lr = float(beta), float(lr)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        nets = list(self.encoder.parameters()) + list(self.decoder.parameters())
        groups: list[dict[str, Any]] = [{"params": nets}]
        if self.log_var is not None:
            # Adam moves a parameter by about lr per step; at lr the decoder variance would take
            # thousands of steps to shrink from 1, and meanwhile the weak reconstruction signal lets
            # the KL collapse the posterior. It is one number per dimension, safe to learn faster.
            groups.append({"params": [self.log_var], "lr": LOG_VAR_LR_FACTOR * self.lr})
        return {"vae": torch.optim.Adam(groups, lr=self.lr)}

    def posterior(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x) for flat x, in float32 (they feed exp and the KL)."""
        mu, log_var = self.encoder(self._with(x, cond)).float().chunk(2, dim=-1)
        return mu, log_var

    def code(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.posterior(x, cond)[0]

    def _terms(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example reconstruction NLL (one reparameterised sample) and analytic KL."""
        mu, log_var = self.posterior(x, cond)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)  # reparameterisation: gradients reach mu, sigma
        return self.recon_nll(self.decode(z, cond), x), kl_to_standard_normal(mu, log_var)

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x, cond = self._batch(batch)
        recon, kl = self._terms(x, cond)
        recon, kl = recon.mean(), kl.mean()
        loss = recon + self.beta * kl
        ctx.optimize("vae", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def elbo(self, x: torch.Tensor, y: Any = None) -> torch.Tensor:
        """Per-example ELBO = E_q log p(x|z) - KL(q || p) in nats (always beta = 1: the bound itself),
        with a one-sample estimate of the expectation; differentiable."""
        cond = self.one_hot(y, len(x))
        recon, kl = self._terms(self._flat(x), cond)
        return -(recon + kl)

    @torch.no_grad()
    def nll(self, x: torch.Tensor, y: Any = None, k: int = 100, chunk: int = 10) -> torch.Tensor:
        """Per-example -log p(x) in nats by importance sampling with q (Burda et al. 2016):
        -(logsumexp_i [log p(x, z_i) - log q(z_i|x)] - log k), z_1..z_k ~ q(z|x). An upper bound on the
        true NLL that tightens as k grows (k = 1 is -ELBO). Runs in float32 even under autocast (the
        log-weights differ by many nats, beyond bf16's precision) and ``chunk`` samples at a time."""
        if k < 1 or chunk < 1:
            raise ValueError(f"k and chunk must be positive, got k={k!r}, chunk={chunk!r}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            cond = self.one_hot(y, len(x))
            flat = self._flat(x)
            mu, log_var = self.posterior(flat, cond)
            log_w = []
            for start in range(0, k, chunk):
                c = min(chunk, k - start)
                z = mu + (0.5 * log_var).exp() * torch.randn(c, *mu.shape, device=mu.device)  # [c, B, L]
                zc = z.reshape(-1, self.latent_dim)
                cc = None if cond is None else cond.repeat(c, 1)
                log_px = -self.recon_nll(self.decode(zc, cc), flat.repeat(c, 1)).view(c, -1)
                log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # log N(z; 0, I)
                log_qz = gaussian_log_prob(z, mu, log_var)
                log_w.append(log_px + log_pz - log_qz)
            return math.log(k) - torch.cat(log_w).logsumexp(0)


@register_model("aae")
class AAE(_Autoencoder):
    """Adversarial autoencoder (Makhzani et al. 2016) with a deterministic encoder z = E(x).

    Each step has the paper's two phases: reconstruction ("ae": encoder and decoder on the
    reconstruction NLL), then regularisation: the latent discriminator learns to tell prior draws
    N(0, I) ("real") from codes E(x) ("fake") ("disc"), and the encoder, as generator, learns to
    fool it with the non-saturating loss ("gen"). ``sample`` decodes prior draws.
    """

    def __init__(self, *, data_shape: list[int], latent_dim: int = 16, hidden: list[int] = [256, 256],  # noqa: B006
                 disc_hidden: list[int] = [256, 256], likelihood: str = "bernoulli", lr: float = 1e-3,  # noqa: B006
                 disc_lr: float = 2e-4):
        super().__init__(data_shape=data_shape, latent_dim=latent_dim, hidden=hidden, likelihood=likelihood,
                         num_classes=0, encoder_out=latent_dim, learn_variance=False)
        if lr <= 0 or disc_lr <= 0:
            raise ValueError(f"lr and disc_lr must be positive, got {lr!r}, {disc_lr!r}")
        self.discriminator = MLP(latent_dim, 1, [int(h) for h in disc_hidden], act="leaky_relu")
        self.lr, self.disc_lr = float(lr), float(disc_lr)

    def code(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x).float()

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        autoencoder = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"ae": torch.optim.Adam(autoencoder, lr=self.lr),
                "disc": torch.optim.Adam(self.discriminator.parameters(), lr=self.disc_lr, betas=(0.5, 0.999)),
                "gen": torch.optim.Adam(self.encoder.parameters(), lr=self.disc_lr, betas=(0.5, 0.999))}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x, _ = self._batch(batch)
        recon = self.recon_nll(self.decode(self.code(x)), x).mean()
        ctx.optimize("ae", recon)
        # Regularisation phase, on codes from the updated encoder (the old graph is stale after the step).
        z_fake = self.code(x)
        z_real = torch.randn_like(z_fake)
        d_loss = (F.softplus(-self.discriminator(z_real).float()).mean()      # -log D(z_prior)
                  + F.softplus(self.discriminator(z_fake.detach()).float()).mean())  # -log(1 - D(E(x)))
        ctx.optimize("disc", d_loss)
        g_loss = F.softplus(-self.discriminator(z_fake).float()).mean()     # -log D(E(x)), non-saturating
        ctx.optimize("gen", g_loss)  # steps the encoder only; the discriminator's stray grads are reset next step
        return {"recon": recon.detach(), "disc": d_loss.detach(), "gen": g_loss.detach()}


@register_model("wae")
class WAE(_Autoencoder):
    """Wasserstein autoencoder with the MMD penalty, WAE-MMD (Tolstikhin et al. 2018, Algorithm 2):
    deterministic encoder, loss = reconstruction + ``mmd_weight`` (the paper's lambda) * MMD(q(z), N(0, I))
    with the inverse multiquadratics kernel (``imq_mmd``). ``sample`` decodes prior draws."""

    def __init__(self, *, data_shape: list[int], latent_dim: int = 16, hidden: list[int] = [256, 256],  # noqa: B006
                 likelihood: str = "bernoulli", mmd_weight: float = 10.0, lr: float = 1e-3):
        super().__init__(data_shape=data_shape, latent_dim=latent_dim, hidden=hidden, likelihood=likelihood,
                         num_classes=0, encoder_out=latent_dim, learn_variance=False)
        if mmd_weight < 0:
            raise ValueError(f"mmd_weight must be >= 0, got {mmd_weight!r}")
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        self.mmd_weight, self.lr = float(mmd_weight), float(lr)

    def code(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x).float()

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"wae": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x, _ = self._batch(batch)
        z = self.code(x)
        recon = self.recon_nll(self.decode(z), x).mean()
        mmd = imq_mmd(z, torch.randn_like(z))
        loss = recon + self.mmd_weight * mmd
        ctx.optimize("wae", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "mmd": mmd.detach()}
