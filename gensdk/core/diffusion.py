"""Diffusion and flow matching: a network learns to undo noise; a sampler, chosen at sampling time
with its number of steps, integrates from noise to data.

  diffusion  Gaussian diffusion over T discrete steps (Ho et al. 2020): x_t = a_t x + s_t eps with
             a_t = sqrt(alpha_bar_t), s_t = sqrt(1 - alpha_bar_t). Noise schedules: ``linear`` (Ho et al.,
             betas 1e-4 .. 0.02 for T = 1000, scaled by 1000 / T) and ``cosine`` (Nichol & Dhariwal
             2021). The net predicts ``eps`` (Ho et al.) or ``v = a eps - s x`` (Salimans & Ho 2022);
             the loss is the plain mean squared error on that target. With eps and the cosine schedule,
             set ``clip`` to the data's range: x0 = (x - s eps) / a divides by a ~ 5e-5 at the noisiest
             step, and an unclipped x0 there ruins the samples (v-prediction has no such division).
  flow       Flow matching with straight paths, i.e. rectified flow (Lipman et al. 2023; Liu et al.
             2023): x_t = (1 - t) z + t x with z ~ N(0, I), t ~ U(0, 1); the net regresses the
             velocity x - z. Time runs from noise (t = 0) to data (t = 1).

Samplers (``sample(n, steps=..., sampler=...)``):
  diffusion  ``ddim`` (Song et al. 2021; ``eta=0`` deterministic, ``eta=1`` is ancestral DDPM on the
             chosen steps), ``ddpm`` (= ddim with eta 1), ``dpm++2m`` (DPM-Solver++(2M), Lu et al.
             2022: a second-order multistep solver of the probability-flow ODE, one net call a step).
  flow       ``euler`` and ``heun`` (Heun's second-order method, two net calls a step).
Each sampler calls the denoiser once per time step of ``sampling_timesteps``, in order, so a caller's
denoiser may carry state of its own along the same steps (a table's categorical columns, below).

Masked (absorbing-state) diffusion for categorical variables (Austin et al. 2021; Sahoo et al. 2024;
Shi et al. 2024): ``absorb`` replaces each category by a "mask" symbol with probability 1 - keep_t;
a net predicts the masked categories from what is left; ``unmask`` reveals masked ones on the way
back. Tied to a Gaussian schedule by keep_t = alpha_bar_t, a model diffuses continuous and
categorical variables on one clock (as TabDDPM ties its multinomial diffusion, Kotelnikov et al. 2023).
Classifier-free guidance (Ho & Salimans 2021): a conditional model (``num_classes > 0``) replaces
the label by a "no label" class with probability ``label_dropout`` while training; sampling with
``guidance=w`` uses uncond + w * (cond - uncond), so w = 0 is unconditional, w = 1 conditional and
w > 1 guided. A model built with ``context_dim > 0`` also takes a context per example (data
``(x, y, context)``; ``sample(..., context=)``), e.g. a style embedding, which the net adds to its
conditioning; it is zeroed together with the dropped labels, and guidance contrasts (label,
context) with (no label, zero context). ``sample(..., noise=)`` takes the starting noise, so that a
deterministic sampler maps each noise to one image (reproducible per image, whatever the batch).
The trainer's EMA averages the denoiser (``ema_module``) and the saved model holds the
average, so sampling uses the EMA weights.

The training step is static (no host syncs, no branches on data or step): the trainer may replay
it as a CUDA graph.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.denoisers import MLPDenoiser, UNet
from gensdk.errors import UserError

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")
ARCHS = ("mlp", "unet")
DIFFUSION_SAMPLERS = ("ddim", "ddpm", "dpm++2m")
FLOW_SAMPLERS = ("euler", "heun")
COSINE_OFFSET = 0.008  # Nichol & Dhariwal's s: keeps beta_1 from being vanishingly small
MAX_BETA = 0.999       # their clip of the cosine schedule's last betas

# (x, t) -> (x0, eps): a denoiser's estimate of the clean data and of the noise at diffusion step t
Denoise = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
Velocity = Callable[[torch.Tensor, float], torch.Tensor]


# --- the noise schedule and the parameterisations (float64 where it is set up) --------------------
def check_gaussian_options(prediction: str, timesteps: int, clip: float | None) -> None:
    """The options of a Gaussian diffusion that no training could fix, refused before anything is built."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}; known: {', '.join(PREDICTIONS)}")
    if timesteps < 2:
        raise ValueError(f"timesteps must be >= 2, got {timesteps!r}")
    if clip is not None and clip <= 0:
        raise ValueError(f"clip must be positive (or null for none), got {clip!r}")


