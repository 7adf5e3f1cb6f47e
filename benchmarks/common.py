"""What every benchmark records next to its figures (date, device, command, commit), and where.

``benchmarks/results/`` keeps one current report per benchmark, ``NAME.md``; the records behind them
(``NAME.json``, logs, per-run folders, pictures) are under ``benchmarks/results/raw/``. A report's
``## Other runs`` section (earlier runs, or runs on other inputs, moved there by hand) survives a rerun."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{len(names)} x {names[0]}, torch {torch.__version__}, Python {platform.python_version()}"
    return (f"CPU ({platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def provenance() -> dict[str, Any]:
    # the device machine's copy of the tree may carry a stale .git: the caller's GENSDK_COMMIT wins there
    commit = os.environ.get("GENSDK_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "device": device_description(),
            "command": "python " + " ".join(sys.argv), "commit": commit or "unknown"}


PROVENANCE = ("date", "device", "command", "commit")


def merged_provenance(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The provenance of rows that may come from several runs (a results file that resumes or replaces
    rows): each field's distinct values, joined; the dates as their span (each row keeps its own)."""
    merged = {key: sorted({str(r.get(key, "unknown")) for r in rows}) for key in PROVENANCE}
    return {key: f"{values[0]} to {values[-1]}" if key == "date" and len(values) > 2 else "; ".join(values)
            for key, values in merged.items()}


RESULTS = Path(__file__).resolve().parent / "results"
RAW = RESULTS / "raw"
OTHER_RUNS = "## Other runs"


def record_path(path: str | Path, suffix: str = ".json") -> Path:
    """The record of the report ``path`` (a stem: results/NAME -> results/raw/NAME.json)."""
    path = Path(path)
    return path.parent / "raw" / (path.name + suffix)


def write_report(path: str | Path, lines: list[str]) -> Path:
    """``path``.md from ``lines``, keeping the old report's ``## Other runs`` section."""
    from gensdk.core.io import atomic_write

    md = Path(path).with_suffix(".md")
    old = md.read_text() if md.is_file() else ""
    earlier = old[old.index(OTHER_RUNS):].rstrip("\n").split("\n") if OTHER_RUNS in old else []
    text = "\n".join([*lines, *([""] + earlier if earlier else [])]) + "\n"
    atomic_write(md, lambda tmp: Path(tmp).write_text(text))
    return md


def write_results(path: str | Path, record: dict[str, Any], table: list[str]) -> None:
    """``path``.md, a human summary headed by the provenance, and its record (everything) as
    ``record_path(path)``: results/NAME -> results/NAME.md and results/raw/NAME.json."""
    from gensdk.core.io import atomic_write

    path = Path(path)
    atomic_write(record_path(path), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    head = [f"- {key}: {record[key]}" for key in PROVENANCE if key in record]
    write_report(path, [f"# {record.get('title', path.stem)}", "", *head, "", *table])
