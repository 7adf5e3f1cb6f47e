"""Tabular synthesizers: CTGAN and TVAE (Xu et al. 2019) on the core trainer, TabDDPM-style diffusion
(``tabddpm.py``), and ``TableSynthesizer``, the SDV-shaped ``fit(df)`` / ``sample(n)`` / ``save`` /
``load`` around them. ``make_synthesizer`` and ``load_synthesizer`` also reach the optional SDV backend
(``sdv_backend.py``) by its "sdv-*" names.

Every model works in the space of ``TableTransformer``: a row is a float32 vector made of spans, each
either one ``tanh`` value (a continuous column's normalized value; ``normal`` for tabddpm's quantile
encoding) or a ``softmax`` one-hot (a mode or a category). ``sample`` returns that space with hard
one-hots; the synthesizer turns it back into rows.

CTGAN's training-by-sampling needs the whole table, not the trainer's batch: ``CTGAN.set_data`` stores
the transformed table (a non-persistent buffer, never saved) and a category -> rows index, and each
step draws real rows that carry the step's condition. The trainer's batch only gives the batch size.
The category counts are persistent buffers, so a loaded model samples conditions as the trained one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from gensdk.core.artifact import Artifact, artifact_folder, register_artifact
from gensdk.core.device import resolve_device
from gensdk.core.gan import gradient_penalty
from gensdk.core.io import atomic_write
from gensdk.core.model import (GenerativeModel, StepContext, build_model, check_sample_options, read_model_config,
                               register_model)
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk.errors import UserError
from gensdk.extras import require
from gensdk_plugins.tabular.data import METADATA_FILE, TableMetadata, checked_metadata, datetime_seconds
from gensdk_plugins.tabular.sdv_backend import SDV_MODELS, SDVSynthesizer  # SDV itself is imported only when used
from gensdk_plugins.tabular.tabddpm import TabDDPM  # noqa: F401 - registers "tabddpm"
from gensdk_plugins.tabular.transform import TableTransformer


def _activate(raw: torch.Tensor, output_info: Sequence[Sequence[Any]], hard: bool) -> torch.Tensor:
    """tanh on tanh spans; Gumbel-softmax (tau 0.2, as CTGAN) on softmax spans, one-hot when ``hard``
    (the argmax of Gumbel-perturbed logits is a draw from the softmax)."""
    parts = []
    for start, width, activation in output_info:
        block = raw[:, start:start + width]
        parts.append(torch.tanh(block) if activation == "tanh" else F.gumbel_softmax(block, tau=0.2, hard=hard))
    return torch.cat(parts, dim=1)


class _Residual(nn.Module):
    """CTGAN's generator block: the block's output is concatenated to its input."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


