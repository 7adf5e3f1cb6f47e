"""CTGAN/TVAE's data transformer (Xu et al. 2019), made fast.

Continuous columns become mode-specific normalization: a 1-D Gaussian mixture per column, fitted by
EM on all columns at once in torch (GPU when given) instead of one scikit-learn
BayesianGaussianMixture per column on the CPU; each row then gets [alpha, one-hot of its mode] with
the mode sampled from the posterior. Discrete columns become one-hot, with missing values as their
own category and rare values of high-cardinality columns pooled in one "other" bucket.

``continuous="quantile"`` encodes a continuous column instead as one standard-normal value through
its empirical quantiles (scikit-learn's QuantileTransformer, as TabDDPM feeds its Gaussian
diffusion): any shape, spikes included, becomes N(0, 1), and the way back lands inside the observed
range. A column with few distinct values (ages in 5-year steps) comes back on those values.

A fitted transformer saves as a JSON-serialisable dict (``to_state``/``from_state``): no pickle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from gensdk.errors import UserError

Kind = Literal["continuous", "discrete"]
Activation = Literal["tanh", "softmax", "normal"]
STATE_VERSION = 1
ENCODINGS = ("mode", "quantile")
MAX_QUANTILES = 1000  # scikit-learn's default n_quantiles
NORMAL_BOUND = 1e-7  # quantile levels are kept in [b, 1 - b], as scikit-learn does: values within +-5.2
MAX_GRID = 32  # a column with at most this many distinct values comes back on them (TabDDPM's rounding)


def fit_gmms(
    x: torch.Tensor,
    max_modes: int = 10,
    iters: int = 100,
    device: torch.device | str | None = None,
    *,
    max_rows: int = 100_000,
    n_bins: int = 1024,
    weight_threshold: float = 0.005,
    tol: float = 1e-6,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fit a 1-D Gaussian mixture to every column of ``x`` (n_rows, n_columns) at once by EM.

    NaNs are missing values and ignored per column. Returns float64 ``(means, stds, weights)``, each
    (n_columns, max_modes) on ``device``; pruned modes (weight < ``weight_threshold``, as CTGAN)
    keep their slot with weight 0, so ``weights > 0`` is the mask of active modes. At least one mode
    per column stays active.

    EM runs on ``n_bins`` equal-mass bins per column (count, mean, variance of the sorted values in
    each bin), with one responsibility per bin: every step then costs bins, not rows, and spikes
    (many equal values) stay exact because a bin's mean and variance are exact.
    """
    if x.ndim != 2:
        raise ValueError(
            f"fit_gmms wants a (n_rows, n_columns) tensor, got shape {tuple(x.shape)}"
        )
    if x.shape[0] > max_rows:
        # 100k rows pin down ten 1-D modes; more only costs time.
        g = torch.Generator().manual_seed(seed)
        x = x[torch.randint(x.shape[0], (max_rows,), generator=g).to(x.device)]
    x = x.to(
        device=device, dtype=torch.float64
    ).T  # (c, n): sorting runs along the last dim
    n_cols, n = x.shape
    observed = ~torch.isnan(x)
    n_obs = observed.sum(1, keepdim=True)

    # Standardize per column so the initial spread and the variance floor are single numbers.
    safe_n = n_obs.clamp_min(1)
    center = torch.where(observed, x, 0.0).sum(1, keepdim=True) / safe_n
    scale = (
        torch.where(observed, x - center, 0.0).square().sum(1, keepdim=True) / safe_n
    ).sqrt()
    scale = scale.clamp_min(1e-12)
    z = torch.sort((x - center) / scale, dim=1).values  # NaNs sort last

    # Bin b of a column holds its observed values of rank [b * n_obs / n_bins, (b+1) * n_obs / n_bins).
    rank = torch.arange(n, device=z.device).unsqueeze(0)
    valid = rank < n_obs
    bin_of = (rank * n_bins).div(safe_n, rounding_mode="floor").clamp_max(n_bins - 1)
    flat = (bin_of + torch.arange(n_cols, device=z.device).unsqueeze(1) * n_bins)[valid]
    values = z[valid]

    def bin_sum(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n_cols * n_bins, device=z.device, dtype=z.dtype).index_add_(
            0, flat, v
        )

    count = bin_sum(torch.ones_like(values))
    mean = bin_sum(values) / count.clamp_min(1)
    spread = bin_sum((values - mean[flat]).square()) / count.clamp_min(1)
    count, mean, spread = (t.view(n_cols, n_bins, 1) for t in (count, mean, spread))

    # Means start at evenly spaced quantiles, min and max included so that a far, light cluster gets
    # a mode too; equal quantiles (spiky or constant columns) would give identical modes that EM can
    # never separate, so only the first of each run is active.
    q = torch.linspace(0.0, 1.0, max_modes, device=z.device, dtype=torch.float64)
    at = (q.unsqueeze(0) * (n_obs - 1).clamp_min(0)).long()
    mu = z.gather(1, at).nan_to_num(0.0)  # (c, k)
    active = torch.ones_like(mu, dtype=torch.bool)
    active[:, 1:] = mu[:, 1:] > mu[:, :-1] + 1e-6
    var = torch.full_like(mu, 1.0 / max_modes**2)
    log_w = (
        torch.where(active, 0.0, -math.inf) - active.sum(1, keepdim=True).double().log()
    )

    floor = (
        1e-6 + 1e-12
    )  # 1e-6 of the (unit) column variance, plus tiny for constant columns
    total = count.sum().clamp_min(1)
    last = -math.inf
    for it in range(iters):
        d = mean - mu.unsqueeze(1)  # (c, bins, k)
        d2 = (
            d.square() + spread
        )  # mean squared distance of the bin's values to each mode
        log_p = -0.5 * d2 / var.unsqueeze(1) + (log_w - 0.5 * var.log()).unsqueeze(1)
        # The floor keeps a column with no observed value (all weights zero) free of NaN.
        lse = torch.logsumexp(log_p, dim=2, keepdim=True).clamp_min(-1e300)
        r = (log_p - lse).exp() * count
        nk = r.sum(1)
        safe_nk = nk.clamp_min(1e-12)
        # Sums centred on the old means keep the variance update free of cancellation.
        shift = (r * d).sum(1) / safe_nk
        var = ((r * d2).sum(1) / safe_nk - shift.square()).clamp_min(0.0) + floor
        mu = torch.where(active, mu + shift, mu)
        log_w = torch.where(
            active & (nk > 0), (nk / n_obs.clamp_min(1)).log(), -math.inf
        )
        if it % 5 == 4:  # reading the likelihood syncs a GPU: not every step
            ll = ((lse * count).sum() / total).item()
            if ll - last < tol:
                break
            last = ll

    weights = torch.where(log_w.exp() < weight_threshold, 0.0, log_w.exp())
    # A column with all modes pruned (or no observed value) keeps its heaviest mode.
    top = torch.nn.functional.one_hot(log_w.argmax(1), max_modes).bool()
    weights = torch.where((weights.sum(1, keepdim=True) == 0) & top, 1.0, weights)
    weights = weights / weights.sum(1, keepdim=True)
    return mu * scale + center, var.sqrt() * scale, weights


