"""TabDDPM-style mixed-type diffusion for tables (after Kotelnikov et al. 2023), on the core's pieces.

A row comes from ``TableTransformer(continuous="quantile")``: a standard-normal value per continuous
column (``normal`` spans) and a one-hot per categorical column or missing-value flag (``softmax``
spans). Continuous values take Gaussian diffusion; categories take masked (absorbing-state)
diffusion, on one clock: at step t a value keeps alpha_bar_t of its signal and a category stays
unmasked with probability alpha_bar_t (``gensdk.core.diffusion``). One residual MLP denoiser
(``MLPDenoiser``) reads both, the masked categories as one-hots with a mask slot, and returns the
Gaussian part's v (or eps) and, in each categorical span, logits over the categories (its mask slot
unused). The loss is the Gaussian part's mean squared error plus the mean cross-entropy of the
masked categories.

TabDDPM uses multinomial diffusion for categories; masked diffusion fits the same place with a
simpler loss (cross-entropy on what is hidden), and lets the number of sampling steps be chosen at
sampling time with the core's samplers, whose denoiser here also reveals categories on the way
(``unmask``), one step of the Gaussian sampler after another.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.diffusion import (DIFFUSION_SAMPLERS, absorb, alpha_bar_schedule, check_gaussian_options,
                                   check_sampler, check_steps, ddim, dpm_solver_2m, sampling_timesteps, to_x0_eps,
                                   unmask, v_target)
from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.core.nn.denoisers import MLPDenoiser
from gensdk.errors import UserError

SAMPLE_CHUNK = 65_536  # rows per sampling pass: memory stays bounded for any n
SAMPLE_STEPS = 200  # the default number of sampling steps (at most the model's timesteps)


@register_model("tabddpm")
class TabDDPM(GenerativeModel):
    """Gaussian diffusion of the ``normal`` spans and masked diffusion of the ``softmax`` spans of a
    transformed row, with one denoiser (see the module docstring). ``clip``: the range of the x0
    estimate, the quantile encoding's +-5.2 plus a margin (eps-prediction needs it, see diffusion.py;
    for v-prediction, the default, it is a guard). The net's default size (256 wide, 3 blocks) is the one
    tried on the benchmark's five tables (CPU, 2026-12-06: SDMetrics quality 0.95-0.99); a 512-wide,
    4-block one scored the same on anes96."""

    static_step = True  # no host syncs in train_step: the trainer may replay it as a CUDA graph

    def __init__(self, *, output_info: list[list[Any]], data_dim: int, timesteps: int = 1000,
                 schedule: str = "cosine", prediction: str = "v", clip: float | None = 6.0, width: int = 256,
                 depth: int = 3, lr: float = 1e-3, weight_decay: float = 0.0, sampler: str = "ddpm",
                 sample_steps: int | None = None):
        super().__init__()
        if sum(w for _, w, _ in output_info) != data_dim:
            raise ValueError(f"output_info spans cover {sum(w for _, w, _ in output_info)} values, data_dim is {data_dim}")
        if any(a not in ("normal", "softmax") or (a == "normal" and w != 1) for _, w, a in output_info):
            raise ValueError("tabddpm takes 1-wide 'normal' and 'softmax' spans (TableTransformer(continuous='quantile'))")
        check_gaussian_options(prediction, timesteps, clip)
        self.output_info = [tuple(s) for s in output_info]
        self.data_dim, self.timesteps, self.prediction, self.clip = data_dim, timesteps, prediction, clip
        self.lr, self.weight_decay = lr, weight_decay
        self.sampler = check_sampler(sampler, DIFFUSION_SAMPLERS, self.model_name)
        default_steps = min(SAMPLE_STEPS, timesteps)
        self.sample_steps = check_steps(default_steps if sample_steps is None else sample_steps, timesteps)
        numeric = [start for start, _, activation in self.output_info if activation == "normal"]
        self.cat_spans = [(start, k) for start, k, activation in self.output_info if activation == "softmax"]
        self.num_numeric = len(numeric)
        # the net's row: the numeric values, then per categorical span its k categories and a mask slot
        self.net_spans, offset = [], self.num_numeric
        for _, k in self.cat_spans:
            self.net_spans.append((offset, k))
            offset += k + 1
        self.net = MLPDenoiser(offset, width, depth)
        self.alpha_bar = alpha_bar_schedule(schedule, timesteps)  # float64 on the CPU: the samplers' coefficients
        # set up from the config, never saved
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long), persistent=False)
        self.register_buffer("a", self.alpha_bar.sqrt().float(), persistent=False)
        self.register_buffer("s", (1 - self.alpha_bar).sqrt().float(), persistent=False)
        self.register_buffer("keep", self.alpha_bar.float(), persistent=False)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)}

    def ema_module(self) -> nn.Module:
        return self.net

    # --- the net's view of a row -------------------------------------------------------------------
    def _net_input(self, numeric: torch.Tensor, tokens: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([numeric] + [F.one_hot(tok, width + 1).to(numeric.dtype)
                                      for tok, (_, width) in zip(tokens, self.cat_spans)], dim=1)

    def _logits(self, out: torch.Tensor) -> list[torch.Tensor]:
        """Per categorical span, the net's logits over its categories (the mask slot left out)."""
        return [out[:, start:start + width].float() for start, width in self.net_spans]

    # --- training ------------------------------------------------------------------------------------
    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch[0].float()
        t = torch.randint(self.timesteps, (len(x),), device=x.device)
        a, s = self.a[t].unsqueeze(1), self.s[t].unsqueeze(1)
        numeric = x[:, self.numeric_index]
        eps = torch.randn_like(numeric)
        codes = [x[:, start:start + width].argmax(1) for start, width in self.cat_spans]
        tokens = [absorb(code, self.keep[t], width) for code, (_, width) in zip(codes, self.cat_spans)]
        out = self.net(self._net_input(a * numeric + s * eps, tokens), t.float() / self.timesteps)
        zero = torch.zeros((), device=x.device)
        gaussian = zero
        if self.num_numeric:
            target = eps if self.prediction == "eps" else v_target(numeric, eps, a, s)
            gaussian = F.mse_loss(out[:, :self.num_numeric].float(), target)
        masked = zero
        if self.cat_spans:
            # every hidden category weighs the same, whatever the step (the mean over what is masked)
            hidden = torch.stack([tok == width for tok, (_, width) in zip(tokens, self.cat_spans)], 1).float()
            ce = torch.stack([F.cross_entropy(logits, code, reduction="none")
                              for logits, code in zip(self._logits(out), codes)], 1)
            masked = (ce * hidden).sum() / hidden.sum().clamp_min(1.0)
        loss = gaussian + masked
        ctx.optimize("net", loss)
        return {"loss": loss.detach(), "gaussian": gaussian.detach(), "masked": masked.detach()}

    # --- sampling ------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, sampler: str | None = None,
               guidance: float | None = None) -> torch.Tensor:
        """``n`` rows in transformed space (one-hots hard) in ``steps`` steps of ``sampler`` (default:
        the model's ``sample_steps`` and ``sampler``; ``ddpm`` is ancestral, ``ddim`` and ``dpm++2m``
        deterministic in the Gaussian part). The model is unconditional: no guidance scale."""
        if guidance is not None:
            raise UserError("model 'tabddpm' is unconditional: it takes no guidance scale")
        steps = check_steps(self.sample_steps if steps is None else steps, self.timesteps)
        sampler = check_sampler(self.sampler if sampler is None else sampler, DIFFUSION_SAMPLERS, self.model_name)
        parts = [self._sample_chunk(min(SAMPLE_CHUNK, n - done), steps, sampler) for done in range(0, n, SAMPLE_CHUNK)]
        return torch.cat(parts) if parts else torch.zeros(0, self.data_dim, device=self.device)

    def _sample_chunk(self, n: int, steps: int, sampler: str) -> torch.Tensor:
        device = self.device
        numeric = torch.randn(n, self.num_numeric, device=device)
        tokens = [torch.full((n,), width, dtype=torch.long, device=device) for _, width in self.cat_spans]
        ts = sampling_timesteps(self.timesteps, steps)
        following = dict(zip(ts, ts[1:]))

        def denoise(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
            # one call per sampler step, in order (diffusion.py): the categories are revealed alongside
            time = torch.full((n,), t / self.timesteps, device=device)
            out = self.net(self._net_input(x, tokens), time)
            a, s = math.sqrt(float(self.alpha_bar[t])), math.sqrt(1 - float(self.alpha_bar[t]))
            x0, eps = to_x0_eps(out[:, :self.num_numeric].float(), x, a, s, self.prediction)
            if self.clip is not None:
                x0 = x0.clamp(-self.clip, self.clip)
                eps = (x - a * x0) / s
            keep, keep_next = float(self.alpha_bar[t]), float(self.alpha_bar[following[t]]) if t in following else 1.0
            for j, logits in enumerate(self._logits(out)):
                tokens[j] = unmask(tokens[j], logits, keep, keep_next, self.cat_spans[j][1])
            return x0, eps

        if sampler == "dpm++2m":
            numeric = dpm_solver_2m(denoise, numeric, self.alpha_bar, steps)
        else:
            numeric = ddim(denoise, numeric, self.alpha_bar, steps, eta=1.0 if sampler == "ddpm" else 0.0)
        rows = torch.zeros(n, self.data_dim, device=device)
        rows[:, self.numeric_index] = numeric
        for tok, (start, width) in zip(tokens, self.cat_spans):
            rows[:, start:start + width] = F.one_hot(tok, width).float()
        return rows
