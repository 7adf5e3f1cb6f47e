"""Families of synthetic classification datasets for meta-learning.

Three generators, each ``(rng, spec) -> (table, metadata, info)``:

- ``scm_table``: a prior over structural causal models in the manner of TabPFN (Hollmann et al.
  2023): random causes pushed through a random sparse MLP with noise at every layer; features and
  the target are read off random nodes; the target is cut into classes at random quantiles; some
  features become categorical, some are warped, each gets its own units.
- ``random_table``: scikit-learn's ``make_classification`` with random parameters, the baseline.
- ``search_table``: a genetic search over datasets toward a target meta-feature vector (Zabashta &
  Filchenkov, "Method for meta-feature-guided dataset generation"): a population of datasets,
  column-swapping crossover, mutations that add, drop, warp and correlate columns and relabel,
  rebalance and resize rows, with the distance of the chosen meta-features to the target as fitness.

``generate_family`` writes N of them, each a folder ``ds-00000/`` with ``table.csv``,
``metadata.json`` (types and target) and ``meta_features.json``, plus ``meta_features.csv`` (one
row per dataset) and ``family.json``. Dataset i depends only on (seed, i), so ``resume`` fills in
exactly the datasets a killed run did not finish, and the backend (local processes or a Ray cluster,
``gensdk.core.executor``) changes nothing but the time taken.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from gensdk.core.executor import Backend
from gensdk.core.io import atomic_write, write_folder, write_json
from gensdk.errors import UserError
from gensdk_plugins.tabular.data import ColumnSpec, TableMetadata
from gensdk_plugins.tabular.metafeatures import GROUPS, MIN_CLASS_ROWS, SUMMARY, meta_features

TARGET = "target"
METHODS = ("scm", "search", "random")
FAMILY_FILE, INDEX_FILE = "family.json", "meta_features.csv"


# --- the spec ----------------------------------------------------------------------------------


@dataclass
class SearchSpec:
    targets: list[dict[str, float]] = field(default_factory=list)  # meta-feature name -> value
    target_tables: list[str] = field(default_factory=list)  # tables (files or examples) whose features are targets
    target_features: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_FEATURES))
    population: int = 16
    generations: int = 15
    tolerance: float = 0.05  # stop when the RMS standardized distance is below this


# A spread over the five groups, cheap enough to evaluate every individual of a search.
DEFAULT_TARGET_FEATURES = ("nr_inst", "nr_attr", "nr_class", "nr_cat", "class_ent", "freq_class.sd", "cor.mean",
                           "skewness.mean", "kurtosis.mean", "attr_ent.mean", "mut_inf.mean", "tree_depth.mean",
                           "one_nn.mean", "naive_bayes.mean")


@dataclass
class FamilySpec:
    method: str = "scm"
    rows: tuple[int, int] = (50, 2000)
    features: tuple[int, int] = (2, 30)
    classes: tuple[int, int] = (2, 6)
    categorical_share: tuple[float, float] = (0.0, 0.5)
    missing_share: tuple[float, float] = (0.0, 0.0)
    groups: list[str] = field(default_factory=lambda: list(GROUPS))
    summary: list[str] = field(default_factory=lambda: list(SUMMARY))
    seed: int = 0
    search: SearchSpec = field(default_factory=SearchSpec)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> FamilySpec:
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"family spec: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        search = d.pop("search", None) or {}
        search_known = {f.name for f in fields(SearchSpec)}
        if not isinstance(search, dict) or set(search) - search_known:
            raise UserError(f"family spec: 'search' takes the keys {', '.join(sorted(search_known))}")
        spec = cls(**d, search=SearchSpec(**search))
        spec.validate()
        return spec

    @classmethod
    def load(cls, path: str | os.PathLike) -> FamilySpec:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such spec file")
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if d is not None and not isinstance(d, dict):
            raise UserError(f"{path}: a family spec is a mapping of settings")
        return cls.from_dict(d)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"family spec: unknown method {self.method!r} (known: {', '.join(METHODS)})")
        for name, low_bound, cast in (("rows", 20, int), ("features", 1, int), ("classes", 2, int),
                                      ("categorical_share", 0.0, float), ("missing_share", 0.0, float)):
            value = getattr(self, name)
            if not (isinstance(value, (list, tuple)) and len(value) == 2):
                raise UserError(f"family spec: {name} must be a range [low, high], got {value!r}")
            low, high = cast(value[0]), cast(value[1])
            if not low_bound <= low <= high or (cast is float and high > 1):
                raise UserError(f"family spec: {name} range {value!r} must satisfy {low_bound} <= low <= high"
                                + (" <= 1" if cast is float else ""))
            setattr(self, name, (low, high))
        if self.classes[0] * MIN_CLASS_ROWS > self.rows[1]:
            raise UserError(f"family spec: {self.classes[0]} classes need at least {self.classes[0] * MIN_CLASS_ROWS} rows")
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise UserError(f"family spec: unknown meta-feature group(s) {', '.join(unknown)} (known: {', '.join(GROUPS)})")
        if self.method == "search":
            s = self.search
            if not (s.targets or s.target_tables):
                raise UserError("family spec: method search needs search.targets or search.target_tables")
            if s.population < 4 or s.generations < 1:
                raise UserError("family spec: search.population must be >= 4 and search.generations >= 1")
            for target in s.targets:
                if not isinstance(target, dict) or not target or not all(
                        isinstance(v, (int, float)) for v in target.values()):
                    raise UserError(f"family spec: a search target is a mapping of meta-feature names to numbers, got {target!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- shared pieces -----------------------------------------------------------------------------


def _log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high) + 1e-12))))


def _class_cuts(rng: np.random.Generator, classes: int, rows: int) -> np.ndarray:
    """Quantiles at which to cut a score into ``classes`` classes: Dirichlet proportions (a random
    amount of imbalance), each class at least ``MIN_CLASS_ROWS`` rows."""
    concentration = math.exp(rng.uniform(math.log(0.5), math.log(20)))
    share = rng.dirichlet(np.full(classes, concentration))
    floor = MIN_CLASS_ROWS / rows
    share = floor + share * (1 - floor * classes)
    return np.cumsum(share)[:-1]


def _to_categorical(rng: np.random.Generator, values: np.ndarray, levels: int) -> np.ndarray:
    """Cut a column into ``levels`` levels at random quantiles, with shuffled names (no order kept)."""
    cuts = np.quantile(values, np.sort(rng.uniform(0, 1, levels - 1)))
    codes = np.searchsorted(cuts, values)
    names = np.array([f"v{k}" for k in rng.permutation(levels)])
    return names[codes]


def _finish(rng: np.random.Generator, columns: list[np.ndarray], labels: np.ndarray, spec: FamilySpec,
            categorical_share: float | None = None) -> tuple[pd.DataFrame, TableMetadata]:
    """Turn numeric columns and class labels into a table: some columns categorical, some numeric
    ones warped (skew) or rounded (counts), each in its own units, some values missing."""
    share = rng.uniform(*spec.categorical_share) if categorical_share is None else categorical_share
    missing = rng.uniform(*spec.missing_share)
    data, specs = {}, []
    for j, x in enumerate(columns):
        name = f"x{j}"
        z = (x - x.mean()) / (x.std() + 1e-12)
        if rng.random() < share:
            values = _to_categorical(rng, z, int(rng.integers(2, 11))).astype(object)
            kind = "categorical"
        else:
            if rng.random() < 0.3:  # log-normal-like skew, as incomes and counts have
                z = np.exp(rng.uniform(0.3, 1.5) * z)
            values = z * 10 ** rng.uniform(-2, 3) + (rng.normal() * 10 ** rng.uniform(-1, 3) if rng.random() < 0.5 else 0)
            if rng.random() < 0.2:
                values = np.round(values)
            kind = "numerical"
        if missing > 0:
            values = pd.Series(values).mask(rng.random(len(values)) < missing).to_numpy()
        data[name] = values
        specs.append(ColumnSpec(name, kind, subtype="float" if kind == "numerical" else None))
    data[TARGET] = np.array([f"c{int(k)}" for k in labels], dtype=object)
    specs.append(ColumnSpec(TARGET, "categorical"))
    table = pd.DataFrame(data)
    for s in specs:
        s.missing = float(table[s.name].isna().mean())
        s.cardinality = int(table[s.name].nunique())
    return table, TableMetadata(columns=specs, target=TARGET)


def _sizes(rng: np.random.Generator, spec: FamilySpec) -> tuple[int, int, int]:
    rows = _log_uniform_int(rng, *spec.rows)
    classes = int(rng.integers(spec.classes[0], min(spec.classes[1], rows // MIN_CLASS_ROWS) + 1))
    return rows, _log_uniform_int(rng, *spec.features), classes  # log-uniform: small tables are the common ones


# --- the SCM prior -----------------------------------------------------------------------------

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0), "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),
    "sin": np.sin, "identity": lambda x: x, "abs": np.abs, "square": lambda x: np.clip(x, -3, 3) ** 2,
}


def scm_table(rng: np.random.Generator, spec: FamilySpec, sizes: tuple[int, int, int] | None = None
              ) -> tuple[pd.DataFrame, TableMetadata, dict[str, Any]]:
    rows, n_features, classes = sizes or _sizes(rng, spec)
    layers = int(rng.integers(2, 6))
    width = int(rng.integers(max(4, n_features // 2 + 1), 2 * n_features + 8))
    causes = int(rng.integers(1, max(2, n_features) + 1))
    activation = str(rng.choice(list(ACTIVATIONS)))
    keep = rng.uniform(0.2, 1.0)  # share of edges kept: sparser graphs, fewer dependencies
    noise = math.exp(rng.uniform(math.log(1e-3), math.log(0.5)))
    z = rng.normal(rng.normal(size=causes), np.abs(rng.normal(1, 0.5, size=causes)) + 0.1, size=(rows, causes))
    if rng.random() < 0.3:  # uniform causes instead of Gaussian ones
        z = rng.uniform(-1.7, 1.7, size=(rows, causes))
    nodes = []
    for _ in range(layers):
        w = rng.normal(size=(z.shape[1], width)) / math.sqrt(z.shape[1] * keep) * (rng.random((z.shape[1], width)) < keep)
        z = ACTIVATIONS[activation](z @ w + rng.normal(size=width) * 0.5) + rng.normal(size=(rows, width)) * noise
        nodes.append(z)
    nodes = np.concatenate(nodes, axis=1)
    informative = np.flatnonzero(nodes.std(axis=0) > 1e-8)
    if len(informative) < 2:  # a dead network (e.g. all-negative relu): every node constant
        informative = np.arange(nodes.shape[1])
        nodes = nodes + rng.normal(size=nodes.shape)
    effect = rng.random() < 0.5  # target downstream of the features (an effect), or anywhere in the graph
    order = rng.permutation(informative)
    if effect:
        target_node = int(informative[-1 - rng.integers(0, min(width, len(informative)))])
    else:
        target_node = int(order[0])
    feature_nodes = [int(i) for i in order if i != target_node][:n_features]
    while len(feature_nodes) < n_features:  # a narrow graph: add noisy copies of its nodes
        feature_nodes.append(int(rng.choice(feature_nodes or [target_node])))
    score = nodes[:, target_node] + rng.normal(size=rows) * 1e-9  # break ties between equal nodes
    labels = np.searchsorted(np.quantile(score, _class_cuts(rng, classes, rows)), score)
    flip = rng.uniform(0, 0.1) * (rng.random() < 0.5)
    flipped = rng.random(rows) < flip
    labels[flipped] = rng.integers(0, classes, size=int(flipped.sum()))
    columns = [nodes[:, i] + (rng.normal(size=rows) * 0.1 if feature_nodes[:k].count(i) else 0)
               for k, i in enumerate(feature_nodes)]
    table, metadata = _finish(rng, columns, labels, spec)
    info = {"method": "scm", "layers": layers, "width": width, "causes": causes, "activation": activation,
            "edge_keep": round(keep, 3), "noise": round(noise, 4), "target_is_effect": bool(effect),
            "label_flip": round(flip, 3)}
    return table, metadata, info


# --- the baseline: make_classification with random parameters ------------------------------------


def random_table(rng: np.random.Generator, spec: FamilySpec, sizes: tuple[int, int, int] | None = None
                 ) -> tuple[pd.DataFrame, TableMetadata, dict[str, Any]]:
    from sklearn.datasets import make_classification

    rows, n_features, classes = sizes or _sizes(rng, spec)
    n_features = max(n_features, 2)
    clusters = int(rng.integers(1, 4))
    informative_min = max(1, math.ceil(math.log2(classes * clusters)))
    if informative_min > n_features:
        clusters, informative_min = 1, max(1, math.ceil(math.log2(classes)))
        n_features = max(n_features, informative_min)
    informative = int(rng.integers(informative_min, n_features + 1))
    redundant = int(rng.integers(0, n_features - informative + 1))
    params = {"n_samples": rows, "n_features": n_features, "n_informative": informative, "n_redundant": redundant,
              "n_classes": classes, "n_clusters_per_class": clusters,
              "weights": [float(w) for w in rng.dirichlet(np.full(classes, 2.0))],
              "flip_y": float(rng.uniform(0, 0.3)), "class_sep": float(rng.uniform(0.3, 2.0)),
              "hypercube": bool(rng.random() < 0.5), "random_state": int(rng.integers(2**31 - 1))}
    X, y = make_classification(**params)
    data = {f"x{j}": X[:, j] for j in range(n_features)}
    data[TARGET] = np.array([f"c{k}" for k in y], dtype=object)
    table = pd.DataFrame(data)
    specs = [ColumnSpec(f"x{j}", "numerical", subtype="float", cardinality=int(table[f"x{j}"].nunique()))
             for j in range(n_features)] + [ColumnSpec(TARGET, "categorical", cardinality=int(table[TARGET].nunique()))]
    return table, TableMetadata(columns=specs, target=TARGET), {"method": "random", **params}


# --- the genetic search toward target meta-features ------------------------------------------


def _rebuild(table: pd.DataFrame) -> tuple[pd.DataFrame, TableMetadata]:
    """Fresh column names x0.. in order, and metadata (types from the dtype) for a mutated table."""
    features = [c for c in table.columns if c != TARGET]
    table = table[features + [TARGET]].copy()
    table.columns = [f"x{j}" for j in range(len(features))] + [TARGET]
    specs = []
    for name in table.columns:
        kind = "numerical" if name != TARGET and pd.api.types.is_numeric_dtype(table[name]) else "categorical"
        specs.append(ColumnSpec(name, kind, subtype="float" if kind == "numerical" else None,
                                missing=float(table[name].isna().mean()), cardinality=int(table[name].nunique())))
    return table.reset_index(drop=True), TableMetadata(columns=specs, target=TARGET)


def _resample_rows(rng: np.random.Generator, table: pd.DataFrame, counts: dict[str, int]) -> pd.DataFrame:
    """Rows drawn per class (with replacement where a class grows); duplicated numbers get a little noise
    so that a resized table is not a table of exact copies."""
    parts = []
    for label, group in table.groupby(TARGET):
        want = counts.get(str(label), 0)
        if want:
            parts.append(group.sample(want, replace=want > len(group), random_state=int(rng.integers(2**31 - 1))))
    out = pd.concat(parts)
    duplicated = out.index.duplicated()
    for name in out.columns:
        if name != TARGET and pd.api.types.is_numeric_dtype(out[name]):
            sd = out[name].std()
            out.loc[duplicated, name] = out.loc[duplicated, name] + rng.normal(size=int(duplicated.sum())) * 0.05 * (sd or 1)
    return out.sample(frac=1.0, random_state=int(rng.integers(2**31 - 1)))


def _mutate(rng: np.random.Generator, table: pd.DataFrame, spec: FamilySpec) -> pd.DataFrame:
    table = table.copy()
    features = [c for c in table.columns if c != TARGET]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(table[c])]  # pandas 3 text is not object
    labels = table[TARGET].astype(str)
    op = rng.choice(["add", "drop", "relabel", "rebalance", "resize", "warp", "categorize", "correlate", "inform"])
    n = len(table)
    if op == "add" and len(features) < spec.features[1]:
        kind = rng.random()
        if kind < 0.35 and numeric:  # a nonlinear function of 1-3 existing columns
            chosen = rng.choice(numeric, size=min(len(numeric), int(rng.integers(1, 4))), replace=False)
            z = sum(rng.normal() * (table[c] - table[c].mean()) / (table[c].std() + 1e-12) for c in chosen)
            f = ACTIVATIONS[str(rng.choice(list(ACTIVATIONS)))]
            table[f"new{len(features)}"] = f(np.asarray(z, float)) + rng.normal(size=n) * rng.uniform(0.01, 1)
        elif kind < 0.7:  # a class-dependent column: carries class information
            means = {c: rng.normal() for c in labels.unique()}
            table[f"new{len(features)}"] = labels.map(means).to_numpy(float) + rng.normal(size=n) * rng.uniform(0.2, 3)
        else:  # pure noise
            table[f"new{len(features)}"] = rng.normal(size=n)
    elif op == "drop" and len(features) > spec.features[0]:
        table = table.drop(columns=[rng.choice(features)])
    elif op == "relabel":
        share = rng.uniform(0.01, 0.15)
        flip = rng.random(n) < share
        classes = labels.unique()
        table.loc[flip, TARGET] = rng.choice(classes, size=int(flip.sum()))
        if table[TARGET].value_counts().min() < MIN_CLASS_ROWS:
            table[TARGET] = labels  # would starve a class: undo
    elif op in ("rebalance", "resize"):
        counts = labels.value_counts()
        if op == "rebalance":
            share = rng.dirichlet(counts.to_numpy(float) / counts.sum() * rng.uniform(2, 50) + 1e-3)
            total = n
        else:
            share = counts.to_numpy(float) / counts.sum()
            total = int(np.clip(n * math.exp(rng.normal(0, 0.4)), spec.rows[0], spec.rows[1]))
        want = np.maximum(MIN_CLASS_ROWS, np.round(share * total)).astype(int)
        table = _resample_rows(rng, table, dict(zip(counts.index.astype(str), want)))
    elif op == "warp" and numeric:
        c = rng.choice(numeric)
        x = table[c].to_numpy(float)
        z = (x - np.nanmean(x)) / (np.nanstd(x) + 1e-12)
        how = rng.integers(0, 3)
        z = np.exp(rng.uniform(0.2, 1.5) * z) if how == 0 else (np.sign(z) * np.abs(z) ** rng.uniform(0.3, 3)
                                                             if how == 1 else -np.exp(-rng.uniform(0.2, 1.5) * z))
        table[c] = z * 10 ** rng.uniform(-2, 3)
    elif op == "categorize" and numeric:
        c = rng.choice(numeric)
        x = table[c].to_numpy(float)
        table[c] = _to_categorical(rng, np.nan_to_num(x, nan=np.nanmedian(x)), int(rng.integers(2, 11))).astype(object)
    elif op == "correlate" and len(numeric) >= 2:
        a, b = rng.choice(numeric, size=2, replace=False)
        za = (table[a] - table[a].mean()) / (table[a].std() + 1e-12)
        zb = (table[b] - table[b].mean()) / (table[b].std() + 1e-12)
        mix = rng.uniform(-1, 1)  # toward the other column (> 0) or toward noise (< 0)
        noise = rng.normal(size=n)
        table[a] = (1 - abs(mix)) * za + abs(mix) * (zb if mix > 0 else noise)
    elif op == "inform" and numeric:  # move a column's class means apart (> 0) or shuffle part of it (< 0)
        c = rng.choice(numeric)
        x = table[c].to_numpy(float, copy=True)  # written to below; pandas 3 hands out read-only views
        sd = np.nanstd(x) or 1.0
        if rng.random() < 0.6:
            shift = labels.map({k: rng.normal() for k in labels.unique()}).to_numpy(float)
            table[c] = x + shift * sd * rng.uniform(0.1, 2)
        else:
            part = rng.random(n) < rng.uniform(0.1, 0.6)
            x[part] = rng.permutation(x[part])
            table[c] = x
    return _rebuild(table)[0]


def _crossover(rng: np.random.Generator, a: pd.DataFrame, b: pd.DataFrame, spec: FamilySpec) -> pd.DataFrame:
    """Columns of ``a`` and of ``b`` side by side, on ``a``'s rows and labels: each row of ``a`` takes
    the values of a random row of ``b`` from the class at the same rank (so class structure carries)."""
    fa = [c for c in a.columns if c != TARGET]
    fb = [c for c in b.columns if c != TARGET]
    keep_a = list(rng.choice(fa, size=max(1, len(fa) // 2), replace=False))
    take_b = list(rng.choice(fb, size=max(1, len(fb) // 2), replace=False))
    take_b = take_b[:max(0, spec.features[1] - len(keep_a))]
    classes_a = a[TARGET].astype(str).value_counts().index
    classes_b = list(b[TARGET].astype(str).value_counts().index)
    rank = {c: classes_b[i % len(classes_b)] for i, c in enumerate(classes_a)}
    rows_by_class = {c: np.flatnonzero(b[TARGET].astype(str).to_numpy() == c) for c in classes_b}
    picks = np.array([rng.choice(rows_by_class[rank[c]]) for c in a[TARGET].astype(str)])
    child = a[keep_a].reset_index(drop=True)
    for j, c in enumerate(take_b):
        child[f"b{j}"] = b[c].to_numpy()[picks]
    child[TARGET] = a[TARGET].to_numpy()
    return _rebuild(child)[0]


class TargetDistance:
    """RMS of (meta-feature - target) / scale over the target's meta-features; a feature that cannot
    be computed counts as 3 scales off. Scales come from the first population's spread, floored at
    5% of the target value, so one feature with a huge range does not drown the rest."""

    def __init__(self, target: dict[str, float], population: list[dict[str, float]]):
        self.names = list(target)
        self.target = np.array([target[n] for n in self.names], float)
        values = np.array([[p.get(n, math.nan) for n in self.names] for p in population], float)
        spread = np.nanstd(values, axis=0) if len(values) else np.ones(len(self.names))
        self.scale = np.maximum(np.nan_to_num(spread, nan=1.0), 0.05 * np.abs(self.target) + 1e-3)

    def __call__(self, features: dict[str, float]) -> float:
        m = np.array([features.get(n, math.nan) for n in self.names], float)
        z = np.where(np.isfinite(m), (m - self.target) / self.scale, 3.0)
        return float(np.sqrt(np.mean(z ** 2)))


def search_table(rng: np.random.Generator, spec: FamilySpec, target: dict[str, float]
                 ) -> tuple[pd.DataFrame, TableMetadata, dict[str, Any]]:
    """Evolve a population of SCM-prior datasets toward ``target`` (meta-feature name -> value)."""
    s = spec.search
    names = list(target)
    seed = int(rng.integers(2**31 - 1))

    def measure(table: pd.DataFrame) -> dict[str, float]:
        table, metadata = _rebuild(table)
        return meta_features(table, TARGET, metadata, names=names, seed=seed)

    # Start near the target's size when the target gives it.
    rows = tuple(int(np.clip(target["nr_inst"], *spec.rows)) for _ in range(2)) if "nr_inst" in target else None
    attrs = tuple(int(np.clip(target["nr_attr"], *spec.features)) for _ in range(2)) if "nr_attr" in target else None
    classes = tuple(int(np.clip(target["nr_class"], *spec.classes)) for _ in range(2)) if "nr_class" in target else None
    start = FamilySpec(**{**asdict(spec), "search": s, "rows": rows or spec.rows, "features": attrs or spec.features,
                          "classes": classes or spec.classes})
    population = [scm_table(rng, start)[0] for _ in range(s.population)]
    features = [measure(t) for t in population]
    distance = TargetDistance(target, features)
    scores = [distance(f) for f in features]
    history = [min(scores)]
    for _ in range(s.generations):
        if min(scores) <= s.tolerance:
            break
        order = np.argsort(scores)
        children = [population[i] for i in order[:2]]  # elitism: the two best survive unchanged
        child_scores = [scores[i] for i in order[:2]]
        while len(children) < s.population:
            def pick() -> pd.DataFrame:  # tournament of three
                entrants = rng.choice(len(population), size=3, replace=False)
                return population[min(entrants, key=lambda i: scores[i])]
            child = _crossover(rng, pick(), pick(), spec) if rng.random() < 0.5 else pick()
            for _ in range(int(rng.integers(1, 4))):
                child = _mutate(rng, child, spec)
            children.append(child)
            child_scores.append(distance(measure(child)))
        population, scores = children, child_scores
        history.append(min(scores))
    best = int(np.argmin(scores))
    table, metadata = _rebuild(population[best])
    info = {"method": "search", "target": target, "distance": scores[best], "distance_history": history,
            "generations": len(history) - 1, "evaluations": s.population * len(history)}
    return table, metadata, info


# --- the family --------------------------------------------------------------------------------


def resolve_targets(spec: FamilySpec) -> list[dict[str, float]]:
    """The search targets: explicit ones, then the meta-features of each target table."""
    from gensdk_plugins.tabular.metafeatures import reference_view

    targets = [dict(t) for t in spec.search.targets]
    for source in spec.search.target_tables:
        view = reference_view(source)
        if view is None:
            raise UserError(f"{source}: no categorical target with 2-10 classes to take meta-features from")
        found = meta_features(view.table, view.metadata.target, view.metadata, names=spec.search.target_features)
        targets.append({k: v for k, v in found.items() if math.isfinite(v)})
    return targets


def make_dataset(spec: FamilySpec, index: int, targets: list[dict[str, float]] | None = None
                 ) -> tuple[pd.DataFrame, TableMetadata, dict[str, Any]]:
    """Dataset ``index`` of the family: depends only on the spec's seed and the index."""
    rng = np.random.default_rng([spec.seed, index])
    if spec.method == "scm":
        return scm_table(rng, spec)
    if spec.method == "random":
        return random_table(rng, spec)
    targets = targets if targets is not None else resolve_targets(spec)
    return search_table(rng, spec, targets[index % len(targets)])


