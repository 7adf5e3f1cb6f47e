"""Objectives for molecule search: properties of a molecule, desirability transforms that put them on
one scale, and their combination into one score (the REINVENT / GuacaMol scoring-function shape).

Spec strings (``Objective.parse``, the CLI's ``--objective``); names are case-insensitive:

  qed                  QED, ``rdkit.Chem.QED.qed``, in [0, 1].
  plogp                penalized logP, unnormalized (GCPN, You et al. 2018, and most later papers):
                       Crippen logP - SA score - max(0, largest ring size - 6).
  plogp_norm           penalized logP, normalized as in JT-VAE (Jin et al. 2018, after Kusner et al.
                       2017): each of logP, -SA and -(ring penalty) standardized with the ZINC250k
                       means/stds in ``PLOGP_NORMALIZATION``, then summed.
                       Both variants take ring sizes from RDKit's SSSR where JT-VAE used networkx's
                       cycle basis; their largest rings agreed on the fused, bridged and spiro
                       systems checked.
  sa                   synthetic accessibility, RDKit Contrib ``sascorer.calculateScore``: 1 (easy) to
                       10 (hard), lower is better. Its default desirability is (10 - sa) / 9.
  logp, mw, tpsa       Crippen logP, molecular weight, topological polar surface area.
  similarity:SMILES    Tanimoto similarity to SMILES on Morgan radius-2, 2048-bit fingerprints; SMILES
                       may also be a name from ``NAMED_MOLECULES`` (``similarity:celecoxib``).
  smarts:PATTERN       1 if the molecule contains the SMARTS PATTERN, else 0.
  !smarts:PATTERN      1 if it does not contain PATTERN, else 0 (a "must not contain" constraint).
  python:FILE.py:FUNC  a user function, also ``python:package.module:FUNC``. It receives an RDKit
                       ``Mol`` (a sanitized copy; never None) and returns a real number. The module is
                       imported at parse time and again inside each worker process, so the function
                       need not be picklable. Workers are forked on Linux: a function that runs torch
                       or CUDA should be scored with ``workers=1``.

A weight follows the spec after the last ``@``: ``qed@2``, ``similarity:C[C@H](N)O@0.5``. Text after
the last ``@`` counts as a weight only when it is a plain number, so chirality marks are safe; a SMARTS
that itself ends in ``@<digits>`` (a ring-bond closure) needs an explicit weight (``...@1@1``).
A YAML/dict spec (``Objective.from_yaml`` / ``from_dict``) adds transforms::

    combine: mpo                       # or sum (the default)
    objectives:
      - qed
      - sa@2                           # a spec string, weight inline
      - name: mw                       # or a mapping: name, optional weight and transform
        weight: 1
        transform: {type: gaussian, mu: 350, sigma: 50}

Desirability transforms (``TRANSFORMS``) map a raw value x to d, mostly into [0, 1]:
  identity             d = x (the default, except for sa).
  clip (low, high)     linear from d=0 at x=low to d=1 at x=high, clipped to [0, 1]; high < low makes
                       it decreasing (sa's default is clip low=10, high=1, i.e. (10 - sa) / 9).
  sigmoid (low, high, k=0.5)  REINVENT's sigmoid: 1 / (1 + 10^(-10 k (x - (low+high)/2) / (high-low))),
                       about 0 at low and 1 at high; high < low makes it decreasing.
  gaussian (mu, sigma) exp(-(x - mu)^2 / (2 sigma^2)), GuacaMol's GaussianModifier.
  step (threshold, above=true)  1 if x >= threshold (x <= threshold when above is false), else 0.

Combination of the desirabilities d_i with weights w_i:
  sum                  score = sum_i w_i d_i (not normalized; a negative weight minimizes).
  mpo                  score = (prod_i d_i^w_i)^(1 / sum_i w_i), the weighted geometric mean, as in
                       GuacaMol's MPO tasks; weights must be positive and every d_i must lie in
                       [0, 1]: qed, similarity and smarts do, sa does through its default transform,
                       any other objective needs a transform other than identity.

Invalid molecules (RDKit cannot parse or sanitize, or no atoms) score 0, as in REINVENT, with
``valid`` False and NaN raw values and desirabilities. An objective that raises on a valid molecule,
or returns a non-number or a non-finite number, gives that molecule a NaN raw value and desirability
0 for that objective; the errors are counted per objective and reported by ``ScoreTable.error_messages``.

``STANDARD_TASKS`` (the search benchmark), each a dict for ``Objective.from_dict``:
  qed                  QED alone (sum of one component: score = QED).
  plogp                unnormalized penalized logP alone (score = plogp).
  mpo                  weighted geometric mean, all weights 1, of QED, (10 - SA) / 9, and the Tanimoto
                       similarity (Morgan r=2, 2048 bits) to celecoxib,
                       Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1:
                       score = (qed * (10 - sa)/9 * similarity)^(1/3).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import multiprocessing
import numbers
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from rdkit import Chem, DataStructs, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.rdBase import BlockLogs

from gensdk.errors import UserError
from gensdk.extras import require

if TYPE_CHECKING:
    import pandas as pd

# raw values (molecules x components), validity, canonical SMILES, errors per component name
_Evaluation = tuple[np.ndarray, np.ndarray, list["str | None"], dict[str, "ComponentErrors"]]

COMBINES = ("sum", "mpo")
# JT-VAE's ZINC250k statistics of logP, -SA and -(ring penalty): (mean, std) each.
PLOGP_NORMALIZATION = {
    "logp": (2.4570953396190123, 1.434324401111988),
    "neg_sa": (-3.0525811293166134, 0.8335207024513095),
    "neg_ring": (-0.0485696876403053, 0.2860212110245455),
}
# Drugs that GuacaMol's similarity and MPO tasks use, by name for similarity:NAME.
NAMED_MOLECULES = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "celecoxib": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",
    "aripiprazole": "O=C1CCc2ccc(OCCCCN3CCN(c4cccc(Cl)c4Cl)CC3)cc2N1",
}
STANDARD_TASKS: dict[str, dict[str, Any]] = {
    "qed": {"combine": "sum", "objectives": ["qed"]},
    "plogp": {"combine": "sum", "objectives": ["plogp"]},
    "mpo": {"combine": "mpo", "objectives": ["qed", "sa", "similarity:celecoxib"]},
}
# Parameters of each transform; None marks a required one.
TRANSFORMS: dict[str, dict[str, float | bool | None]] = {
    "identity": {},
    "clip": {"low": None, "high": None},
    "sigmoid": {"low": None, "high": None, "k": 0.5},
    "gaussian": {"mu": None, "sigma": None},
    "step": {"threshold": None, "above": True},
}
PARALLEL_MIN = 256  # workers=None scores fewer molecules than this in-process (QED alone takes ~2 ms each)
CHUNKS_PER_WORKER = 4
# fork where there is one: spawn re-runs the caller's script in every worker, which breaks any script
# without an `if __name__ == "__main__"` guard. The forked workers run only RDKit and Python (never
# torch or CUDA, which do not survive a fork), and rebuild the components from their specs either way.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
_WEIGHT = re.compile(r"^(?P<spec>.+)@(?P<weight>[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$", re.DOTALL)
_SPEC_HELP = ("qed, plogp, plogp_norm, sa, logp, mw, tpsa, similarity:SMILES, smarts:PATTERN, "
              "!smarts:PATTERN, python:FILE.py:FUNCTION, python:package.module:FUNCTION")


@dataclass(frozen=True)
class Transform:
    """A desirability function of a raw value; ``params`` holds every parameter of ``type``."""

    type: str = "identity"
    params: Mapping[str, float | bool] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Transform:
        if not isinstance(data, Mapping) or "type" not in data:
            raise UserError(f"{where}: transform must be a mapping with a 'type' ({', '.join(TRANSFORMS)})")
        kind = str(data["type"]).lower()
        if kind not in TRANSFORMS:
            raise UserError(f"{where}: unknown transform type {data['type']!r} (known: {', '.join(TRANSFORMS)})")
        defaults = TRANSFORMS[kind]
        unknown = sorted(set(data) - set(defaults) - {"type"})
        if unknown:
            raise UserError(f"{where}: {kind} transform has no parameter(s) {', '.join(unknown)} "
                            f"(it takes: {', '.join(defaults) or 'none'})")
        params: dict[str, float | bool] = {}
        for key, default in defaults.items():
            value = data.get(key, default)
            if value is None:
                raise UserError(f"{where}: {kind} transform needs {key!r}")
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise UserError(f"{where}: {kind} transform {key!r} must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise UserError(f"{where}: {kind} transform {key!r} must be a finite number, got {value!r}")
            params[key] = value if isinstance(value, bool) else float(value)
        if kind in ("clip", "sigmoid") and params["low"] == params["high"]:
            raise UserError(f"{where}: {kind} transform needs low != high")
        if kind == "gaussian" and params["sigma"] <= 0:
            raise UserError(f"{where}: gaussian transform needs sigma > 0")
        if kind == "sigmoid" and params["k"] <= 0:
            raise UserError(f"{where}: sigmoid transform needs k > 0 (swap low and high to make it fall)")
        return cls(kind, params)

    @property
    def unit_range(self) -> bool:
        """Whether every output lies in [0, 1] whatever the input."""
        return self.type != "identity"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        p = self.params
        if self.type == "identity":
            return x.copy()
        if self.type == "clip":
            return np.clip((x - p["low"]) / (p["high"] - p["low"]), 0.0, 1.0)
        if self.type == "sigmoid":
            middle = (p["low"] + p["high"]) / 2
            exponent = np.clip(-10 * p["k"] * (x - middle) / (p["high"] - p["low"]), -300, 300)
            return 1.0 / (1.0 + np.power(10.0, exponent))
        if self.type == "gaussian":
            return np.exp(-0.5 * ((x - p["mu"]) / p["sigma"]) ** 2)
        hit = x >= p["threshold"] if p["above"] else x <= p["threshold"]
        return np.where(np.isnan(x), np.nan, hit.astype(float))


IDENTITY = Transform()


@dataclass
class Component:
    """One objective: ``name`` is what the user wrote (and the column name), ``source`` what rebuilds
    it in another process (a python file's absolute path)."""

    name: str
    source: str
    function: Callable[[Chem.Mol], float] = field(repr=False)
    weight: float = 1.0
    transform: Transform = IDENTITY
    unit_range: bool = False  # raw values already lie in [0, 1]
    copies_mol: bool = False  # pass a copy: user code may modify the molecule in place

    def desirability(self, raw: np.ndarray) -> np.ndarray:
        return self.transform(raw)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "weight": self.weight,
                "transform": self.transform.to_dict()}