def check_sampler(sampler: Any, known: Sequence[str], model_name: str) -> str:
    """A sampler's name, refused with one line when the model has no such sampler."""
    if sampler not in known:
        raise UserError(f"unknown sampler {sampler!r} for model {model_name!r}; known: {', '.join(known)}")
    return sampler


def check_steps(steps: Any, at_most: int | None = None) -> int:
    """A number of sampling steps: a positive integer, at most ``at_most`` (a model's diffusion steps) if given."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UserError(f"steps must be a positive integer, got {steps!r}")
    if at_most is not None and steps > at_most:
        raise UserError(f"steps must be at most the model's {at_most} diffusion steps, got {steps}")
    return steps


def alpha_bar_schedule(name: str, steps: int) -> torch.Tensor:
    """alpha_bar_t for t = 0 .. T-1 (t = 0 is the least noisy step), float64."""
    if name == "linear":
        scale = 1000 / steps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=torch.float64)
    elif name == "cosine":
        f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + COSINE_OFFSET)
                      / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=MAX_BETA)
    else:
        raise ValueError(f"unknown noise schedule {name!r}; known: {', '.join(SCHEDULES)}")
    return torch.cumprod(1 - betas, 0)


def to_x0_eps(out: torch.Tensor, x: torch.Tensor, a: Any, s: Any, prediction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The net's output at x_t = a x0 + s eps (a^2 + s^2 = 1) as (x0, eps)."""
    if prediction == "eps":
        return (x - s * out) / a, out
    return a * x - s * out, s * x + a * out  # v = a eps - s x0, rotated back


def v_target(x0: torch.Tensor, eps: torch.Tensor, a: Any, s: Any) -> torch.Tensor:
    return a * eps - s * x0


def sampling_timesteps(total: int, steps: int) -> list[int]:
    """``steps`` diffusion steps from T-1 down to 0, evenly spaced (distinct when steps <= T)."""
    return [round(v) for v in torch.linspace(total - 1, 0, steps, dtype=torch.float64).tolist()]