class _PacDiscriminator(nn.Module):
    """PacGAN critic: ``pac`` rows are judged together, which penalizes mode collapse."""

    def __init__(self, d_in: int, dims: Sequence[int], pac: int):
        super().__init__()
        self.pac_dim = d_in * pac
        layers: list[nn.Module] = []
        width = self.pac_dim
        for d in dims:
            layers += [nn.Linear(width, d), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            width = d
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return self.net(packed)


@register_model("ctgan")
class CTGAN(GenerativeModel):
    """Conditional tabular GAN: residual generator, PacGAN WGAN-GP critic, conditional vector with
    training-by-sampling (see the module docstring for how real rows are drawn)."""

    static_step = True  # no host syncs in train_step: the trainer may replay it as a CUDA graph

    def __init__(self, *, output_info: list[list[Any]], cond_spans: list[list[int]], data_dim: int,
                 embedding_dim: int = 128, generator_dims: Sequence[int] = (256, 256),
                 discriminator_dims: Sequence[int] = (256, 256), pac: int = 10, lr: float = 2e-4,
                 betas: Sequence[float] = (0.5, 0.9), weight_decay: float = 1e-6, gp_weight: float = 10.0,
                 log_frequency: bool = True):
        super().__init__()
        if sum(w for _, w, _ in output_info) != data_dim:
            raise ValueError(f"output_info spans cover {sum(w for _, w, _ in output_info)} values, data_dim is {data_dim}")
        self.output_info = [tuple(s) for s in output_info]
        self.cond_spans = [tuple(s) for s in cond_spans]
        self.pac, self.lr, self.betas, self.weight_decay = pac, lr, tuple(betas), weight_decay
        self.gp_weight, self.log_frequency, self.embedding_dim = gp_weight, log_frequency, embedding_dim
        widths = [w for _, w in self.cond_spans]
        self.cond_dim = sum(widths)
        self.cond_offsets = [sum(widths[:i]) for i in range(len(widths))]

        blocks: list[nn.Module] = []
        width = embedding_dim + self.cond_dim
        for d in generator_dims:
            blocks.append(_Residual(width, d))
            width += d
        self.generator = nn.Sequential(*blocks, nn.Linear(width, data_dim))
        self.discriminator = _PacDiscriminator(data_dim + self.cond_dim, discriminator_dims, pac)

        # Per discrete column, the count of each category (zero-padded): saved with the weights.
        self.register_buffer("cond_counts", torch.zeros(len(widths), max(widths, default=0)))
        # The table and its category -> rows index: set by set_data, never saved.
        self.register_buffer("table", None, persistent=False)
        self.register_buffer("rows_by_code", None, persistent=False)  # (columns, n): rows sorted by category
        self.register_buffer("code_first", None, persistent=False)  # (cond_dim,): first position of a category
        self.register_buffer("offsets", torch.tensor(self.cond_offsets, dtype=torch.long), persistent=False)

    def set_data(self, table: torch.Tensor) -> None:
        """Give the transformed table, from which training-by-sampling draws real rows."""
        table = table.to(self.cond_counts.device, torch.float32)
        self.table = table
        if not self.cond_spans:
            return
        codes = torch.stack([table[:, s:s + w].argmax(1) for s, w in self.cond_spans])  # (columns, n)
        self.rows_by_code = torch.sort(codes, dim=1, stable=True).indices
        counts = torch.zeros_like(self.cond_counts)
        firsts = []
        for j, (_, w) in enumerate(self.cond_spans):
            counts[j, :w] = torch.bincount(codes[j], minlength=w).float()
            firsts.append(torch.cumsum(counts[j, :w], 0) - counts[j, :w])
        self.cond_counts.copy_(counts)
        self.code_first = torch.cat(firsts).long()

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def adam(module: nn.Module) -> torch.optim.Optimizer:
            return torch.optim.Adam(module.parameters(), lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        return {"generator": adam(self.generator), "discriminator": adam(self.discriminator)}

    def ema_module(self) -> nn.Module:
        return self.generator

    # --- conditions ---------------------------------------------------------------------------
    def _draw_conditions(self, n: int, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A uniformly chosen discrete column per row and a category of it drawn by ``weights``."""
        column = torch.randint(len(self.cond_spans), (n,), device=weights.device)
        category = torch.multinomial(weights[column], 1).squeeze(1)
        return column, category

    def _cond_vector(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        # scatter_, not an indexed assignment: that copies its scalar from the host, which a CUDA graph forbids
        cond = torch.zeros(len(column), self.cond_dim, device=column.device)
        return cond.scatter_(1, (self.offsets[column] + category).unsqueeze(1), 1.0)

    def _cond_loss(self, raw: torch.Tensor, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the generated conditioned column against the condition, on the chosen column only."""
        losses = torch.stack([F.cross_entropy(raw[:, s:s + w], category.clamp_max(w - 1), reduction="none")
                              for s, w in self.cond_spans], dim=1)
        return losses.gather(1, column.unsqueeze(1)).mean()

    def _generate(self, n: int, cond: torch.Tensor | None) -> torch.Tensor:
        z = torch.randn(n, self.embedding_dim, device=self.device)
        return self.generator(z if cond is None else torch.cat([z, cond], dim=1))

    def _critic(self, rows: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = rows if cond is None else torch.cat([rows, cond], dim=1)
        return self.discriminator(x.reshape(-1, self.discriminator.pac_dim))

    # --- training -----------------------------------------------------------------------------
    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        n = len(batch[0])
        if n % self.pac:
            raise UserError(f"ctgan: batch size {n} is not a multiple of pac={self.pac}")
        if self.cond_spans:
            if self.table is None:
                raise RuntimeError("ctgan: call set_data(table) before training (training-by-sampling needs the table)")
            weights = self.cond_counts.log1p() if self.log_frequency else self.cond_counts
            column, category = self._draw_conditions(n, weights)
            cond = self._cond_vector(column, category)
            code = self.offsets[column] + category
            count = self.cond_counts[column, category]
            pick = self.code_first[code] + (torch.rand(n, device=column.device) * count).long().clamp_max(count.long() - 1)
            real = self.table[self.rows_by_code[column, pick]]
        else:
            cond, real = None, batch[0]

        fake = _activate(self._generate(n, cond), self.output_info, hard=False).detach()
        real_packed = real if cond is None else torch.cat([real, cond], 1)
        fake_packed = fake if cond is None else torch.cat([fake, cond], 1)
        gp = gradient_penalty(self.discriminator, real_packed.reshape(-1, self.discriminator.pac_dim),
                              fake_packed.reshape(-1, self.discriminator.pac_dim))
        wasserstein = self._critic(real, cond).mean() - self._critic(fake, cond).mean()
        ctx.optimize("discriminator", -wasserstein + self.gp_weight * gp)

        if self.cond_spans:
            column, category = self._draw_conditions(n, weights)
            cond = self._cond_vector(column, category)
        raw = self._generate(n, cond)
        g_adv = -self._critic(_activate(raw, self.output_info, hard=False), cond).mean()
        g_cond = self._cond_loss(raw, column, category) if self.cond_spans else torch.zeros((), device=raw.device)
        ctx.optimize("generator", g_adv + g_cond)
        return {"d_wasserstein": wasserstein.detach(), "gp": gp.detach(), "g_adv": g_adv.detach(),
                "g_cond": g_cond.detach()}

    @torch.no_grad()
    def sample(self, n: int, condition: tuple[int, int] | None = None) -> torch.Tensor:
        """``n`` rows in transformed space with hard one-hots. Conditions come from the empirical
        category frequencies, or all from ``condition`` = (discrete column index, category index);
        a conditioned column is then set to that category (the generator learned to follow it)."""
        cond = None
        if self.cond_spans:
            if condition is None:
                column, category = self._draw_conditions(n, self.cond_counts)
            else:
                j, c = condition
                if not (0 <= j < len(self.cond_spans) and 0 <= c < self.cond_spans[j][1]):
                    raise UserError(f"ctgan: condition {condition} is outside the discrete columns")
                column = torch.full((n,), j, device=self.device)
                category = torch.full((n,), c, device=self.device)
            cond = self._cond_vector(column, category)
        rows = _activate(self._generate(n, cond), self.output_info, hard=True)
        if condition is not None and cond is not None:
            start, width = self.cond_spans[condition[0]]
            rows[:, start:start + width] = F.one_hot(category, width).float()
        return rows


@register_model("tvae")
class TVAE(GenerativeModel):
    """Tabular VAE: MLP encoder/decoder, a Gaussian with a learned sigma per tanh value, cross-entropy
    on softmax spans, and the KL to N(0, I) (TVAE's loss, reconstruction weighted by ``loss_factor``)."""

    static_step = True  # see CTGAN

    def __init__(self, *, output_info: list[list[Any]], data_dim: int, embedding_dim: int = 128,
                 compress_dims: Sequence[int] = (128, 128), decompress_dims: Sequence[int] = (128, 128),
                 lr: float = 1e-3, weight_decay: float = 1e-5, loss_factor: float = 2.0):
        super().__init__()
        if sum(w for _, w, _ in output_info) != data_dim:
            raise ValueError(f"output_info spans cover {sum(w for _, w, _ in output_info)} values, data_dim is {data_dim}")
        self.output_info = [tuple(s) for s in output_info]
        self.embedding_dim, self.lr, self.weight_decay, self.loss_factor = embedding_dim, lr, weight_decay, loss_factor
        self.encoder = self._mlp(data_dim, compress_dims, 2 * embedding_dim)
        self.decoder = self._mlp(embedding_dim, decompress_dims, data_dim)
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    @staticmethod
    def _mlp(d_in: int, dims: Sequence[int], d_out: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for d in dims:
            layers += [nn.Linear(d_in, d), nn.ReLU()]
            d_in = d
        return nn.Sequential(*layers, nn.Linear(d_in, d_out))

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)}

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch[0].float()
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        out = self.decoder(z)
        recon = torch.zeros((), device=x.device)
        for start, width, activation in self.output_info:
            if activation == "tanh":
                sigma = self.sigma[start]
                recon = recon + ((x[:, start] - torch.tanh(out[:, start])).square() / (2 * sigma**2)).sum() \
                    + torch.log(sigma) * len(x)
            else:
                target = x[:, start:start + width].argmax(1)
                recon = recon + F.cross_entropy(out[:, start:start + width], target, reduction="sum")
        kl = -0.5 * (1 + log_var - mu.square() - log_var.exp()).sum()
        loss = (self.loss_factor * recon + kl) / len(x)
        ctx.optimize("vae", loss)
        with torch.no_grad():
            self.sigma.clamp_(0.01, 1.0)  # as TVAE: keeps the Gaussian term from collapsing or flattening
        return {"loss": loss.detach(), "recon": (recon / len(x)).detach(), "kl": (kl / len(x)).detach()}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` rows in transformed space: tanh values with the learned sigma's noise, sampled one-hots."""
        out = self.decoder(torch.randn(n, self.embedding_dim, device=self.device))
        parts = []
        for start, width, activation in self.output_info:
            block = out[:, start:start + width]
            if activation == "tanh":
                noisy = torch.tanh(block) + torch.randn_like(block) * self.sigma[start]
                parts.append(noisy.clamp(-1, 1))
            else:
                # A draw from the decoder's softmax, not TVAE's argmax: argmax returns only the most
                # likely category wherever the latent does not pin it, which skews frequencies.
                parts.append(F.one_hot(torch.multinomial(block.softmax(1), 1).squeeze(1), width).float())
        return torch.cat(parts, dim=1)


# --- the SDV-shaped synthesizer ------------------------------------------------------------------

OWN_MODELS = ("ctgan", "tvae", "tabddpm")
# How each model trains when the user does not say: its budget, rows per step, the encoding of continuous
# columns and the trainer's settings. CTGAN and TVAE: their papers' 300 epochs of 500 rows, in fp32 (these
# MLPs are small enough that bf16 saves no time, and the gradient penalty's double backward is the kind of
# arithmetic that low precision upsets). tabddpm: TabDDPM's training (AdamW, the learning rate falling
# linearly to 0, an EMA of the weights) in bf16, but by epochs, not TabDDPM's fixed 30k steps of 4096 rows:
# on a table of a few hundred rows those are thousands of epochs, and its samples crept closer to the
# training rows than held-out real rows are (breast_cancer, a 256-wide net on the CPU: 3,000 epochs DCR 1.84
# against the real-vs-real 2.16, 500 epochs 2.15, at the same quality 0.96). 1024 rows a step make 300 epochs
# of a large table many steps (diamonds: 12.9k).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ctgan": {"budget": {"epochs": 300}, "batch_size": 500, "continuous": "mode", "train": {"bf16": False}},
    "tvae": {"budget": {"epochs": 300}, "batch_size": 500, "continuous": "mode", "train": {"bf16": False}},
    "tabddpm": {"budget": {"epochs": 300}, "batch_size": 1024, "continuous": "quantile",
                "train": {"bf16": True, "ema_decay": 0.999, "lr_schedule": "linear"}},
}
KINDS = {"numerical": "continuous", "datetime": "continuous", "categorical": "discrete", "boolean": "discrete"}
TRANSFORMER_FILE = "transformer.json"


@register_artifact("table-synthesizer", plugin="tabular")
class TableSynthesizer(Artifact):
    """``TableSynthesizer("ctgan" | "tvae" | "tabddpm", epochs=... | steps=... | minutes=..., ...).fit(df).sample(n)``.

    Metadata types map to the transformer: numerical and datetime (as seconds since 1970) are
    continuous, categorical and boolean discrete; id columns are not learned but regenerated unique.
    Saved as an artifact: the model, ``transformer.json``, ``metadata.json``, and these settings.
    """

    state_key = "synthesizer"
    sample_formats = ".csv or .parquet"

    def __init__(self, model: str = "ctgan", *, epochs: int | None = None, steps: int | None = None,
                 minutes: float | None = None, batch_size: int | None = None, device: str = "auto", seed: int = 0,
                 **model_options: Any):
        if model not in OWN_MODELS:
            raise UserError(f"unknown tabular model {model!r}; gensdk's own: {', '.join(OWN_MODELS)}")
        if sum(x is not None for x in (epochs, steps, minutes)) > 1:
            raise UserError("TableSynthesizer: give one of epochs, steps or minutes")
        for name, value in (("epochs", epochs), ("steps", steps), ("batch_size", batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0):
            raise UserError(f"minutes must be a positive number, got {minutes!r}")
        if epochs is None and steps is None and minutes is None:
            epochs, steps = DEFAULTS[model]["budget"].get("epochs"), DEFAULTS[model]["budget"].get("steps")
        batch_size = batch_size or DEFAULTS[model]["batch_size"]
        self.model_name, self.epochs, self.steps, self.minutes = model, epochs, steps, minutes
        self.batch_size, self.device, self.seed, self.model_options = batch_size, device, seed, model_options
        self.model: GenerativeModel | None = None
        self.transformer: TableTransformer | None = None
        self.metadata: TableMetadata | None = None
        self.columns: list[dict[str, Any]] = []  # per original column, in order: how to rebuild it

    # --- fitting ------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, metadata: TableMetadata | None = None, out_dir: str | os.PathLike | None = None,
            progress: bool = False) -> TableSynthesizer:
        metadata = checked_metadata(df, metadata, "TableSynthesizer.fit")
        self.metadata, self.columns = metadata, []
        prepared, kinds = {}, []
        for name in df.columns:
            spec, series = metadata.column(str(name)), df[name]
            info = {"name": str(name), "type": spec.type, "dtype": str(series.dtype)}
            if spec.type == "datetime":
                info["text"] = not pd.api.types.is_datetime64_any_dtype(series)
                info["format"] = spec.datetime_format
                series = datetime_seconds(series, spec.datetime_format)
            self.columns.append(info)
            if spec.type != "id":
                prepared[str(name)] = series.reset_index(drop=True)
                kinds.append((str(name), KINDS[spec.type]))
        if not kinds:
            raise UserError("TableSynthesizer.fit: every column is an id; nothing to learn")
        table = pd.DataFrame(prepared)
        # the mixture fits run where the model trains: on the GPU when there is one
        self.transformer = TableTransformer(seed=self.seed, device=resolve_device(self.device),
                                            continuous=DEFAULTS[self.model_name]["continuous"]).fit(table, kinds)
        data = torch.from_numpy(self.transformer.transform(table, seed=self.seed))

        options = {"output_info": [[s.start, s.width, s.activation] for s in self.transformer.output_info],
                   "data_dim": self.transformer.output_dimensions, **self.model_options}
        if self.model_name == "ctgan":
            options["cond_spans"] = [[s.start, s.width] for _, s in self.transformer.discrete_spans]
        self.model = build_model(self.model_name, **options)
        pac = getattr(self.model, "pac", 1)
        if len(df) < pac:
            raise UserError(f"TableSynthesizer.fit: {len(df)} rows are fewer than one pac group of {pac}")
        batch_size = max(pac, min(self.batch_size, len(df)) // pac * pac)  # whole pac groups, at most the table
        # epochs are the Trainer's steps: epochs * batches per pass; a minutes budget plans its own steps
        steps = self.steps or (self.epochs * math.ceil(len(df) / batch_size) if self.epochs else 1000)
        if isinstance(self.model, CTGAN):
            self.model.set_data(data)
        train = dict(DEFAULTS[self.model_name]["train"])
        if train.get("ema_decay") and not self.minutes:
            # the trainer's average starts at the initial weights: over a short run, its horizon
            # (1 / (1 - decay) steps) shrinks to a tenth of the run, so that little of them is left
            train["ema_decay"] = min(train["ema_decay"], 1 - 10 / max(steps, 20))
        config = TrainConfig(steps=steps, minutes=self.minutes, batch_size=batch_size, seed=self.seed,
                             device=self.device, cuda_graph=True, progress=progress, checkpoint_every=steps,
                             log_every=min(50, steps), **train)
        Trainer(self.model, data, config, out_dir).fit(save=self.save)
        self.model.eval()
        return self

    # --- sampling -----------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None, condition: dict[str, Any] | None = None,
               **options: Any) -> pd.DataFrame:
        """``n`` rows with every original column in the original order; ``condition`` = {column: value}
        (CTGAN only, one discrete column) makes every row carry that value. ``options``: the model's own
        sampling options (tabddpm: ``steps``, ``sampler``)."""
        if self.model is None or self.transformer is None:
            raise UserError("TableSynthesizer: call fit (or load) before sample")
        seed = self.seed if seed is None else seed
        if condition:
            options["condition"] = self._model_condition(condition)
        check_sample_options(self.model, options)
        device = self.model.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            x = self.model.sample(n, **options)
        learned = self.transformer.inverse_transform(x.float().cpu().numpy(), seed=seed)
        out = {}
        for info in self.columns:
            name = info["name"]
            if info["type"] == "id":
                out[name] = _ids(n, info["dtype"])
            elif info["type"] == "datetime":
                out[name] = _seconds_to_datetime(learned[name], info)
            else:
                out[name] = learned[name]
        frame = pd.DataFrame(out)
        assert list(frame.columns) == [c["name"] for c in self.columns] and len(frame) == n
        return frame

    def _model_condition(self, condition: dict[str, Any]) -> tuple[int, int]:
        if self.model_name != "ctgan" or len(condition) != 1:
            raise UserError("sample(condition=...): one discrete column, with the ctgan model only")
        (name, value), = condition.items()
        for j, (index, _) in enumerate(self.transformer.discrete_spans):
            column = self.transformer.columns[index]
            if column["name"] != name:
                continue
            if pd.isna(value) and column["missing_count"]:
                return j, len(column["values"])
            if value in column["values"]:
                return j, column["values"].index(value)
            raise UserError(f"sample(condition=...): column {name!r} has no kept value {value!r}")
        raise UserError(f"sample(condition=...): {name!r} is not a categorical or boolean column")

    # --- the artifact -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        if self.model is None or self.transformer is None or self.metadata is None:
            raise UserError("TableSynthesizer: call fit before save")
        return {"model": self.model_name, "epochs": self.epochs, "steps": self.steps, "minutes": self.minutes,
                "batch_size": self.batch_size,
                "seed": self.seed, "model_options": self.model_options, "columns": self.columns}

    def files(self) -> dict[str, Any]:
        state = json.dumps(self.transformer.to_state())
        return {TRANSFORMER_FILE: lambda path: path.write_text(state), METADATA_FILE: self.metadata.save}

    @classmethod
    def restore(cls, folder: Path, state: dict[str, Any], model: GenerativeModel, device: Any) -> TableSynthesizer:
        if not (folder / TRANSFORMER_FILE).is_file():
            raise UserError(f"{folder}: not a saved TableSynthesizer (no {TRANSFORMER_FILE})")
        synth = cls(state["model"], epochs=state["epochs"], steps=state["steps"], minutes=state.get("minutes"),
                    batch_size=state["batch_size"],
                    device=str(device), seed=state["seed"], **state["model_options"])
        synth.columns, synth.model = state["columns"], model
        synth.transformer = TableTransformer.from_state(json.loads((folder / TRANSFORMER_FILE).read_text()))
        synth.metadata = TableMetadata.load(folder / METADATA_FILE)
        return synth

    def write_samples(self, n: int, out: Path, seed: int = 0) -> Path:
        check_table_output(out)
        write_table(self.sample(n, seed=seed), out)
        return out

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """``evaluate_tables`` of the real table ``data`` against as many synthetic rows (or ``n``)."""
        from gensdk_plugins.tabular.data import load_table
        from gensdk_plugins.tabular.evaluate import evaluate_tables

        if data is None:
            raise UserError("evaluating a table synthesizer needs the real table: pass --data TABLE")
        real, _ = load_table(data, self.metadata.to_dict())
        synthetic = self.sample(n or len(real), seed=seed)
        return evaluate_tables(real, synthetic, self.metadata, target=self.metadata.target)


def check_table_output(out: Path) -> None:
    """Refuse an output the writer cannot make before any sampling, not after."""
    if out.suffix not in (".csv", ".parquet"):
        raise UserError(f"{out}: output must end in .csv or .parquet")
    if out.suffix == ".parquet":
        require("pyarrow", "tabular")  # pandas' Parquet engine


def write_table(df: pd.DataFrame, out: Path) -> None:
    atomic_write(out, lambda tmp: df.to_csv(tmp, index=False) if out.suffix == ".csv" else df.to_parquet(tmp))


def make_synthesizer(model: str, **kwargs: Any) -> TableSynthesizer | SDVSynthesizer:
    """A synthesizer by name: gensdk's own "ctgan" / "tvae", or SDV's "sdv-gaussiancopula" / "sdv-ctgan" /
    "sdv-tvae" (the optional backend); ``kwargs`` go to its constructor."""
    if model in OWN_MODELS:
        return TableSynthesizer(model, **kwargs)
    if model in SDV_MODELS:
        return SDVSynthesizer(model, **kwargs)
    raise UserError(f"unknown tabular model {model!r}; choices: {', '.join([*OWN_MODELS, *SDV_MODELS])}")


def load_synthesizer(folder: str | os.PathLike, device: str = "auto",
                     allow_pickle: bool = False) -> TableSynthesizer | SDVSynthesizer:
    """A saved synthesizer of either backend; SDV's say "backend": "sdv" in config.json and, being
    pickles, load only with ``allow_pickle=True``. A training run's folder: its ``model/``."""
    folder = artifact_folder(folder)
    if read_model_config(folder).get("backend") == "sdv":
        return SDVSynthesizer.load(folder, device=device, allow_pickle=allow_pickle)
    return TableSynthesizer.load(folder, device=device)


def _seconds_to_datetime(seconds: pd.Series, info: dict[str, Any]) -> pd.Series:
    """Back to the column's form: its datetime dtype (zone included), or text in its format."""
    zoned = "," in info["dtype"]  # e.g. "datetime64[ns, UTC]"
    values = pd.to_datetime(seconds.astype("float64"), unit="s", utc=zoned).dt.round("s")
    if info["text"]:
        text = values.dt.strftime(info["format"] or "%Y-%m-%d %H:%M:%S")
        return text.astype(object).where(values.notna(), None)
    if zoned:
        return values.dt.tz_convert(info["dtype"].split(",", 1)[1].strip(" ]"))
    return values.astype(info["dtype"])


def _ids(n: int, dtype: str) -> pd.Series:
    """Fresh unique ids: 1..n for integer id columns, else "id_000001"-style text."""
    if pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(dtype)):
        return pd.Series(np.arange(1, n + 1), dtype=dtype)
    width = max(6, len(str(n)))
    return pd.Series([f"id_{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