@dataclass
class ComponentErrors:
    """Molecules on which one objective failed: how many, and the first one with its message."""

    count: int
    first_smiles: str
    first_message: str


@dataclass
class ScoreTable:
    """Scores of a batch, row i for input ``smiles[i]``; ``raw`` and ``desirability`` per component."""

    smiles: list[str]
    valid: np.ndarray
    canonical: list[str | None]
    raw: dict[str, np.ndarray]
    desirability: dict[str, np.ndarray]
    score: np.ndarray
    errors: dict[str, ComponentErrors]

    def __len__(self) -> int:
        return len(self.smiles)

    def error_messages(self) -> list[str]:
        """One line per objective that failed on some molecules."""
        n_valid = int(self.valid.sum())
        return [f"objective {name!r} {e.first_message} on {e.count} of {n_valid} molecules "
                f"(first: {e.first_smiles})" for name, e in self.errors.items()]

    def columns(self) -> dict[str, list[Any] | np.ndarray]:
        """Flat columns: smiles, canonical, valid, score, then per component its raw value (named by
        the component) and its desirability (``"<name> desirability"``)."""
        columns: dict[str, list[Any] | np.ndarray] = {
            "smiles": self.smiles, "canonical": self.canonical, "valid": self.valid, "score": self.score}
        for name in self.raw:
            columns[name] = self.raw[name]
            columns[f"{name} desirability"] = self.desirability[name]
        return columns

    def to_frame(self) -> pd.DataFrame:
        return require("pandas", "molecules").DataFrame(self.columns())


