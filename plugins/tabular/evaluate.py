"""Table quality: how well a synthetic table matches a real one, and whether it leaks real rows.

- ``quality_score``: SDMetrics' QualityReport (column shapes, column pair trends), on at most
  ``max_rows`` rows of each table (a seeded subsample: the report's pair metrics get slow on large,
  wide tables and its scores barely move beyond a few thousand rows).
- ``ml_efficacy``: train a gradient-boosted model on the synthetic table and test it on real rows
  (TSTR), against the same model trained on real rows (TRTR).
- ``distance_to_closest_record``: how close synthetic rows sit to real ones, next to how close real
  rows sit to each other.
- ``evaluate_tables``: all of the above in one flat dict.

Id columns carry no distribution to compare: they are skipped everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gensdk.errors import UserError
from gensdk.extras import require
from gensdk_plugins.tabular.data import TableMetadata, datetime_seconds

DISCRETE = ("categorical", "boolean")
TEST_SHARE = 0.3  # share of the real table held out for ML efficacy when no test table is given
MISSING = "\0missing"  # the category a missing discrete value gets in distances


def sdmetrics_metadata(meta: TableMetadata) -> dict[str, Any]:
    """SDMetrics single-table metadata: ``{"columns": {name: {"sdtype": ..., "datetime_format": ...}}}``."""
    columns: dict[str, dict[str, str]] = {}
    for spec in meta.columns:
        column = {"sdtype": spec.type}  # our five types are SDMetrics sdtypes too
        if spec.type == "datetime" and spec.datetime_format:
            column["datetime_format"] = spec.datetime_format
        columns[spec.name] = column
    return {"columns": columns}


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame, meta: TableMetadata,
                  max_rows: int = 20_000, seed: int = 0) -> dict[str, float]:
    """SDMetrics QualityReport scores in [0, 1]; each table is subsampled to ``max_rows`` rows (seeded).

    SDMetrics scores only the column pairs whose real correlation (> 0.5) or association (> 0.3)
    shows a trend: with none, ``column_pair_trends`` is NaN and the overall score is column shapes.
    """
    # The unified report: sdmetrics 0.32 deprecates reports.single_table.QualityReport, and gives the
    # same scores for a one-table dict.
    QualityReport = require("sdmetrics.reports", "tabular").QualityReport

    real, synthetic = (_subsample(_columns(df, meta, which), max_rows, seed)
                       for df, which in ((real, "real"), (synthetic, "synthetic")))
    report = QualityReport()
    report.generate({"table": real}, {"table": synthetic}, {"tables": {"table": sdmetrics_metadata(meta)}},
                    verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return {"quality_score": float(report.get_score()),
            "column_shapes": float(properties["Column Shapes"]),
            "column_pair_trends": float(properties["Column Pair Trends"])}


def ml_efficacy(real_train: pd.DataFrame, real_test: pd.DataFrame, synthetic: pd.DataFrame,
                meta: TableMetadata, target: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Train on synthetic, test on real (TSTR) vs train on real, test on real (TRTR).

    A categorical or boolean target is classified (accuracy, plus macro F1), a numerical one
    regressed (R^2), with scikit-learn's HistGradientBoosting models. ``ratio`` is synthetic / real:
    near 1 means the synthetic table teaches the task as well as the real one.
    """
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    target = target or meta.target
    if target is None:
        raise UserError("the table has no target column; pass --target")
    spec = meta.column(target)
    if spec.type not in (*DISCRETE, "numerical"):
        raise UserError(f"target {target!r} is {spec.type}; ML efficacy needs a categorical, boolean "
                        "or numerical target")
    frames = [_columns(df, meta, which).dropna(subset=[target]) for df, which in
              ((real_train, "real training"), (real_test, "real test"), (synthetic, "synthetic"))]
    for df, which in zip(frames, ("real training", "real test", "synthetic")):
        if df.empty:
            raise UserError(f"the {which} table has no rows with a value for target {target!r}")
    features = [s for s in meta.columns if s.type != "id" and s.name != target]
    # Categories from both training tables, so the two models see one encoding; test-only values -> -1.
    x_train, x_test, x_synth = _encode(frames, features, fit_on=(frames[0], frames[2]))
    classify = spec.type in DISCRETE
    # Labels as text: a boolean column may hold True in one table and "true" in another.
    y_train, y_test, y_synth = ((df[target].astype(str) if classify else df[target].astype(float)).to_numpy()
                                for df in frames)
    model_class = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor

    def fit_predict(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if classify and len(set(y)) == 1:  # one class: scikit-learn refuses to fit, the answer is fixed
            return np.full(len(x_test), y[0], dtype=object)
        return model_class(random_state=seed).fit(x, y).predict(x_test)

    real_pred, synth_pred = fit_predict(x_train, y_train), fit_predict(x_synth, y_synth)
    if classify:
        result = {"task": "classification", "metric": "accuracy",
                  "real": float(accuracy_score(y_test, real_pred)),
                  "synthetic": float(accuracy_score(y_test, synth_pred)),
                  "real_f1_macro": float(f1_score(y_test, real_pred, average="macro")),
                  "synthetic_f1_macro": float(f1_score(y_test, synth_pred, average="macro"))}
    else:
        result = {"task": "regression", "metric": "r2",
                  "real": float(r2_score(y_test, real_pred)), "synthetic": float(r2_score(y_test, synth_pred))}
    # A real score at or below 0 (R^2 can be negative) leaves nothing to compare against.
    result["ratio"] = result["synthetic"] / result["real"] if result["real"] > 0 else math.nan
    return result


def distance_to_closest_record(real: pd.DataFrame, synthetic: pd.DataFrame, meta: TableMetadata,
                               max_rows: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Distance from each synthetic row to its nearest real row, and the real-vs-real baseline.

    Numerical and datetime columns are standardized by the real table's mean and std (missing -> the
    mean); categorical and boolean columns are one-hot encoded and scaled so a mismatch costs 1.
    The baseline is leave-one-out: each real row's distance to its nearest *other* real row, so it
    searches a reference set of the same size as the synthetic rows do. Synthetic distances well
    below the baseline, or an exact-copy share above the baseline's, mean rows are being memorised.
    Both tables are subsampled to ``max_rows`` rows (seeded): the search costs rows x rows, and on
    larger tables the exact-copy share then counts copies of the sampled real rows only.
    """
    from sklearn.neighbors import NearestNeighbors

    real, synthetic = (_subsample(_columns(df, meta, which), max_rows, seed)
                       for df, which in ((real, "real"), (synthetic, "synthetic")))
    x_real, x_synth = _embed(real, synthetic, meta)
    index = NearestNeighbors().fit(x_real)

    def nearest(x: np.ndarray, k: int) -> np.ndarray:
        # Brute-force search ranks by |a|^2 - 2ab + |b|^2, which leaves ~1e-7 where a == b: recompute
        # the distance to the hit directly, so an exact copy reads exactly 0.
        hit = index.kneighbors(x, n_neighbors=k, return_distance=False)[:, k - 1]
        return np.linalg.norm(x - x_real[hit], axis=1)

    synth_dist = nearest(x_synth, 1)
    # The nearest hit of a real row is itself, so its second is the nearest other row; a duplicated
    # row finds its twin at 0 either way.
    real_dist = nearest(x_real, 2) if len(x_real) > 1 else np.array([np.nan])
    result = {}
    for prefix, dist in (("dcr", synth_dist), ("baseline_dcr", real_dist)):
        result[f"{prefix}_median"] = float(np.median(dist))
        result[f"{prefix}_p5"] = float(np.percentile(dist, 5))
        result[f"{prefix}_exact_copy_share"] = float(np.mean(dist == 0))
    return result


def evaluate_tables(real: pd.DataFrame, synthetic: pd.DataFrame, meta: TableMetadata,
                    real_test: pd.DataFrame | None = None, target: str | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """All metrics in one flat dict: quality, ML efficacy (``ml_*``) and DCR (``dcr_*``, ``baseline_dcr_*``).

    Without ``real_test``, a seeded 30% of ``real`` is held out as the ML test set and the models
    train on the other 70% (the synthetic table was likely fitted on all of ``real``, test rows
    included, which flatters TSTR a little: pass a true holdout when there is one).
    Quality and DCR use all of ``real``. Without a target (argument or ``meta.target``), the ML
    efficacy keys are left out rather than failing the whole evaluation.
    """
    result: dict[str, Any] = quality_score(real, synthetic, meta, seed=seed)
    target = target or meta.target
    if target is not None:
        real_train = real
        if real_test is None:
            real_test = real.sample(frac=TEST_SHARE, random_state=seed)
            real_train = real.drop(index=real_test.index)
        ml = ml_efficacy(real_train, real_test, synthetic, meta, target=target, seed=seed)
        result.update({f"ml_{key}": value for key, value in ml.items()})
    result.update(distance_to_closest_record(real, synthetic, meta, seed=seed))
    return result


# --- helpers -----------------------------------------------------------------------------------


def _columns(df: pd.DataFrame, meta: TableMetadata, which: str) -> pd.DataFrame:
    """The metadata's columns of ``df``, in its order (extra columns would trip SDMetrics)."""
    missing = [name for name in meta.names if name not in df.columns]
    if missing:
        raise UserError(f"the {which} table lacks column(s) {', '.join(map(repr, missing))}")
    return df[meta.names]


def _subsample(df: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    # Always a copy: SDMetrics converts datetime columns in place.
    return df.sample(max_rows, random_state=seed) if len(df) > max_rows else df.copy()


def _numbers(s: pd.Series, spec_type: str) -> np.ndarray:
    """Numerical values as float; datetimes as seconds since the epoch (UTC); unreadable -> NaN."""
    if spec_type == "datetime":
        return datetime_seconds(s).to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _categories(frames: tuple[pd.DataFrame, ...], name: str) -> pd.Index:
    # As text: one column may read as 1 in one table and "1" in another.
    values = set().union(*(df[name].dropna().astype(str) for df in frames))
    return pd.Index(sorted(values))


def _encode(frames: list[pd.DataFrame], features: list, fit_on: tuple[pd.DataFrame, ...]) -> list[np.ndarray]:
    """Feature matrices for gradient boosting: numbers as is, categories as ordinal codes.

    Unknown categories -> -1, missing values -> NaN (the models route NaN natively).
    """
    columns: list[list[np.ndarray]] = [[] for _ in frames]
    for spec in features:
        categories = _categories(fit_on, spec.name) if spec.type in DISCRETE else None
        for out, df in zip(columns, frames):
            s = df[spec.name]
            if categories is None:
                out.append(_numbers(s, spec.type))
            else:
                codes = categories.get_indexer(s.astype(str)).astype(float)
                codes[s.isna().to_numpy()] = np.nan
                out.append(codes)
    return [np.column_stack(c) if c else np.zeros((len(df), 1)) for c, df in zip(columns, frames)]


def _embed(real: pd.DataFrame, synthetic: pd.DataFrame, meta: TableMetadata) -> tuple[np.ndarray, np.ndarray]:
    """Rows as vectors for Euclidean distance (see ``distance_to_closest_record``)."""
    real_parts, synth_parts = [], []
    for spec in meta.columns:
        if spec.type in DISCRETE:
            # Missing is a value of its own, so a missing-vs-value mismatch costs 1 too.
            real_text, synth_text = (df[spec.name].astype(str).where(df[spec.name].notna(), MISSING)
                                     for df in (real, synthetic))
            categories = pd.Index(sorted(set(real_text) | set(synth_text)))
            for parts, text in ((real_parts, real_text), (synth_parts, synth_text)):
                one_hot = np.zeros((len(text), len(categories)))
                one_hot[np.arange(len(text)), categories.get_indexer(text)] = 1 / math.sqrt(2)  # 2 halves -> 1
                parts.append(one_hot)
        elif spec.type in ("numerical", "datetime"):
            x_real, x_synth = _numbers(real[spec.name], spec.type), _numbers(synthetic[spec.name], spec.type)
            mean, std = np.nanmean(x_real), np.nanstd(x_real)
            if not np.isfinite(mean):  # an all-missing column has nothing to compare
                continue
            std = std if std > 0 else 1.0  # a constant column: differences in its own unit
            real_parts.append(np.nan_to_num((x_real - mean) / std)[:, None])
            synth_parts.append(np.nan_to_num((x_synth - mean) / std)[:, None])
    if not real_parts:
        raise UserError("no numerical, datetime, categorical or boolean column to measure distances on")
    return np.hstack(real_parts), np.hstack(synth_parts)