def _build(args: tuple[FamilySpec, int, list[dict[str, float]] | None, str]) -> dict[str, Any]:
    """Make dataset ``index`` and write its folder; a folder already complete (a task run again after its node
    died) is left as it is."""
    import json

    spec, index, targets, out = args
    done = Path(out) / dataset_name(index) / "meta_features.json"
    if done.is_file():
        return json.loads(done.read_text())
    started = time.perf_counter()
    table, metadata, info = make_dataset(spec, index, targets)
    features = meta_features(table, TARGET, metadata, groups=spec.groups, summary=spec.summary, seed=spec.seed)
    name = dataset_name(index)
    record = {"name": name, "index": index, "rows": len(table), "features": len(table.columns) - 1,
              "classes": int(table[TARGET].nunique()), "generator": info, "meta_features": features,
              "seconds": round(time.perf_counter() - started, 3)}
    # One rename: a dataset folder is whole or absent (an incomplete one, files removed by hand, is remade).
    write_folder(Path(out) / name, {"table.csv": lambda path: table.to_csv(path, index=False),
                                    "metadata.json": metadata.save,
                                    "meta_features.json": lambda path: write_json(path, _jsonable(record))})
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dataset_name(index: int) -> str:
    return f"ds-{index:05d}"


def generate_family(spec: FamilySpec, n: int, out: str | os.PathLike, workers: int = 1, resume: bool = False,
                    overwrite: bool = False, progress: bool = True, backend: Backend | None = None) -> pd.DataFrame:
    """Write ``n`` datasets to ``out`` and return their meta-features, one row per dataset. They are built by
    ``backend`` (default: ``workers`` local processes), one task per dataset.

    A non-empty ``out`` is refused unless ``resume`` (the same spec: only missing datasets are made)
    or ``overwrite`` (only an earlier family folder is replaced, never another folder)."""
    from tqdm.auto import tqdm

    if n < 1:
        raise UserError(f"--n must be positive, got {n}")
    backend = backend or Backend(workers)
    out = Path(out).absolute()  # the tasks may run in other processes, with another working folder
    settings = {"spec": spec.to_dict(), "n": n}
    _prepare_folder(out, settings, resume, overwrite)
    write_json(out / FAMILY_FILE, {**settings, "complete": False})
    targets = resolve_targets(spec) if spec.method == "search" else None
    todo = [i for i in range(n) if not (out / dataset_name(i) / "meta_features.json").is_file()]
    started = time.perf_counter()
    jobs = [(spec, i, targets, str(out)) for i in todo]
    bar = tqdm(total=n, initial=n - len(todo), desc=f"family ({spec.method})", unit="dataset", disable=not progress)
    for _ in backend.map(_build, jobs, ordered=False):
        bar.update()
    bar.close()
    index = read_family(out, n)
    atomic_write(out / INDEX_FILE, lambda tmp: index.to_csv(tmp))
    write_json(out / FAMILY_FILE, {**settings, "complete": True, "made_this_run": len(todo),
                                   "seconds_this_run": round(time.perf_counter() - started, 1)})
    return index


def read_family(out: str | os.PathLike, n: int | None = None) -> pd.DataFrame:
    """The meta-features of a family folder's datasets, one row per dataset (name as index)."""
    import json

    out = Path(out)
    folders = [out / dataset_name(i) for i in range(n)] if n is not None else sorted(out.glob("ds-*"))
    rows = {}
    for folder in folders:
        record = json.loads((folder / "meta_features.json").read_text())
        rows[record["name"]] = {k: (math.nan if v is None else v) for k, v in record["meta_features"].items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def _prepare_folder(out: Path, settings: dict[str, Any], resume: bool, overwrite: bool) -> None:
    import json

    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    marker = out / FAMILY_FILE
    if not marker.is_file():
        raise UserError(f"{out}: not empty and not a gensdk family folder; choose another --out")
    if overwrite:
        shutil.rmtree(out)
        out.mkdir(parents=True)
        return
    if not resume:
        raise UserError(f"{out}: already holds a family; pass --resume to finish it or --overwrite to replace it")
    earlier = json.loads(marker.read_text())
    if earlier.get("spec") != json.loads(json.dumps(settings["spec"])) or earlier.get("n") != settings["n"]:
        raise UserError(f"{out}: was made with another spec or --n; --resume needs the same ones")