# --- samplers: functions of a denoiser, so that tests can plug in an analytic one -----------------
def ddim(denoise: Denoise, x: torch.Tensor, alpha_bar: torch.Tensor, steps: int, eta: float = 0.0) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12) from x at step T-1 over ``steps`` steps, the last one to clean
    data (alpha_bar = 1). ``eta`` scales the fresh noise: 0 is deterministic, 1 is DDPM's posterior."""
    ts = sampling_timesteps(len(alpha_bar), steps)
    for k, t in enumerate(ts):
        ab = float(alpha_bar[t])
        ab_next = float(alpha_bar[ts[k + 1]]) if k + 1 < len(ts) else 1.0
        x0, eps = denoise(x, t)
        sigma = eta * math.sqrt((1 - ab_next) / (1 - ab) * (1 - ab / ab_next))
        x = math.sqrt(ab_next) * x0 + math.sqrt(max(1 - ab_next - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn_like(x)
    return x


def dpm_solver_2m(denoise: Denoise, x: torch.Tensor, alpha_bar: torch.Tensor, steps: int) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2): an exponential integrator of the probability-flow ODE
    in lambda = log(a / s) that extrapolates the data prediction linearly from the last two steps.
    The first step is DDIM. The last two are first order: into t = 0, where lambda jumps far (the
    linear extrapolation overshoots there at few steps; diffusers' ``lower_order_final``), and from
    t = 0 to clean data (lambda = inf)."""
    ts = sampling_timesteps(len(alpha_bar), steps)
    prev_x0, prev_h = None, None
    for k, t in enumerate(ts):
        x0, _ = denoise(x, t)
        if k + 1 == len(ts):
            return x0
        ab, ab_next = float(alpha_bar[t]), float(alpha_bar[ts[k + 1]])
        s, a_next, s_next = math.sqrt(1 - ab), math.sqrt(ab_next), math.sqrt(1 - ab_next)
        h = 0.5 * (math.log(ab_next / (1 - ab_next)) - math.log(ab / (1 - ab)))
        second_order = prev_x0 is not None and k + 2 < len(ts)
        d = x0 + (x0 - prev_x0) * (h / (2 * prev_h)) if second_order else x0
        x = (s_next / s) * x + a_next * (-math.expm1(-h)) * d
        prev_x0, prev_h = x0, h
    return x


def flow_ode(velocity: Velocity, x: torch.Tensor, steps: int, method: str = "heun") -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 0 (noise) to 1 (data) in ``steps`` equal steps, with Euler's
    method or Heun's (the trapezoid of the velocities at both ends of an Euler step). Heun's last step is
    the midpoint rule instead, second order too: at t = 1 the velocity of tight modes has left the
    straight path (it tends to x itself), and a trapezoid with it pulls every sample off its mode."""
    dt = 1.0 / steps
    for k in range(steps):
        t = k * dt
        v = velocity(x, t)
        if method == "heun" and k < steps - 1:
            v = 0.5 * (v + velocity(x + dt * v, t + dt))
        elif method == "heun":
            v = velocity(x + 0.5 * dt * v, t + 0.5 * dt)
        x = x + dt * v
    return x


# --- masked diffusion of categorical variables -----------------------------------------------------
def absorb(codes: torch.Tensor, keep: torch.Tensor, mask_id: int) -> torch.Tensor:
    """The forward process of masked diffusion: each code stays with probability ``keep`` (broadcast
    against ``codes``, e.g. one value per row) and becomes ``mask_id`` otherwise. Static (no host sync)."""
    stays = torch.rand(codes.shape, device=codes.device) < keep
    return torch.where(stays, codes, torch.full_like(codes, mask_id))


def unmask(tokens: torch.Tensor, logits: torch.Tensor, keep: float, keep_next: float, mask_id: int) -> torch.Tensor:
    """One reverse step of masked diffusion, from keep to keep_next (> keep; 1 at the end, which reveals
    all): a masked token is revealed with probability (keep_next - keep) / (1 - keep), the chance that it
    was masked at this step and not at the next, and its category is drawn from ``softmax(logits)``
    (``logits``: [..., mask_id], the real categories only). Revealed tokens never change again."""
    reveal_prob = min(max((keep_next - keep) / (1.0 - keep), 0.0), 1.0)
    reveal = (tokens == mask_id) & (torch.rand(tokens.shape, device=tokens.device) < reveal_prob)
    gumbel = -torch.log(-torch.log(torch.rand(logits.shape, device=logits.device).clamp(1e-20, 1.0)))
    drawn = (logits.float() + gumbel).argmax(-1)  # the Gumbel-max trick: a draw from the softmax
    return torch.where(reveal, drawn, tokens)


# --- the models --------------------------------------------------------------------------------
class _Denoising(GenerativeModel):
    """What diffusion and flow matching share: the denoiser, labels with their dropout for guidance,
    the optimizer, the static training step around ``corrupt`` and the checks of sampling options."""

    static_step = True
    samplers: tuple[str, ...] = ()

    def __init__(self, *, data_shape: Sequence[int], arch: str, width: int, depth: int, channel_mult: Sequence[int],
                 attention: bool, dropout: float, num_classes: int, label_dropout: float, lr: float,
                 sampler: str, sample_steps: int, context_dim: int = 0):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data_shape must be a non-empty list of positive ints, got {data_shape!r}")
        if num_classes < 0 or not 0.0 <= label_dropout < 1.0:
            raise ValueError(f"num_classes must be >= 0 and label_dropout in [0, 1), "
                             f"got {num_classes}, {label_dropout}")
        if context_dim < 0:
            raise ValueError(f"context_dim must be >= 0, got {context_dim}")
        self.num_classes, self.label_dropout, self.lr = num_classes, label_dropout, lr
        self.context_dim = context_dim
        self.sampler = check_sampler(sampler, self.samplers, self.model_name)
        self.sample_steps = check_steps(sample_steps)
        if arch == "mlp":
            self.net = MLPDenoiser(math.prod(self.data_shape), width, depth, num_classes, context_dim)
        elif arch == "unet":
            if len(self.data_shape) != 3 or self.data_shape[1] != self.data_shape[2]:
                raise ValueError(f"arch unet needs square images [C, H, H], got data_shape {list(self.data_shape)}")
            self.net = UNet(self.data_shape[0], self.data_shape[1], width, channel_mult, depth, attention, dropout,
                            num_classes, context_dim)
        else:
            raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.Adam(self.net.parameters(), lr=self.lr)}

    def ema_module(self) -> nn.Module:
        return self.net

    # --- training ----------------------------------------------------------------------------
    def corrupt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy x, the net's time input in [0, 1], the regression target) for clean x."""
        raise NotImplementedError

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch[0].float()
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"expected data of shape [N, {', '.join(map(str, self.data_shape))}], got {list(x.shape)}")
        y = context = None
        wanted = 1 + bool(self.num_classes) + bool(self.context_dim)
        if len(batch) < wanted:
            raise ValueError(f"{type(self).__name__} has num_classes={self.num_classes} and context_dim="
                             f"{self.context_dim}: the data needs {wanted} tensors, got {len(batch)}")
        if self.num_classes or self.context_dim:
            # drawn for every example and applied with where(): the same kernels whatever the draw
            drop = torch.rand(len(x), device=x.device) < self.label_dropout
        if self.num_classes:
            y = torch.where(drop, torch.full_like(batch[1], self.num_classes), batch[1]).long()
        if self.context_dim:
            context = batch[wanted - 1].float()
            context = torch.where(drop.view((-1,) + (1,) * (context.dim() - 1)), 0.0, context)
        noisy, time, target = self.corrupt(x)
        loss = F.mse_loss(self.net(noisy, time, y, context).float(), target)
        ctx.optimize("net", loss)
        return {"loss": loss.detach()}

    # --- sampling ------------------------------------------------------------------------------
    def labels_for_sampling(self, n: int, labels: Any, guidance: float | None) -> torch.Tensor | None:
        """Validated class indices for ``n`` samples (None: unconditional); default: 0, 1, 2, ... in turn."""
        if not self.num_classes:
            if labels is not None or (guidance is not None and not self.context_dim):
                raise UserError(f"model {self.model_name!r} is unconditional (num_classes=0): "
                                f"it takes no {'guidance scale' if labels is None else 'labels'}")
            return None
        if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                     or not math.isfinite(guidance)):
            raise UserError(f"guidance must be a number, got {guidance!r}")
        try:
            y = torch.arange(n) % self.num_classes if labels is None else torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise UserError(f"labels must be one integer or {n} integers, got {labels!r}") from None
        if y.dim() == 0:
            y = y.expand(n)
        if y.is_floating_point() or y.shape != (n,) or (n and (y.min() < 0 or y.max() >= self.num_classes)):
            raise UserError(f"labels must be one integer or {n} integers in [0, {self.num_classes})")
        return y.long().to(self.device)

    def guided(self, x: torch.Tensor, time: float, y: torch.Tensor | None, guidance: float | None,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """The net's output at x, with classifier-free guidance: both passes as one batch."""
        t = torch.full((len(x),), time, device=x.device)
        if (y is None and context is None) or guidance is None or guidance == 1:
            return self.net(x, t, y, context).float()
        both = lambda a, null: None if a is None else torch.cat([a, null])  # noqa: E731
        cond, uncond = self.net(torch.cat([x, x]), torch.cat([t, t]),
                                both(y, None if y is None else torch.full_like(y, self.num_classes)),
                                both(context, None if context is None else torch.zeros_like(context))
                                ).float().chunk(2)
        return uncond + guidance * (cond - uncond)

    def _prepare(self, n: int, steps: int | None, sampler: str | None, labels: Any, guidance: float | None,
                 context: torch.Tensor | None = None, noise: torch.Tensor | None = None
                 ) -> tuple[int, str, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """Checked sampling options: (steps, sampler, labels, context, starting noise)."""
        steps = check_steps(self.sample_steps if steps is None else steps)
        sampler = check_sampler(self.sampler if sampler is None else sampler, self.samplers, self.model_name)
        y = self.labels_for_sampling(n, labels, guidance)
        if bool(self.context_dim) != (context is not None):
            raise UserError(f"model {self.model_name!r} " + ("takes a context per sample (context=...)"
                                                             if self.context_dim else "takes no context"))
        if context is not None:
            if not isinstance(context, torch.Tensor) or len(context) != n:
                raise UserError(f"context must be a tensor of {n} rows, one per sample")
            context = context.to(self.device).float()
        if noise is None:
            noise = torch.randn(n, *self.data_shape, device=self.device)
        elif not isinstance(noise, torch.Tensor) or tuple(noise.shape) != (n, *self.data_shape):
            raise UserError(f"noise must be a tensor of shape [{n}, {', '.join(map(str, self.data_shape))}]")
        return steps, sampler, y, context, noise.to(self.device).float()


@register_model("diffusion")
class Diffusion(_Denoising):
    """Gaussian diffusion (DDPM) with eps- or v-prediction; see the module's docstring."""

    samplers = DIFFUSION_SAMPLERS

    def __init__(self, *, data_shape: list[int], timesteps: int = 1000, schedule: str = "cosine",
                 prediction: str = "eps", clip: float | None = None, arch: str = "mlp", width: int = 256,
                 depth: int = 3, channel_mult: list[int] = (1, 2), attention: bool = True, dropout: float = 0.0,
                 num_classes: int = 0, label_dropout: float = 0.1, lr: float = 1e-3, sampler: str = "dpm++2m",
                 sample_steps: int = 50, context_dim: int = 0):
        check_gaussian_options(prediction, timesteps, clip)
        super().__init__(data_shape=data_shape, arch=arch, width=width, depth=depth, channel_mult=channel_mult,
                         attention=attention, dropout=dropout, num_classes=num_classes, label_dropout=label_dropout,
                         lr=lr, sampler=sampler, sample_steps=sample_steps, context_dim=context_dim)
        self.timesteps, self.prediction, self.clip = timesteps, prediction, clip
        self.alpha_bar = alpha_bar_schedule(schedule, timesteps)  # float64 on the CPU: the samplers' coefficients
        # a_t and s_t on the model's device for the training step (not saved: rebuilt from the config)
        self.register_buffer("a", self.alpha_bar.sqrt().float(), persistent=False)
        self.register_buffer("s", (1 - self.alpha_bar).sqrt().float(), persistent=False)

    def corrupt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = torch.randint(self.timesteps, (len(x),), device=x.device)
        shape = (-1,) + (1,) * (x.dim() - 1)
        a, s = self.a[t].view(shape), self.s[t].view(shape)
        eps = torch.randn_like(x)
        target = eps if self.prediction == "eps" else v_target(x, eps, a, s)
        return a * x + s * eps, t.float() / self.timesteps, target

    def denoiser(self, y: torch.Tensor | None = None, guidance: float | None = None,
                 context: torch.Tensor | None = None) -> Denoise:
        """The trained net as the samplers' (x, t) -> (x0, eps), with guidance and the x0 clip."""

        def denoise(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
            a, s = math.sqrt(float(self.alpha_bar[t])), math.sqrt(1 - float(self.alpha_bar[t]))
            x0, eps = to_x0_eps(self.guided(x, t / self.timesteps, y, guidance, context), x, a, s, self.prediction)
            if self.clip is not None:  # keep x0 in the data's range; eps then follows from x0
                x0 = x0.clamp(-self.clip, self.clip)
                eps = (x - a * x0) / s
            return x0, eps

        return denoise

    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, sampler: str | None = None, eta: float | None = None,
               guidance: float | None = None, labels: Any = None, context: torch.Tensor | None = None,
               noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples of shape ``[n, *data_shape]`` in ``steps`` sampler steps (default: the model's
        ``sample_steps`` and ``sampler``). ``eta``: DDIM's noise (ddim only). A conditional model takes
        ``labels`` (one int or n ints; default 0, 1, 2, ... in turn) and a ``guidance`` scale; a model
        with ``context_dim`` a ``context`` per sample; ``noise``: the starting noise."""
        steps, sampler, y, context, x = self._prepare(n, steps, sampler, labels, guidance, context, noise)
        if steps > self.timesteps:
            raise UserError(f"steps must be at most the model's {self.timesteps} diffusion steps, got {steps}")
        if eta is not None and (sampler != "ddim" or isinstance(eta, bool) or not isinstance(eta, (int, float))
                                or not 0 <= eta <= 1):
            raise UserError(f"eta is a number in [0, 1] for the ddim sampler, got eta={eta!r} with sampler {sampler!r}")
        denoise = self.denoiser(y, guidance, context)
        if sampler == "dpm++2m":
            return dpm_solver_2m(denoise, x, self.alpha_bar, steps)
        return ddim(denoise, x, self.alpha_bar, steps, eta=1.0 if sampler == "ddpm" else float(eta or 0.0))


@register_model("flow")
class FlowMatching(_Denoising):
    """Flow matching on straight paths (rectified flow); see the module's docstring."""

    samplers = FLOW_SAMPLERS

    def __init__(self, *, data_shape: list[int], arch: str = "mlp", width: int = 256, depth: int = 3,
                 channel_mult: list[int] = (1, 2), attention: bool = True, dropout: float = 0.0, num_classes: int = 0,
                 label_dropout: float = 0.1, lr: float = 1e-3, sampler: str = "heun", sample_steps: int = 25,
                 context_dim: int = 0):
        super().__init__(data_shape=data_shape, arch=arch, width=width, depth=depth, channel_mult=channel_mult,
                         attention=attention, dropout=dropout, num_classes=num_classes, label_dropout=label_dropout,
                         lr=lr, sampler=sampler, sample_steps=sample_steps, context_dim=context_dim)

    def corrupt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = torch.rand(len(x), device=x.device)
        z = torch.randn_like(x)
        tx = t.view((-1,) + (1,) * (x.dim() - 1))
        return (1 - tx) * z + tx * x, t, x - z

    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, sampler: str | None = None, guidance: float | None = None,
               labels: Any = None, context: torch.Tensor | None = None, noise: torch.Tensor | None = None
               ) -> torch.Tensor:
        """``n`` samples of shape ``[n, *data_shape]`` in ``steps`` steps of ``sampler`` (euler: one net call
        a step, heun: two). A conditional model takes ``labels`` and a ``guidance`` scale; a model with
        ``context_dim`` a ``context`` per sample; ``noise``: the starting noise."""
        steps, sampler, y, context, x = self._prepare(n, steps, sampler, labels, guidance, context, noise)
        return flow_ode(lambda v, t: self.guided(v, t, y, guidance, context), x, steps, sampler)

