"""Many descriptions scored by real training: ``gensdk architectures evaluate FOLDER --evaluator train``.

Each description is one task of a backend (``gensdk.core.executor``): this process, or a Ray cluster where
each actor holds one GPU and trains one network at a time. Every description trains with the same seed, so
a score depends on the description alone, not on the worker or the order. This process alone writes the
results CSV (rewritten atomically after each result, rows sorted by description); ``resume`` leaves out
the descriptions already in it. A description that fails (unreadable, too large, out of memory) gets a row
with its error, and the others go on.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path
from typing import Any, Sequence

from gensdk.core.executor import Backend
from gensdk.core.io import atomic_write
from gensdk.errors import UserError

from .language import read_description
from .search import failure_text
from .training import train_and_score

COLUMNS = ["description", "parameters", "valid_accuracy", "test_accuracy", "train_seconds", "error"]


def _score(settings: dict[str, Any], device: str, path: str) -> dict[str, Any]:
    """One description's row (``device``: what the worker trains on, from its setup)."""
    row: dict[str, Any] = {"description": Path(path).name, "error": ""}
    try:
        result = train_and_score(read_description(path), device=device, **settings)
        row.update({key: result[key] for key in COLUMNS[1:5]})
    except Exception as error:  # noqa: BLE001 - one bad description must not end the others
        row.update(parameters="", valid_accuracy=0.0, test_accuracy=0.0, train_seconds="", error=failure_text(error))
    return row


def evaluate_files(files: Sequence[Path], out: Path, *, data: str = "sklearn-digits", test: str | None = None,
                   steps: int = 200, seed: int = 0, device: str = "auto", backend: Backend | None = None,
                   resume: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train and score each description in ``files``; the rows of ``out`` (CSV), sorted by description."""
    from tqdm.auto import tqdm

    names = [Path(f).name for f in files]
    if len(set(names)) != len(names):
        raise UserError("two descriptions share a file name; the results name each by its file name")
    rows = _read(out) if resume and out.exists() else {}
    if out.exists() and not resume:
        raise UserError(f"{out}: exists; pass --resume to finish it, or name another file")
    backend = backend or Backend()
    on, gpus = backend.resolve_device(device)
    settings = {"data": data if data in ("sklearn-digits", "digits") else str(Path(data).absolute()),
                "test": str(Path(test).absolute()) if test else None, "steps": steps, "seed": seed}
    todo = [str(Path(f).absolute()) for f in files if Path(f).name not in rows]
    with tqdm(total=len(files), initial=len(files) - len(todo), desc="evaluate", unit="arch",
              disable=not progress) as bar:
        # the worker's state is the device it trains on: on Ray an actor holding one GPU
        for row in backend.map(functools.partial(_score, settings), todo, ordered=False,
                               setup=functools.partial(str, on), gpus=gpus):
            rows[row["description"]] = row
            _write(out, rows)
            bar.update()
    _write(out, rows)
    return [rows[name] for name in sorted(rows)]


def _read(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != COLUMNS:
            raise UserError(f"{path}: not the results of `architectures evaluate` (its header differs)")
        return {row["description"]: row for row in reader}


def _write(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS)
    writer.writeheader()
    writer.writerows(rows[name] for name in sorted(rows))
    atomic_write(path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