class Objective:
    """Components combined by ``combine`` ("sum" or "mpo"); see the module docstring."""

    def __init__(self, components: Sequence[Component], combine: str = "sum") -> None:
        if not components:
            raise UserError("no objective given")
        combine = str(combine).lower()
        if combine not in COMBINES:
            raise UserError(f"unknown combine {combine!r} (known: {', '.join(COMBINES)})")
        names = [c.name for c in components]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserError(f"objective {twice[0]!r} given twice")
        for c in components:
            if not math.isfinite(c.weight):
                raise UserError(f"objective {c.name!r}: weight must be a finite number, got {c.weight}")
            if combine == "mpo" and c.weight <= 0:
                raise UserError(f"objective {c.name!r}: mpo needs positive weights, got {c.weight:g}")
            if combine == "mpo" and not (c.unit_range or c.transform.unit_range):
                raise UserError(f"objective {c.name!r} is not in [0, 1]: mpo needs a transform for it "
                                f"({', '.join(t for t in TRANSFORMS if t != 'identity')}) in a YAML spec")
        self.components = list(components)
        self.combine = combine
        self._pool: ProcessPoolExecutor | None = None
        self._pool_workers = 0

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, specs: str | Sequence[str], weights: Sequence[float] | None = None,
              combine: str = "sum") -> Objective:
        """From CLI strings (``qed``, ``sa@2``, ...); ``weights``, if given, one per spec and none inline."""
        specs = [specs] if isinstance(specs, str) else list(specs)
        if weights is not None:
            weights = list(weights)
            if len(weights) != len(specs):
                raise UserError(f"{len(weights)} weight(s) for {len(specs)} objective(s)")
        components = []
        for i, text in enumerate(specs):
            spec, inline = _split_weight(text)
            if weights is not None and inline is not None:
                raise UserError(f"objective {text!r}: give weights inline (spec@weight) or as a list, not both")
            weight = float(weights[i]) if weights is not None else (1.0 if inline is None else inline)
            components.append(build_component(spec, weight))
        return cls(components, combine)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "objective spec") -> Objective:
        """From ``{"combine": ..., "objectives": [spec string or {name, weight, transform}, ...]}``."""
        if not isinstance(data, Mapping):
            raise UserError(f"{where}: must be a mapping with 'objectives' (and optionally 'combine')")
        _check_keys(data, {"objectives", "combine"}, where)
        entries = data.get("objectives")
        if not isinstance(entries, list) or not entries:
            raise UserError(f"{where}: 'objectives' must be a non-empty list")
        components = []
        for entry in entries:
            if isinstance(entry, str):
                spec, weight = _split_weight(entry)
                components.append(build_component(spec, 1.0 if weight is None else weight))
                continue
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise UserError(f"{where}: each objective must be a spec string or a mapping with a 'name'")
            _check_keys(entry, {"name", "weight", "transform"}, f"{where}: objective {entry['name']!r}")
            weight = entry.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
                raise UserError(f"{where}: objective {entry['name']!r}: weight must be a number, got {weight!r}")
            transform = entry.get("transform")
            if transform is not None:
                transform = Transform.from_dict(transform, f"{where}: objective {entry['name']!r}")
            components.append(build_component(entry["name"], float(weight), transform))
        return cls(components, data.get("combine", "sum"))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Objective:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as error:
            raise UserError(f"{path}: cannot read objective spec ({error.strerror or error})") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}: not valid YAML{at}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def standard(cls, task: str) -> Objective:
        """One of ``STANDARD_TASKS``."""
        if task not in STANDARD_TASKS:
            raise UserError(f"unknown standard task {task!r} (known: {', '.join(STANDARD_TASKS)})")
        return cls.from_dict(STANDARD_TASKS[task], f"standard task {task!r}")

    def to_dict(self) -> dict[str, Any]:
        """The dict ``from_dict`` reads back (user spellings: a relative python path stays relative)."""
        return {"combine": self.combine,
                "objectives": [{"name": c.name, "weight": c.weight, "transform": c.transform.to_dict()}
                               for c in self.components]}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def __repr__(self) -> str:
        parts = ", ".join(c.name if c.weight == 1 else f"{c.name}@{c.weight:g}" for c in self.components)
        return f"Objective({self.combine}: {parts})"

    # --- scoring --------------------------------------------------------------------------------

    def score(self, smiles: Sequence[str], workers: int | None = None) -> ScoreTable:
        """Score every SMILES. ``workers``: 1 scores in this process, N > 1 in N worker processes
        (kept for later calls until ``close``), None: in-process below ``PARALLEL_MIN`` molecules,
        else one worker per CPU."""
        smiles = list(smiles)
        n_workers = _pick_workers(len(smiles), workers)
        if n_workers <= 1 or not smiles:
            raw, valid, canonical, errors = _evaluate(self.components, smiles)
        else:
            raw, valid, canonical, errors = self._evaluate_in_pool(smiles, n_workers)
        names = self.names
        desirability = {}
        for j, component in enumerate(self.components):
            d = component.desirability(raw[:, j])
            d[valid & np.isnan(raw[:, j])] = 0.0  # the objective failed on a valid molecule
            desirability[component.name] = d
        score = self.combine_desirabilities(np.column_stack([desirability[n] for n in names]))
        score[~valid] = 0.0
        return ScoreTable(smiles=smiles, valid=valid, canonical=canonical,
                          raw={n: raw[:, j] for j, n in enumerate(names)}, desirability=desirability,
                          score=score, errors=errors)

    def combine_desirabilities(self, d: np.ndarray) -> np.ndarray:
        """Rows of desirabilities (one column per component) to one score per row."""
        w = np.array([c.weight for c in self.components])
        if self.combine == "sum":
            return d @ w
        return np.prod(np.power(np.clip(d, 0.0, 1.0), w), axis=1) ** (1.0 / w.sum())

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _evaluate_in_pool(self, smiles: list[str], n_workers: int) -> _Evaluation:
        if self._pool is None or self._pool_workers != n_workers:
            self.close()
            self._pool = ProcessPoolExecutor(
                n_workers, mp_context=multiprocessing.get_context(_START_METHOD), initializer=_init_worker,
                initargs=([c.config() for c in self.components],))
            self._pool_workers = n_workers
        size = max(1, math.ceil(len(smiles) / (n_workers * CHUNKS_PER_WORKER)))
        chunks = [smiles[i:i + size] for i in range(0, len(smiles), size)]
        parts = list(self._pool.map(_score_chunk, chunks))
        errors: dict[str, ComponentErrors] = {}
        for _, _, _, part_errors in parts:
            for name, e in part_errors.items():
                if name in errors:
                    errors[name].count += e.count
                else:
                    errors[name] = e
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                [s for p in parts for s in p[2]], {n: errors[n] for n in self.names if n in errors})


