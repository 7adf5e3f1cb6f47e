"""``gensdk molecules data|train|sample|evaluate|optimize`` (``fit``: the old name of ``train``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from gensdk.core.executor import RAY_HELP

app = typer.Typer(help="Molecules: SMILES data, generators (char-rnn, transformer, vae, graph), MOSES metrics, "
                       "property-driven search.", no_args_is_help=True)
console = Console()

SOURCE_HELP = "A SMILES file (.smi, .txt, .csv/.tsv with a SMILES column, optionally .gz) or moses:train|test|test_scaffolds."


def _options(pairs: list[str]) -> dict:
    """``key=value`` pairs, values read as JSON where they parse (numbers, true/false), else strings."""
    from gensdk.errors import UserError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--option {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command()
def data(source: str = typer.Argument(..., help=SOURCE_HELP),
         out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the canonical SMILES (.smi, or .smi.gz)."),
         column: Optional[str] = typer.Option(None, help="The SMILES column of a CSV/TSV file."),
         fragments: str = typer.Option("largest", help="Multi-fragment entries (salts): largest, reject or keep."),
         unique: bool = typer.Option(False, help="Drop repeated molecules."),
         workers: Optional[int] = typer.Option(None, help="RDKit processes (default: one per CPU).")) -> None:
    """Read a SMILES file, canonicalize it with RDKit, and report what was dropped and why."""
    from .data import load_smiles, write_smiles

    smiles, report = load_smiles(source, column=column, fragments=fragments, unique=unique, workers=workers)
    console.print(f"{source}: {report.summary()}")
    if out:
        write_smiles(out, smiles)
        console.print(f"wrote {len(smiles)} SMILES to {out}")


def train(source: str = typer.Argument(..., help=SOURCE_HELP),
        run_dir: Path = typer.Argument(..., help="Run folder: checkpoints, log.jsonl, and the model in model/."),
        model: str = typer.Option("char-rnn", help="char-rnn, transformer, vae or graph."),
        representation: str = typer.Option("smiles", help="smiles or selfies (sequence models)."),
        steps: Optional[int] = typer.Option(None, help="Training steps (default 10,000)."),
        epochs: Optional[float] = typer.Option(None, help="Passes over the molecules instead of steps."),
        minutes: Optional[float] = typer.Option(None, help="A wall-time budget instead of steps."),
        batch_size: int = typer.Option(256, help="Molecules per step."),
        lr: Optional[float] = typer.Option(None, help="Learning rate (default: the model's)."),
        option: List[str] = typer.Option([], "--option", help="Model option key=value, e.g. d_model=256 (repeatable)."),
        column: Optional[str] = typer.Option(None, help="The SMILES column of a CSV/TSV file."),
        randomize: int = typer.Option(0, help="Train on K random (non-canonical) SMILES of each molecule instead of "
                                              "its canonical one (SMILES enumeration; sequence models)."),
        device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
        seed: int = typer.Option(0, help="Random seed."),
        resume: bool = typer.Option(False, help="Continue the run in RUN_DIR from its last checkpoint."),
        overwrite: bool = typer.Option(False, help="Replace a run already in RUN_DIR."),
        quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Train a molecule generator on the GPU when there is one (cosine schedule, checkpoints, --resume)."""
    from .models import train_generator

    options = _options(option)
    if lr is not None:
        options["lr"] = lr
    train_generator(source, run_dir, model, representation, steps=steps, epochs=epochs, minutes=minutes,
                    batch_size=batch_size, options=options, column=column, randomize=randomize, device=device,
                    seed=seed, resume=resume, overwrite=overwrite, progress=not quiet, say=console.print)


app.command("train")(train)
app.command("fit", hidden=True)(train)  # the old name


