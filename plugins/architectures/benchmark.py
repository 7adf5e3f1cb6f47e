"""NAS-Bench-Graph as an evaluator, and the two baseline searches over its space.

The PyPI package nas-bench-graph ships, per data set, the trained results of all 26,206 distinct
architectures (``light/<dataset>.bench``: a pickled dict from the architecture's hash to its
validation and test accuracy, latency and parameters). Its ``Arch.valid_hash`` maps isomorphic
``(link, ops)`` pairs to one key, so we use the package for that. The tables are pickles; they are
read here with an unpickler that admits only plain containers and NumPy scalars, so a tampered file
cannot run code.

Searches spend a budget of evaluated architectures (a repeated one counts again, as a real
evaluation would) and record the best test accuracy found so far after each evaluation, choosing by
validation accuracy, as a search without the test set must:

  random     uniform over the space (the benchmark's own sampler: a link pattern, then four ops).
  evolution  regularized evolution (Real et al. 2019): a population of ``population``; each cycle
             takes the best of ``sample`` random members, mutates one link or op, adds the child
             and removes the oldest.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from gensdk.errors import UserError

from .spaces import NBG_LINKS, NBG_OPS

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
# node features and classes of each data set (Planetoid, Amazon, Coauthor, OGB), for descriptions
GRAPH_SHAPES = {"cora": (1433, 7), "citeseer": (3703, 6), "pubmed": (500, 3), "cs": (6805, 15),
                "physics": (8415, 5), "photo": (745, 8), "computers": (767, 10), "arxiv": (128, 40),
                "proteins": (8, 112)}
Arch = tuple[tuple[int, ...], tuple[str, ...]]


def arch_key(arch: Arch) -> int:
    """The benchmark's key of an architecture: isomorphic ``(link, ops)`` pairs share it."""
    from nas_bench_graph import Arch as NBGArch

    return NBGArch(list(arch[0]), list(arch[1])).valid_hash()


def distinct_archs() -> list[Arch]:
    """One ``(link, ops)`` of each of the space's distinct architectures (26,206), in a fixed order."""
    distinct: dict[int, Arch] = {}
    for link in NBG_LINKS:
        for ops in itertools.product(NBG_OPS, repeat=4):
            if set(ops) != {"skip"}:
                distinct.setdefault(arch_key((link, ops)), (link, ops))
    return list(distinct.values())


class _TableUnpickler(pickle.Unpickler):
    ALLOWED = {("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}: a NAS-Bench-Graph table holds plain values only")


@dataclass
class Table:
    """One data set's results: ``lookup(link, ops)`` -> {valid_perf, perf, latency, para}."""

    dataset: str
    rows: dict[int, dict[str, float]]

    def lookup(self, link: Sequence[int], ops: Sequence[str]) -> dict[str, float]:
        key = arch_key((link, ops))
        if key not in self.rows:
            raise KeyError(f"link={list(link)} ops={list(ops)} is not in the {self.dataset} table")
        return self.rows[key]

    def test_accuracies(self) -> list[float]:
        return sorted((float(r["perf"]) for r in self.rows.values()), reverse=True)

    def top_fraction_threshold(self, fraction: float) -> float:
        """The test accuracy an architecture needs to be in the top ``fraction`` of the table."""
        accuracies = self.test_accuracies()
        return accuracies[max(0, int(len(accuracies) * fraction) - 1)]


def load_table(dataset: str) -> Table:
    if dataset not in DATASETS:
        raise UserError(f"unknown NAS-Bench-Graph data set {dataset!r} (known: {', '.join(DATASETS)})")
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the NAS-Bench-Graph tables need the nas-bench-graph package: pip install nas-bench-graph")
    path = Path(next(iter(spec.submodule_search_locations))) / "light" / f"{dataset}.bench"
    try:
        rows = _TableUnpickler(io.BytesIO(path.read_bytes())).load()
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise UserError(f"{path}: not a readable NAS-Bench-Graph table ({error})") from None
    return Table(dataset, {int(k): {n: float(v) for n, v in row.items()} for k, row in rows.items()})


# --- searches --------------------------------------------------------------------------------------
@dataclass
class Trace:
    """What a search saw: each evaluated architecture and the best (by validation) so far."""

    archs: list[Arch] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    best_test: list[float] = field(default_factory=list)  # test accuracy of the best-by-validation so far

    def add(self, arch: Arch, row: dict[str, float]) -> None:
        self.archs.append(arch)
        self.valid.append(row["valid_perf"])
        self.test.append(row["perf"])
        best = max(range(len(self.valid)), key=self.valid.__getitem__)
        self.best_test.append(self.test[best])

    def evaluations_to_reach(self, accuracy: float) -> int | None:
        """Evaluations until the best-by-validation architecture reaches ``accuracy`` on test."""
        return next((i + 1 for i, value in enumerate(self.best_test) if value >= accuracy), None)


def random_arch(rng: random.Random, ops: Sequence[str] = NBG_OPS) -> Arch:
    while True:
        link, chosen = rng.choice(NBG_LINKS), tuple(rng.choice(ops) for _ in range(4))
        if set(chosen) != {"skip"}:  # all-skip is no network and not in the table
            return link, chosen


def mutate(arch: Arch, rng: random.Random, ops: Sequence[str] = NBG_OPS) -> Arch:
    """One change: another link pattern, or another op at one of the four nodes."""
    link, chosen = arch
    while True:
        if rng.random() < 0.5:
            child = (rng.choice([lk for lk in NBG_LINKS if lk != link]), chosen)
        else:
            i = rng.randrange(4)
            child = (link, chosen[:i] + (rng.choice([o for o in ops if o != chosen[i]]),) + chosen[i + 1:])
        if set(child[1]) != {"skip"}:
            return child


Evaluate = Callable[[Arch], dict[str, float]]


def random_search(evaluate: Evaluate, budget: int, seed: int = 0) -> Trace:
    rng, trace = random.Random(seed), Trace()
    for _ in range(budget):
        arch = random_arch(rng)
        trace.add(arch, evaluate(arch))
    return trace


def regularized_evolution(evaluate: Evaluate, budget: int, seed: int = 0, population: int = 20,
                          sample: int = 5) -> Trace:
    if population < 2 or not 1 <= sample <= population:
        raise UserError(f"evolution needs population >= 2 and 1 <= sample <= population, got {population}, {sample}")
    rng, trace = random.Random(seed), Trace()
    members: list[tuple[Arch, float]] = []
    for _ in range(budget):
        if len(members) < population:
            arch = random_arch(rng)
        else:
            parent = max(rng.sample(members, sample), key=lambda m: m[1])
            arch = mutate(parent[0], rng)
        row = evaluate(arch)
        trace.add(arch, row)
        members.append((arch, row["valid_perf"]))
        if len(members) > population:
            members.pop(0)  # the oldest dies, however good (the "regularized" part)
    return trace


def table_evaluator(table: Table) -> Evaluate:
    def evaluate(arch: Arch) -> dict[str, float]:
        return table.lookup(*arch)
    return evaluate