# --- components ---------------------------------------------------------------------------------


def build_component(spec: str, weight: float = 1.0, transform: Transform | None = None,
                    name: str | None = None) -> Component:
    """One component from its spec string (no weight suffix); UserError for a bad spec. ``name``
    replaces the display name (a worker rebuilds from the absolute source but keeps the user's name)."""
    component = _build(spec.strip(), weight, transform)
    if name is not None:
        component.name = name
    return component


def _build(spec: str, weight: float, transform: Transform | None) -> Component:
    kind, _, argument = spec.partition(":")
    kind = kind.lower()
    if not argument and kind in _BUILTINS:
        function, unit_range = _BUILTINS[kind]
        if kind in ("sa", "plogp", "plogp_norm"):
            _sascorer()  # a missing Contrib folder fails now, not on every molecule
        default = Transform("clip", {"low": 10.0, "high": 1.0}) if kind == "sa" else IDENTITY
        return Component(kind, kind, function, weight, transform or default, unit_range)
    if kind == "similarity" and argument:
        function = _similarity(argument, spec)
        return Component(spec, spec, function, weight, transform or IDENTITY, unit_range=True)
    if kind in ("smarts", "!smarts") and argument:
        function = _substructure(argument, spec, present=kind == "smarts")
        return Component(spec, spec, function, weight, transform or IDENTITY, unit_range=True)
    if kind == "python" and argument:
        function, source = _user_function(argument, spec)
        return Component(spec, source, function, weight, transform or IDENTITY, copies_mol=True)
    raise UserError(f"unknown objective {spec!r} (known: {_SPEC_HELP})")