@app.command()
def sample(model_dir: Path = typer.Argument(..., help="A trained model folder (or its run folder)."),
           n: int = typer.Option(1000, "-n", "--n", help="Molecules to generate."),
           out: Path = typer.Option(..., "--out", "-o", help="Output .smi (or .smi.gz): one SMILES per line."),
           temperature: float = typer.Option(1.0, help="Sampling temperature."),
           valid_only: bool = typer.Option(False, help="Keep only valid molecules (canonical SMILES)."),
           unique: bool = typer.Option(False, help="With --valid-only: drop repeats."),
           batch_size: int = typer.Option(2048, help="Molecules generated at once on the device."),
           device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
           ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " One model copy "
                                             "per GPU (or per CPU with --device cpu); the same molecules as without."),
           seed: int = typer.Option(0, help="Random seed."),
           quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Generate molecules; raw model output by default (what MOSES scores), or only the valid ones."""
    from gensdk.core.executor import Backend
    from gensdk.errors import UserError

    from .data import clean_smiles, write_smiles
    from .models import sample_smiles

    if n < 1:
        raise UserError(f"--n must be positive, got {n}")
    smiles = sample_smiles(model_dir, n, batch_size=batch_size, temperature=temperature, seed=seed, device=device,
                           backend=Backend(ray=ray), progress=not quiet)
    valid, report = clean_smiles(smiles, fragments="keep", unique=unique)
    console.print(f"{n} generated: {report.kept} valid ({report.kept / n:.1%})"
                  + (f", {report.duplicates} repeats dropped" if unique else ""))
    write_smiles(out, valid if valid_only else smiles)
    console.print(f"wrote {out}")


@app.command()
def evaluate(generated: Path = typer.Argument(..., help="Generated SMILES (one per line; invalid ones count), or a "
                                             "trained model (or run) folder: its N raw samples are scored."),
             train: Optional[str] = typer.Option("moses:train", help="Training set for novelty ('' to skip)."),
             test: Optional[str] = typer.Option("moses:test", help="Reference set ('' to skip)."),
             test_scaffolds: Optional[str] = typer.Option("moses:test_scaffolds", help="Scaffold-split reference ('' to skip)."),
             n: int = typer.Option(30_000, "-n", "--n", help="Score the first N molecules (MOSES: 30,000)."),
             device: str = typer.Option("auto", help="Device for ChemNet and fingerprint similarity."),
             workers: Optional[int] = typer.Option(None, help="RDKit processes (default: one per CPU)."),
             seed: int = typer.Option(0, help="Random seed of a model's samples."),
             ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " The RDKit "
                                               "work runs there; ChemNet and the similarities here."),
             out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the metrics as JSON."),
             quiet: bool = typer.Option(False, help="No progress bars.")) -> None:
    """The MOSES metrics of a SMILES file, or of a trained model's samples, against the MOSES test sets or your own.

    A reference's statistics are computed once (minutes on a CPU for MOSES's sets) and then read from the cache."""
    from gensdk.core.artifact import is_saved_model
    from gensdk.core.executor import Backend
    from gensdk.core.io import write_json

    from .data import read_smiles
    from .metrics import evaluate_smiles, format_table, reference_from
    from .models import load_generator

    if is_saved_model(generated):
        smiles = load_generator(generated, device).sample(n, seed=seed, progress=not quiet)
    else:
        smiles = read_smiles(generated)[:n]
    backend = Backend(ray=ray) if ray is not None else None  # None: the local processes of --workers
    refs = {"device": device, "workers": workers, "progress": not quiet, "backend": backend}
    metrics = evaluate_smiles(
        smiles, train=read_smiles(train) if train else None,
        test=reference_from(test, **refs) if test else None,
        test_scaffolds=reference_from(test_scaffolds, **refs) if test_scaffolds else None,
        device=device, workers=workers, progress=not quiet, backend=backend)
    console.print(format_table(metrics))
    if out:
        write_json(out, metrics)


@app.command()
def optimize(model_dir: Path = typer.Argument(..., help="The prior: a trained char-rnn/transformer (reinvent, "
                                                        "random) or vae (latent)."),
             objective: List[str] = typer.Option([], "--objective", help="qed, plogp, sa, similarity:SMILES, "
                                                 "smarts:PATTERN, python:file.py:func; spec@weight (repeatable)."),
             spec: Optional[Path] = typer.Option(None, help="A YAML objective (components, transforms, combine)."),
             combine: str = typer.Option("sum", help="sum (weighted) or mpo (weighted geometric mean)."),
             method: str = typer.Option("reinvent", help="reinvent, latent or random."),
             budget: int = typer.Option(5000, help="Molecules to score in all."),
             out: Path = typer.Option(..., "--out", "-o", help="Ranked CSV of unique valid molecules with every score."),
             option: List[str] = typer.Option([], "--option", help="Method option key=value, e.g. sigma=60."),
             device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
             workers: Optional[int] = typer.Option(None, help="Scoring processes (default: one per CPU)."),
             seed: int = typer.Option(0, help="Random seed."),
             quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Search for molecules that score well: REINVENT on a language model, or latent optimization in a VAE."""
    from gensdk.errors import UserError
    from gensdk.extras import require

    from .models import load_generator
    from .objectives import Objective
    from .search import optimize as run_search

    require("pandas", "molecules")  # the ranked CSV, written at the end: fail before the search, not after
    if spec and objective:
        raise UserError("give --objective or --spec, not both")
    if not spec and not objective:
        raise UserError("give at least one --objective (e.g. --objective qed) or a --spec file")
    goal = Objective.from_yaml(spec) if spec else Objective.parse(objective, combine=combine)
    generator = load_generator(model_dir, device)
    checkpoints = sorted({c for c in (1000, 5000, 20000, budget) if c <= budget})
    result = run_search(generator, goal, method, budget, checkpoints=checkpoints, workers=workers,
                        progress=not quiet, seed=seed, **_options(option))
    result.write_csv(out)
    table = Table(title=f"{method}: {len(result.found)} unique valid molecules of {result.scored} scored")
    for column in ("scored", "best", "top-10 mean"):
        table.add_column(column, justify="right")
    for row in result.trace:
        found = sum(f.scored_at <= row["scored"] for f in result.found.values())
        table.add_row(str(row["scored"]), f"{row['best']:.4f}" if found else "n/a (none valid)",
                      f"{row['top10']:.4f}" if found >= 10 else f"n/a (only {found} unique valid)")
    console.print(table)
    for line in result.errors:
        console.print(f"warning: {line}")
    console.print(f"wrote {out}")
