"""NAS-Bench-Graph's tables: looked up, as an evaluator.

The PyPI package nas-bench-graph ships, per data set, the trained results of all 26,206 distinct
architectures (``light/<dataset>.bench``: a pickled dict from the architecture's hash to its
validation and test accuracy, latency and parameters), keyed by ``spaces.arch_key`` (the package's
``Arch.valid_hash``, one key for isomorphic ``(link, ops)`` pairs). The tables are pickles; they are
read here with an unpickler that admits only plain containers and NumPy scalars, so a tampered file
cannot run code.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from gensdk.errors import UserError
from gensdk.extras import MissingExtra

from .spaces import NBG_LINKS, NBG_OPS, Arch, Genome, NasBenchGraphSpace, arch_key

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
# node features and classes of each data set (Planetoid, Amazon, Coauthor, OGB), for descriptions
GRAPH_SHAPES = {"cora": (1433, 7), "citeseer": (3703, 6), "pubmed": (500, 3), "cs": (6805, 15),
                "physics": (8415, 5), "photo": (745, 8), "computers": (767, 10), "arxiv": (128, 40),
                "proteins": (8, 112)}


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

    def test_accuracies(self, metric: str = "perf") -> list[float]:
        """Every architecture's test accuracy (``metric="valid_perf"``: validation accuracy), best first."""
        return sorted((float(r[metric]) for r in self.rows.values()), reverse=True)

    def top_fraction_threshold(self, fraction: float, metric: str = "perf") -> float:
        """The test (or validation) accuracy an architecture needs to be in the top ``fraction`` of the table."""
        accuracies = self.test_accuracies(metric)
        return accuracies[max(0, int(len(accuracies) * fraction) - 1)]

    def space(self) -> NasBenchGraphSpace:
        return NasBenchGraphSpace(*GRAPH_SHAPES[self.dataset])


def load_table(dataset: str) -> Table:
    if dataset not in DATASETS:
        raise UserError(f"unknown NAS-Bench-Graph data set {dataset!r} (known: {', '.join(DATASETS)})")
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.submodule_search_locations:  # the tables are read by path, not imported
        raise MissingExtra("nas_bench_graph", "architectures")
    path = Path(next(iter(spec.submodule_search_locations))) / "light" / f"{dataset}.bench"
    try:
        rows = _TableUnpickler(io.BytesIO(path.read_bytes())).load()
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise UserError(f"{path}: not a readable NAS-Bench-Graph table ({error})") from None
    return Table(dataset, {int(k): {n: float(v) for n, v in row.items()} for k, row in rows.items()})


def table_evaluator(table: Table) -> Callable[[Genome], dict[str, float]]:
    """The evaluator of a NAS-Bench-Graph genome: its row of the table."""
    def evaluate(genome: Genome) -> dict[str, float]:
        return table.lookup(*NasBenchGraphSpace.arch(genome))
    return evaluate