@cache
def _sascorer() -> ModuleType:
    """RDKit's Contrib SA_Score module, imported by path (Contrib is not a package on sys.path)."""
    path = Path(RDConfig.RDContribDir) / "SA_Score" / "sascorer.py"
    if not path.is_file():
        raise UserError(f"objective sa needs RDKit's Contrib SA_Score, not found at {path}")
    spec = importlib.util.spec_from_file_location("gensdk_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sa_score(mol: Chem.Mol) -> float:
    return float(_sascorer().calculateScore(mol))


def ring_penalty(mol: Chem.Mol) -> int:
    """max(0, largest ring size - 6): the ring term of penalized logP."""
    largest = max((len(ring) for ring in mol.GetRingInfo().AtomRings()), default=0)
    return max(0, largest - 6)


def penalized_logp(mol: Chem.Mol) -> float:
    return Crippen.MolLogP(mol) - sa_score(mol) - ring_penalty(mol)


def penalized_logp_normalized(mol: Chem.Mol) -> float:
    terms = {"logp": Crippen.MolLogP(mol), "neg_sa": -sa_score(mol), "neg_ring": -ring_penalty(mol)}
    return sum((value - PLOGP_NORMALIZATION[k][0]) / PLOGP_NORMALIZATION[k][1] for k, value in terms.items())


# name -> (function, raw values lie in [0, 1])
_BUILTINS: dict[str, tuple[Callable[[Chem.Mol], float], bool]] = {
    "qed": (QED.qed, True),
    "plogp": (penalized_logp, False),
    "plogp_norm": (penalized_logp_normalized, False),
    "sa": (sa_score, False),
    "logp": (Crippen.MolLogP, False),
    "mw": (Descriptors.MolWt, False),
    "tpsa": (rdMolDescriptors.CalcTPSA, False),
}


def _similarity(target: str, spec: str) -> Callable[[Chem.Mol], float]:
    smiles = NAMED_MOLECULES.get(target.strip().lower(), target.strip())
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise UserError(f"objective {spec!r}: cannot parse target SMILES {target!r}")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    target_fp = generator.GetFingerprint(mol)

    def similarity(candidate: Chem.Mol) -> float:
        return DataStructs.TanimotoSimilarity(generator.GetFingerprint(candidate), target_fp)

    return similarity


def _substructure(pattern: str, spec: str, present: bool) -> Callable[[Chem.Mol], float]:
    with BlockLogs():
        query = Chem.MolFromSmarts(pattern)
    if query is None or query.GetNumAtoms() == 0:
        raise UserError(f"objective {spec!r}: cannot parse SMARTS {pattern!r}")

    def substructure(mol: Chem.Mol) -> float:
        return float(mol.HasSubstructMatch(query) == present)

    return substructure


def _user_function(argument: str, spec: str) -> tuple[Callable[[Chem.Mol], Any], str]:
    """The function of ``FILE.py:FUNC`` or ``package.module:FUNC``, and a source string naming the
    file by absolute path so that a worker in another directory finds it too."""
    target, _, name = argument.rpartition(":")
    if not target or not name:
        raise UserError(f"objective {spec!r}: expected python:FILE.py:FUNCTION or python:package.module:FUNCTION")
    if target.endswith(".py") or "/" in target or os.sep in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"objective {spec!r}: no file {path}")
        module = _import_file(path, spec)
        source = f"python:{path}:{name}"
    else:
        try:
            module = importlib.import_module(target)
        except Exception as error:
            raise UserError(f"objective {spec!r}: importing {target} {_describe(error)}") from None
        source = f"python:{target}:{name}"
    function = getattr(module, name, None)
    if function is None:
        raise UserError(f"objective {spec!r}: {target} has no function {name!r}")
    if not callable(function):
        raise UserError(f"objective {spec!r}: {target}.{name} is not callable")
    return function, source


