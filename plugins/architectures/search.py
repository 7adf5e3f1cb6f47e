"""Searches over a space's genomes with a pluggable evaluator, and what they saw.

An evaluator maps a genome to a row with at least ``valid_perf`` (what a search may choose by) and
``perf`` (the test accuracy, reported only): a NAS-Bench-Graph table lookup
(``nasbench.table_evaluator``) or real training (``training.training_evaluator``). Searches spend a
budget of evaluations and record, after each, the test accuracy of the best architecture so far by
validation accuracy, as a search without the test set must choose. A candidate whose evaluation
fails (a network too large, out of memory, a missing table row) is recorded with accuracy 0 and its
error, and the search goes on.

  random     uniform over the space's valid genomes.
  evolution  regularized evolution (Real et al. 2019): a population of ``population``; each cycle
             takes the best of ``sample`` random members, mutates one choice, adds the child and
             removes the oldest.
  generative the grammar-constrained generator, fine-tuned toward the best (``generative.py``).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gensdk.core.io import atomic_write

from gensdk.errors import UserError

from .spaces import Genome, Space

Evaluate = Callable[[Genome], dict[str, float]]


class SearchAborted(UserError):
    """An error of the search itself (not of one candidate), which ends it."""


def failure_text(error: Exception) -> str:
    """One line saying why a candidate's evaluation failed."""
    return f"{type(error).__name__}: {error}".splitlines()[0]


@dataclass
class Trace:
    """Each evaluated genome, its accuracies, and the best (by validation) so far."""

    archs: list[Genome] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    best_test: list[float] = field(default_factory=list)  # test accuracy of the best-by-validation so far
    best_valid: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # evaluation index -> why it failed

    def add(self, genome: Genome, row: dict[str, float]) -> None:
        self.archs.append(genome)
        self.rows.append(row)
        self.valid.append(float(row["valid_perf"]))
        self.test.append(float(row["perf"]))
        best = self.best()
        self.best_test.append(self.test[best])
        self.best_valid.append(self.valid[best])

    def spend(self, evaluate: Evaluate, genome: Genome) -> dict[str, float]:
        """Evaluate ``genome`` and record it; a failure is recorded as accuracy 0, never raised."""
        try:
            row = evaluate(genome)
        except SearchAborted:
            raise
        except Exception as error:  # noqa: BLE001 - one bad candidate must not end a search
            self.errors[len(self.archs)] = failure_text(error)
            row = {"valid_perf": 0.0, "perf": 0.0}
        self.add(genome, row)
        return row

    def best(self) -> int:
        return max(range(len(self.valid)), key=self.valid.__getitem__)

    def evaluations_to_reach(self, accuracy: float, by: str = "test") -> int | None:
        """Evaluations until the best-by-validation architecture reaches ``accuracy``: its test accuracy
        (``by="test"``) or its validation accuracy (``by="valid"``)."""
        curve = self.best_test if by == "test" else self.best_valid
        return next((i + 1 for i, value in enumerate(curve) if value >= accuracy), None)


def random_search(space: Space, evaluate: Evaluate, budget: int, seed: int = 0) -> Trace:
    rng, trace = random.Random(seed), Trace()
    for _ in range(budget):
        trace.spend(evaluate, space.random(rng))
    return trace


def regularized_evolution(space: Space, evaluate: Evaluate, budget: int, seed: int = 0, population: int = 20,
                          sample: int = 5) -> Trace:
    if population < 2 or not 1 <= sample <= population:
        raise UserError(f"evolution needs population >= 2 and 1 <= sample <= population, got {population}, {sample}")
    rng, trace = random.Random(seed), Trace()
    members: list[tuple[Genome, float]] = []
    for _ in range(budget):
        if len(members) < population:
            genome = space.random(rng)
        else:
            parent = max(rng.sample(members, sample), key=lambda m: m[1])
            genome = space.mutate(parent[0], rng)
        row = trace.spend(evaluate, genome)
        members.append((genome, float(row["valid_perf"])))
        if len(members) > population:
            members.pop(0)  # the oldest dies, however good (the "regularized" part)
    return trace


class Journal:
    """Every evaluation of a search written to a CSV (one row each, the file rewritten atomically after
    each), so a killed search resumes: the same search (same space, method and seed) replays its
    candidates, and those already in the journal are read back instead of evaluated again."""

    def __init__(self, space: Space, path, resume: bool = False):
        self.space, self.path = space, Path(path)
        self.header = ["evaluation", *(c.name for c in space.choices), "valid_accuracy", "test_accuracy", "error"]
        self.rows: list[list[str]] = []
        self.replay: list[list[str]] = []
        if resume and self.path.exists():
            self.replay = self._read()

    def _read(self) -> list[list[str]]:
        with open(self.path, newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows or rows[0] != self.header:
            raise UserError(f"{self.path}: not a journal of a {self.space.name} search (its header differs)")
        return rows[1:]

    def wrap(self, evaluate: Evaluate) -> Evaluate:
        def journaled(genome: Genome) -> dict[str, float]:
            values = list(self.space.values(genome).values())
            index = len(self.rows)
            if index < len(self.replay):
                old = self.replay[index]
                if old[1:1 + len(values)] != values:
                    raise SearchAborted(f"{self.path}: evaluation {index + 1} differs from this search's; resume needs "
                                    "the same space, method, seed and settings")
                row, error = {"valid_perf": float(old[-3]), "perf": float(old[-2])}, old[-1]
            else:
                error = ""
                try:
                    row = evaluate(genome)
                except Exception as failure:  # noqa: BLE001 - recorded, then the trace records it too
                    error = failure_text(failure)
                    row = {"valid_perf": 0.0, "perf": 0.0}
            self.rows.append([str(index + 1), *values, repr(float(row["valid_perf"])), repr(float(row["perf"])), error])
            self._write()
            if error:
                raise RuntimeError(error)
            return row
        return journaled

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