@dataclass(frozen=True)
class Span:
    """A slice of the transformed row and the activation the generator applies to it."""

    start: int
    width: int
    activation: Activation
    column: str


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value that JSON writes and reads back unchanged."""
    return value.item() if isinstance(value, np.generic) else value


class TableTransformer:
    """CTGAN's reversible encoding of a table into a float32 matrix (see the module docstring).

    Continuous column: [alpha (tanh), one-hot of its active modes (softmax)], or with
    ``continuous="quantile"`` [its standard-normal value (normal)]; then a 2-wide [observed, missing]
    softmax when the column had missing values. Discrete column: one-hot over its kept values, then
    "missing" and "__other__" when present.
    """

    def __init__(
        self,
        max_modes: int = 10,
        max_categories: int = 500,
        max_other_values: int = 100_000,
        seed: int = 0,
        device: torch.device | str | None = None,
        continuous: str = "mode",
    ) -> None:
        if max_categories < 2:
            raise ValueError(
                "max_categories must be at least 2 (one value plus the other bucket)"
            )
        if continuous not in ENCODINGS:
            raise ValueError(f"continuous must be one of {', '.join(ENCODINGS)}, got {continuous!r}")
        self.continuous = continuous
        self.max_modes = max_modes
        self.max_categories = max_categories
        self.max_other_values = max_other_values
        self.seed = seed
        self.device = device
        self.columns: list[dict[str, Any]] = []

    # ----- fitting

    def fit(
        self, df: pd.DataFrame, metadata: Sequence[tuple[str, Kind]]
    ) -> TableTransformer:
        for name, kind in metadata:
            if name not in df.columns:
                raise UserError(
                    f"column {name!r}: named in the metadata but not in the table"
                )
            if kind not in ("continuous", "discrete"):
                raise UserError(
                    f"column {name!r}: kind {kind!r} is neither continuous nor discrete"
                )
        continuous = [name for name, kind in metadata if kind == "continuous"]
        fits = {}
        if continuous and self.continuous == "mode":
            x = torch.tensor(_numbers(df, continuous))
            fitted = fit_gmms(x, self.max_modes, device=self.device, seed=self.seed)
            means, stds, weights = (t.cpu() for t in fitted)
            fits = {
                name: (means[i], stds[i], weights[i])
                for i, name in enumerate(continuous)
            }
        self.columns = []
        for name, kind in metadata:
            column = df[name]
            if kind == "continuous" and self.continuous == "quantile":
                self.columns.append(_fit_quantiles(name, column))
            elif kind == "continuous":
                means, stds, weights = fits[name]
                keep = weights > 0
                observed = column.dropna().to_numpy(dtype=np.float64)
                self.columns.append(
                    {
                        "name": name,
                        "kind": kind,
                        "dtype": str(column.dtype),
                        "means": means[keep].tolist(),
                        "stds": stds[keep].tolist(),
                        "weights": weights[keep].tolist(),
                        "has_missing": bool(column.isna().any()),
                        # Integer-valued columns come back rounded; every value comes back in range.
                        "integer": bool(
                            len(observed) and np.all(observed == np.round(observed))
                        ),
                        "min": float(observed.min()) if len(observed) else 0.0,
                        "max": float(observed.max()) if len(observed) else 0.0,
                    }
                )
            else:
                self.columns.append(self._fit_discrete(name, column))
        return self

    def _fit_discrete(self, name: str, column: pd.Series) -> dict[str, Any]:
        missing = int(column.isna().sum())
        counts = column.dropna().astype(object).value_counts(sort=True)
        counts = counts[counts > 0]  # a categorical's unused categories
        keep = len(counts)
        if keep + (missing > 0) > self.max_categories:
            keep = (
                self.max_categories - 1 - (missing > 0)
            )  # leave room for "missing" and "__other__"
        rare = counts.iloc[keep:]
        # The other bucket is drawn from on the way back; the most frequent rare values suffice.
        stored = rare.iloc[: self.max_other_values]
        return {
            "name": name,
            "kind": "discrete",
            "dtype": str(column.dtype),
            "values": [_plain(v) for v in counts.index[:keep]],
            "counts": [int(c) for c in counts.iloc[:keep]],
            "missing_count": missing,
            "other_count": int(rare.sum()),
            "other_values": [_plain(v) for v in stored.index],
            "other_counts": [int(c) for c in stored],
        }

    # ----- layout

    def _widths(self, column: dict[str, Any]) -> list[tuple[int, Activation]]:
        if column["kind"] == "continuous":
            if "quantiles" in column:
                widths: list[tuple[int, Activation]] = [(1, "normal")]
            else:
                widths = [(1, "tanh"), (len(column["means"]), "softmax")]
            return widths + [(2, "softmax")] if column["has_missing"] else widths
        width = (
            len(column["values"])
            + (column["missing_count"] > 0)
            + (column["other_count"] > 0)
        )
        return [(width, "softmax")]

    @property
    def output_info(self) -> list[Span]:
        """The spans of a transformed row, in order, for the generator's output activations."""
        spans, start = [], 0
        for column in self.columns:
            for width, activation in self._widths(column):
                spans.append(Span(start, width, activation, column["name"]))
                start += width
        return spans

    @property
    def output_dimensions(self) -> int:
        return sum(span.width for span in self.output_info)

    @property
    def discrete_spans(self) -> list[tuple[int, Span]]:
        """(column index in the metadata, its one-hot span) per discrete column: CTGAN's cond vector."""
        spans = iter(self.output_info)
        out = []
        for index, column in enumerate(self.columns):
            column_spans = [next(spans) for _ in self._widths(column)]
            if column["kind"] == "discrete":
                out.append((index, column_spans[0]))
        return out

    def discrete_frequencies(self) -> list[np.ndarray]:
        """log(1 + count) per category of each discrete column, in span order (training-by-sampling)."""
        out = []
        for column in self.columns:
            if column["kind"] == "discrete":
                counts = column["counts"] + [
                    c for c in (column["missing_count"], column["other_count"]) if c > 0
                ]
                out.append(np.log1p(np.asarray(counts, dtype=np.float64)))
        return out

    # ----- transform

    def transform(self, df: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        """Rows to a float32 (n_rows, output_dimensions) matrix; modes are sampled with ``seed``."""
        self._check_fitted()
        g = torch.Generator().manual_seed(self.seed if seed is None else seed)
        out = np.zeros((len(df), self.output_dimensions), dtype=np.float32)
        spans = iter(self.output_info)
        for column in self.columns:
            column_spans = [next(spans) for _ in self._widths(column)]
            if column["name"] not in df.columns:
                raise UserError(
                    f"column {column['name']!r}: missing from the table to transform"
                )
            if "quantiles" in column:
                _encode_quantiles(column, df[column["name"]], column_spans, out)
            elif column["kind"] == "continuous":
                self._encode_continuous(
                    column, df[column["name"]], column_spans, out, g
                )
            else:
                self._encode_discrete(column, df[column["name"]], column_spans[0], out)
        return out

    def _encode_continuous(
        self,
        column: dict[str, Any],
        series: pd.Series,
        spans: list[Span],
        out: np.ndarray,
        g: torch.Generator,
    ) -> None:
        x = torch.tensor(_numbers(series.to_frame(), [column["name"]])[:, 0])
        means, stds, weights = (
            torch.tensor(column[k], dtype=torch.float64)
            for k in ("means", "stds", "weights")
        )
        missing = torch.isnan(x)
        if missing.any():
            if not column["has_missing"]:
                raise UserError(
                    f"column {column['name']!r}: has missing values, but had none when fitted"
                )
            x = torch.where(
                missing, means[weights.argmax()], x
            )  # any valid encoding; the flag says missing
            rows = np.arange(len(x))
            out[rows, spans[2].start + missing.numpy()] = 1.0
        elif column["has_missing"]:
            out[:, spans[2].start] = 1.0
        # Sample each row's mode from its posterior, as CTGAN does.
        log_p = (
            weights.log()
            - stds.log()
            - 0.5 * ((x.unsqueeze(1) - means) / stds).square()
        )
        cdf = torch.softmax(log_p, dim=1).cumsum(1)
        u = torch.rand(len(x), 1, generator=g, dtype=torch.float64)
        mode = (cdf < u).sum(1).clamp_max(len(means) - 1)
        alpha = ((x - means[mode]) / (4 * stds[mode])).clamp(-0.99, 0.99)
        out[:, spans[0].start] = alpha.numpy()
        out[np.arange(len(x)), spans[1].start + mode.numpy()] = 1.0

    def _encode_discrete(
        self, column: dict[str, Any], series: pd.Series, span: Span, out: np.ndarray
    ) -> None:
        missing = series.isna().to_numpy()
        code = pd.Index(column["values"], dtype=object).get_indexer(
            series.astype(object)
        )
        unknown = (code < 0) & ~missing
        if unknown.any():
            if column["other_count"] == 0:
                value = series[unknown].iloc[0]
                raise UserError(
                    f"column {column['name']!r}: value {value!r} was not seen when fitted"
                )
            code[unknown] = span.width - 1
        if missing.any():
            if column["missing_count"] == 0:
                raise UserError(
                    f"column {column['name']!r}: has missing values, but had none when fitted"
                )
            code[missing] = len(column["values"])
        out[np.arange(len(code)), span.start + code] = 1.0

    # ----- inverse

    def inverse_transform(
        self, data: np.ndarray, seed: int | None = None
    ) -> pd.DataFrame:
        """A matrix in ``output_info`` layout (generator output or ``transform``'s) back to rows."""
        self._check_fitted()
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != self.output_dimensions:
            raise ValueError(
                f"expected a (n_rows, {self.output_dimensions}) array, got shape {data.shape}"
            )
        rng = np.random.default_rng(self.seed if seed is None else seed)
        spans = iter(self.output_info)
        result = {}
        for column in self.columns:
            column_spans = [next(spans) for _ in self._widths(column)]
            blocks = [data[:, s.start : s.start + s.width] for s in column_spans]
            if "quantiles" in column:
                values = _decode_quantiles(column, blocks)
            elif column["kind"] == "continuous":
                values = _decode_continuous(column, blocks)
            else:
                values = _decode_discrete(column, blocks[0], rng)
            result[column["name"]] = values.astype(column["dtype"])
        return pd.DataFrame(result)

    # ----- state

    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable description of the fitted transformer."""
        self._check_fitted()
        settings = {
            k: getattr(self, k)
            for k in ("max_modes", "max_categories", "max_other_values", "seed", "continuous")
        }
        return {"version": STATE_VERSION, **settings, "columns": self.columns}

    @classmethod
    def from_state(
        cls, state: dict[str, Any], device: torch.device | str | None = None
    ) -> TableTransformer:
        if state.get("version") != STATE_VERSION:
            raise UserError(
                f"transformer state: version {state.get('version')!r}, expected {STATE_VERSION}"
            )
        settings = {
            k: state[k]
            for k in ("max_modes", "max_categories", "max_other_values", "seed")
        }
        settings["continuous"] = state.get("continuous", "mode")  # states saved before it existed
        transformer = cls(**settings, device=device)
        transformer.columns = [dict(c) for c in state["columns"]]
        return transformer

    def _check_fitted(self) -> None:
        if not self.columns:
            raise RuntimeError("TableTransformer: call fit (or from_state) first")


def _numbers(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Columns as float64 with NaN for missing (nullable Int64 and friends included)."""
    try:
        return df[names].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise UserError(
            f"columns {names}: a continuous column holds non-numbers ({error})"
        ) from None


def _numeric_column(column: dict[str, Any], values: np.ndarray, missing: list[np.ndarray]) -> pd.Series:
    """Decoded numbers back in the column's range and type, NaN where the missing-value block (``missing``:
    the column's blocks after its value blocks, one when it has missing values) says so."""
    values = np.clip(values, column["min"], column["max"])
    if column["integer"]:
        values = np.round(values)
    if column["has_missing"]:
        values[missing[0].argmax(1) == 1] = np.nan
    return pd.Series(values)


def _decode_continuous(column: dict[str, Any], blocks: list[np.ndarray]) -> pd.Series:
    means, stds = np.asarray(column["means"]), np.asarray(column["stds"])
    mode = blocks[1].argmax(1)
    values = (
        np.clip(blocks[0][:, 0].astype(np.float64), -1, 1) * 4 * stds[mode]
        + means[mode]
    )
    return _numeric_column(column, values, blocks[2:])


def _decode_discrete(
    column: dict[str, Any], block: np.ndarray, rng: np.random.Generator
) -> pd.Series:
    # Slots: the kept values, then "missing" (None) and "__other__" when present; other is last.
    code = block.argmax(1)
    choices = np.empty(block.shape[1], dtype=object)
    choices[: len(column["values"])] = column["values"]
    values = choices[code]
    other = (
        (code == block.shape[1] - 1)
        if column["other_count"] > 0
        else np.zeros(len(code), dtype=bool)
    )
    if other.any():
        counts = np.asarray(column["other_counts"], dtype=np.float64)
        drawn = rng.choice(len(counts), size=int(other.sum()), p=counts / counts.sum())
        values[other] = np.asarray(column["other_values"], dtype=object)[drawn]
    return pd.Series(values, dtype=object)


# ----- the quantile encoding of a continuous column


def _fit_quantiles(name: str, column: pd.Series) -> dict[str, Any]:
    observed = np.sort(_numbers(column.to_frame(), [name])[:, 0])
    observed = observed[~np.isnan(observed)]
    if not len(observed):
        observed = np.zeros(1)  # nothing observed: a placeholder; the missing flag says missing
    levels = np.linspace(0.0, 1.0, min(MAX_QUANTILES, len(observed)))
    distinct = np.unique(observed)
    return {
        "name": name,
        "kind": "continuous",
        "dtype": str(column.dtype),
        "quantiles": np.quantile(observed, levels).tolist(),
        "grid": distinct.tolist() if len(distinct) <= MAX_GRID else None,
        "has_missing": bool(column.isna().any()),
        "integer": bool(np.all(observed == np.round(observed))),
        "min": float(observed[0]),
        "max": float(observed[-1]),
    }


def _levels(quantiles: np.ndarray) -> np.ndarray:
    return np.linspace(0.0, 1.0, len(quantiles)) if len(quantiles) > 1 else np.full(1, 0.5)


def _encode_quantiles(column: dict[str, Any], series: pd.Series, spans: list[Span], out: np.ndarray) -> None:
    from scipy.special import ndtri

    x = _numbers(series.to_frame(), [column["name"]])[:, 0]
    missing = np.isnan(x)
    if missing.any() and not column["has_missing"]:
        raise UserError(f"column {column['name']!r}: has missing values, but had none when fitted")
    quantiles = np.asarray(column["quantiles"])
    levels = _levels(quantiles)
    x = np.where(missing, np.median(quantiles), x)  # any valid value; the flag says missing
    # Interpolated up and down and averaged, as scikit-learn does: a run of equal quantiles (a spike)
    # maps to the middle of its levels, not to one end.
    level = 0.5 * (np.interp(x, quantiles, levels) - np.interp(-x, -quantiles[::-1], -levels[::-1]))
    out[:, spans[0].start] = ndtri(np.clip(level, NORMAL_BOUND, 1 - NORMAL_BOUND))
    if column["has_missing"]:
        out[np.arange(len(x)), spans[1].start + missing] = 1.0


def _decode_quantiles(column: dict[str, Any], blocks: list[np.ndarray]) -> pd.Series:
    from scipy.special import ndtr

    quantiles = np.asarray(column["quantiles"])
    values = np.interp(ndtr(blocks[0][:, 0].astype(np.float64)), _levels(quantiles), quantiles)
    if column["grid"] is not None:  # the nearest of the few values the column had
        grid = np.asarray(column["grid"])
        values = grid[np.abs(values[:, None] - grid[None, :]).argmin(1)]
    return _numeric_column(column, values, blocks[1:])