def _import_file(path: Path, spec: str) -> ModuleType:
    # A name per path: two files both called score.py stay two modules.
    module_name = "gensdk_user_objective_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickling inside the module look it up here
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise UserError(f"objective {spec!r}: importing {path} {_describe(error)}") from None
    return module


# --- evaluation ---------------------------------------------------------------------------------


def to_mol(smiles: object) -> Chem.Mol | None:
    """A sanitized molecule, or None for anything RDKit rejects (and for empty input)."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles.strip())
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def _describe(error: BaseException) -> str:
    return f"raised {type(error).__name__}: {error}" if str(error) else f"raised {type(error).__name__}"


def _finite(value: Any) -> float:
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return float(value)
    raise _BadValue(f"returned {_short_repr(value)} (not a finite number)")


class _BadValue(Exception):
    """An objective's return value that is not a finite number."""


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _evaluate(components: Sequence[Component], smiles: Sequence[str]) -> _Evaluation:
    """Raw values (molecules x components, NaN where invalid or failed), validity, canonical SMILES,
    and the errors per component."""
    raw = np.full((len(smiles), len(components)), np.nan)
    valid = np.zeros(len(smiles), dtype=bool)
    canonical: list[str | None] = [None] * len(smiles)
    errors: dict[str, ComponentErrors] = {}
    with BlockLogs():  # RDKit warnings on rejected SMILES would flood the console
        for i, text in enumerate(smiles):
            mol = to_mol(text)
            if mol is None:
                continue
            valid[i] = True
            canonical[i] = Chem.MolToSmiles(mol)
            for j, component in enumerate(components):
                try:
                    raw[i, j] = _finite(component.function(Chem.Mol(mol) if component.copies_mol else mol))
                except Exception as error:
                    message = str(error) if isinstance(error, _BadValue) else _describe(error)
                    if component.name in errors:
                        errors[component.name].count += 1
                    else:
                        errors[component.name] = ComponentErrors(1, str(text), message)
    return raw, valid, canonical, {c.name: errors[c.name] for c in components if c.name in errors}


_worker_components: list[Component] = []


def _init_worker(configs: list[dict[str, Any]]) -> None:
    """Rebuild the components in a worker process: user modules are imported here, never pickled."""
    _worker_components[:] = [
        build_component(c["source"], c["weight"], Transform.from_dict(c["transform"], c["name"]), c["name"])
        for c in configs]


def _score_chunk(smiles: list[str]) -> _Evaluation:
    return _evaluate(_worker_components, smiles)


def _pick_workers(n: int, workers: int | None) -> int:
    if workers is not None:
        if workers < 1:
            raise UserError(f"workers must be at least 1, got {workers}")
        return workers
    if n < PARALLEL_MIN:
        return 1
    # every CPU, whatever n: the pool is kept between calls only while the worker count stays the same
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _split_weight(text: str) -> tuple[str, float | None]:
    """``spec@weight`` -> (spec, weight); (text, None) when the text after the last @ is no number."""
    if not isinstance(text, str):
        raise UserError(f"objective spec must be a string, got {text!r}")
    match = _WEIGHT.match(text.strip())
    if match is None:
        return text.strip(), None
    return match["spec"], float(match["weight"])


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(sorted(allowed))})")
