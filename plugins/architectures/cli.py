"""``gensdk architectures parse|compile|train|evaluate|sample|search|ops`` (``generate``: the old name of ``sample``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gensdk.core.executor import RAY_HELP

app = typer.Typer(help="Neural architectures: a description language for networks, compiled to PyTorch.",
                  no_args_is_help=True)
console = Console()

FILE_HELP = "A description: text (see `gensdk architectures ops`) or its .json form."


@app.command()
def parse(file: Path = typer.Argument(..., help=FILE_HELP),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the canonical form: .json, else text."),
          shapes: bool = typer.Option(False, help="Print each node's inferred shape and parameters.")) -> None:
    """Parse and validate a description (shapes, cycles, sizes); print or write its canonical form."""
    from gensdk.core.io import atomic_write

    from .compiler import validate
    from .language import format_description, read_description, to_json

    description = read_description(file)
    checked = validate(description, source=str(file))
    text = (json.dumps(to_json(description), indent=2) + "\n" if out is not None and out.suffix.lower() == ".json"
            else format_description(description))
    if out is not None:
        atomic_write(out, lambda tmp: Path(tmp).write_text(text))
        console.print(f"wrote {out}")
    elif not shapes:
        console.print(text, end="", markup=False, highlight=False)
    if shapes:
        table = Table("node", "op", "shape", "parameters")
        for item in description.inputs:
            table.add_row(item.name, "input", str(checked.shapes[item.name]), "0")
        for name in checked.order:
            table.add_row(name, description.node(name).op, str(checked.shapes[name]),
                          f"{checked.parameters.get(name, 0):,}")
        console.print(table)
    console.print(f"{file}: valid, {len(description.nodes)} nodes, {checked.total_parameters:,} parameters")


@app.command("compile")
def compile_(file: Path = typer.Argument(..., help=FILE_HELP),
             batch: int = typer.Option(2, help="Batch size of the check run on random inputs."),
             device: str = typer.Option("cpu", help="cpu, cuda or auto.")) -> None:
    """Compile a description into a torch.nn.Module and run it once on random inputs of its shapes."""
    import torch

    from gensdk.core.device import resolve_device

    from .compiler import compile_network
    from .language import read_description

    description = read_description(file)
    on = resolve_device(device)
    model = compile_network(description).to(on).eval()
    inputs, edge_index = [], None
    for item in description.inputs:
        rows = 8 if item.kind == "graph" else batch
        inputs.append(torch.randn(rows, *item.dims, device=on))
        if item.kind == "graph":  # a ring of 8 nodes
            ring = torch.arange(8, device=on)
            edge_index = torch.stack([torch.cat([ring, (ring + 1) % 8]), torch.cat([(ring + 1) % 8, ring])])
    with torch.no_grad():
        outputs = model(*inputs, edge_index=edge_index)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    console.print(model, markup=False, highlight=False)
    shown = ", ".join(f"{name} {tuple(t.shape)}" for name, t in zip(description.outputs, outputs))
    console.print(f"{file}: compiled, {sum(p.numel() for p in model.parameters()):,} parameters; outputs {shown}")


def _print_training(file: Path, steps: int, result: dict) -> None:
    """The one-line report of a real-training evaluation (`train` and `evaluate --evaluator train`)."""
    console.print(f"{file}: {result['parameters']:,} parameters, {steps} steps in {result['train_seconds']:.1f} s: "
                  f"valid accuracy {result['valid_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f}")


@app.command()
def train(file: Path = typer.Argument(..., help=FILE_HELP + " One image input, one vector output of class scores."),
          data: str = typer.Option("sklearn-digits", help="sklearn-digits, or an image folder (a subfolder per class)."),
          test: Optional[Path] = typer.Option(None, help="The test image folder (with a folder --data)."),
          steps: int = typer.Option(500, help="Training steps (the fixed budget)."),
          batch_size: int = typer.Option(128, help="Images per step."),
          lr: float = typer.Option(1e-3, help="AdamW learning rate (cosine schedule)."),
          out: Optional[Path] = typer.Option(None, help="Run folder: checkpoints, log, model/ and result.json."),
          device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
          seed: int = typer.Option(0, help="Random seed.")) -> None:
    """Train a described network as a classifier for a fixed budget; report validation and test accuracy."""
    from gensdk.core.io import write_json

    from .language import read_description
    from .training import train_and_score

    result = train_and_score(read_description(file), data=data, steps=steps, batch_size=batch_size, lr=lr,
                             device=device, seed=seed, out_dir=str(out) if out else None,
                             test=str(test) if test else None)
    if out is not None:
        write_json(out / "result.json", {"description": str(file), "data": data, **result})
    _print_training(file, steps, result)


EVALUATORS = ("nas-bench-graph", "train")


@app.command()
def evaluate(file: Path = typer.Argument(..., help=FILE_HELP + " Or a folder of them (--evaluator train): each is "
                                         "trained, and the results go to --out. Or a trained network's run folder "
                                         "(`train --out`)."),
             evaluator: str = typer.Option("nas-bench-graph", help="nas-bench-graph (a table lookup of a "
                                           "NAS-Bench-Graph description) or train (real training, as `train`)."),
             dataset: str = typer.Option("cora", help="The NAS-Bench-Graph data set (nas-bench-graph)."),
             data: Optional[str] = typer.Option(None, help="Training data (train): sklearn-digits (the default) or an "
                                                "image folder; a trained network: the images to score it on (default: "
                                                "its own held-out ones)."),
             test: Optional[Path] = typer.Option(None, help="The test image folder (train, with a folder --data)."),
             steps: int = typer.Option(200, help="Training steps (train)."),
             device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N (train)."),
             seed: int = typer.Option(0, help="Random seed (train): the same for every description."),
             out: Optional[Path] = typer.Option(None, "--out", "-o", help="A folder's results: CSV, one row per "
                                                "description, written as they come."),
             ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " A folder's "
                                               "descriptions train there, one GPU per worker."),
             resume: bool = typer.Option(False, help="Finish the results in --out (a folder's)."),
             quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Score descriptions with a search's evaluator (validation and test accuracy, and what it costs), or a
    trained network on held-out images."""
    from gensdk.core.artifact import is_saved_model
    from gensdk.errors import UserError

    from .language import read_description

    if is_saved_model(file):  # a trained network: its accuracy
        from gensdk.cli import print_metrics
        from gensdk.core.device import resolve_device

        from .training import TrainedNetwork

        print_metrics(str(file), TrainedNetwork.load(file, str(resolve_device(device))).evaluate(data, seed=seed))
        return
    data = data or "sklearn-digits"
    if evaluator not in EVALUATORS:
        raise UserError(f"unknown evaluator {evaluator!r} (known: {', '.join(EVALUATORS)})")
    if file.is_dir():
        _evaluate_folder(file, evaluator, data, test, steps, device, seed, out, ray, resume, quiet)
        return
    description = read_description(file)
    if evaluator == "train":
        from .training import train_and_score

        result = train_and_score(description, data=data, steps=steps, device=device, seed=seed,
                                 test=str(test) if test else None)
        _print_training(file, steps, result)
        return
    from .nasbench import load_table
    from .compiler import validate
    from .spaces import nas_bench_graph_arch

    validate(description, source=str(file))
    link, ops = nas_bench_graph_arch(description)
    try:
        row = load_table(dataset).lookup(link, ops)
    except KeyError as error:
        raise UserError(f"{file}: {error.args[0]}") from None
    console.print(f"{file}: link {link} ops {' '.join(ops)} on {dataset}: valid accuracy {row['valid_perf']:.4f}, "
                  f"test accuracy {row['perf']:.4f}, latency {row['latency']:.4g}, parameters {row['para']:.4g} (the table's units)")


def _evaluate_folder(folder: Path, evaluator: str, data: str, test: Optional[Path], steps: int, device: str,
                     seed: int, out: Optional[Path], ray: Optional[str], resume: bool, quiet: bool) -> None:
    """``evaluate FOLDER``: every description in it trained, on this machine or a Ray cluster."""
    from gensdk.core.executor import Backend
    from gensdk.errors import UserError

    from .evaluation import evaluate_files

    if evaluator != "train":
        raise UserError(f"{folder}: a folder of descriptions is scored by --evaluator train")
    if out is None:
        raise UserError(f"{folder}: name the results file with --out FILE.csv")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".arch", ".json") and p.is_file())
    if not files:
        raise UserError(f"{folder}: no descriptions (.arch or .json files)")
    rows = evaluate_files(files, out, data=data, test=str(test) if test else None, steps=steps, seed=seed,
                          device=device, backend=Backend(ray=ray), resume=resume, progress=not quiet)
    scored = [r for r in rows if not r["error"]]
    failed = f"; {len(rows) - len(scored)} failed (see {out})" if len(scored) < len(rows) else ""
    if scored:
        best = max(scored, key=lambda r: float(r["valid_accuracy"]))
        console.print(f"{len(rows)} descriptions after {steps} steps -> {out}: best by validation {best['description']} "
                      f"({float(best['valid_accuracy']):.4f}, test {float(best['test_accuracy']):.4f}){failed}")
    else:
        console.print(f"{len(rows)} descriptions -> {out}: none trained{failed}")


def _space(space: str, dataset: str = "cora", data: str = "sklearn-digits", size: int = 8, test: Optional[str] = None):
    """The search space named ``space``: NAS-Bench-Graph shaped for ``dataset``, or CNNs for ``data``."""
    from gensdk.errors import UserError

    from .nasbench import DATASETS, GRAPH_SHAPES
    from .spaces import SPACES, CnnSpace, NasBenchGraphSpace
    from .training import data_shape

    if space not in SPACES:
        raise UserError(f"unknown space {space!r} (known: {', '.join(SPACES)})")
    if space == "cnn":
        return CnnSpace(*data_shape(data, size, test))
    if dataset not in DATASETS:
        raise UserError(f"unknown NAS-Bench-Graph data set {dataset!r} (known: {', '.join(DATASETS)})")
    return NasBenchGraphSpace(*GRAPH_SHAPES[dataset])


def sample(out: Path = typer.Argument(..., help="A new folder for the descriptions (NNNNN.arch each)."),
             space: str = typer.Option("cnn", help="cnn (small CNNs for 8x8 digits) or nas-bench-graph (for cora)."),
             n: int = typer.Option(100, "-n", "--n", help="How many."),
             seed: int = typer.Option(0, help="Random seed."),
             overwrite: bool = typer.Option(False, help="Replace OUT if it exists.")) -> None:
    """Draw random descriptions from a space (the random-grammar baseline); every one validates."""
    import random

    from gensdk.core.io import write_folder
    from gensdk.errors import UserError

    from .compiler import validate
    from .language import format_description

    chosen = _space(space)
    if n < 1:
        raise UserError(f"--n must be positive, got {n}")
    if out.exists() and not overwrite:
        raise UserError(f"{out}: exists; pass --overwrite to replace it")
    rng = random.Random(seed)
    texts = {}
    for i in range(n):
        description = chosen.describe(chosen.random(rng), name=f"{space}-{i}")
        validate(description)
        texts[f"{i:05d}.arch"] = format_description(description)
    write_folder(out, {name: (lambda path, t=text: path.write_text(t)) for name, text in texts.items()})
    console.print(f"wrote {n} {space} descriptions to {out}")


app.command("sample")(sample)
app.command("generate", hidden=True)(sample)  # the old name


@app.command()
def search(space: str = typer.Option("nas-bench-graph", help="nas-bench-graph (GNNs) or cnn (small CNNs for images)."),
           evaluator: Optional[str] = typer.Option(None, help="nas-bench-graph (table lookups; the default for that "
                                                   "space) or train (real training; the default for cnn)."),
           dataset: str = typer.Option("cora", help="The NAS-Bench-Graph data set (cora, citeseer, pubmed, ...)."),
           data: str = typer.Option("sklearn-digits", help="Training data (train): sklearn-digits or an image folder "
                                    "(a subfolder per class)."),
           test: Optional[Path] = typer.Option(None, help="The test image folder (with a folder --data)."),
           size: int = typer.Option(8, help="Image size of the cnn space (sklearn-digits: 8)."),
           steps: int = typer.Option(200, help="Training steps per architecture (train)."),
           device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N (train)."),
           method: str = typer.Option("generative", help="generative, evolution or random."),
           budget: int = typer.Option(300, help="Architectures to evaluate."),
           screen: int = typer.Option(1, help="generative: a predictor picks each batch from SCREEN times as many "
                                      "samples (1: no predictor)."),
           seed: int = typer.Option(0, help="Random seed."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV journal of every evaluation, in order, "
                                              "written as it goes; the best description is written beside it (.arch)."),
           resume: bool = typer.Option(False, help="Continue the search journaled in --out (same settings).")) -> None:
    """Search a space with a pluggable evaluator; print the best architecture by validation accuracy."""
    from gensdk.core.io import atomic_write
    from gensdk.errors import UserError

    from .generative import generative_search
    from .language import format_description
    from .search import Journal, random_search, regularized_evolution
    from .training import training_evaluator

    searches = {"generative": generative_search, "evolution": regularized_evolution, "random": random_search}
    if method not in searches:
        raise UserError(f"unknown search method {method!r} (known: {', '.join(searches)})")
    if budget < 1 or screen < 1:
        raise UserError(f"--budget and --screen must be positive, got {budget} and {screen}")
    if resume and out is None:
        raise UserError("--resume needs the journal: --out FILE.csv")
    evaluator = evaluator or ("train" if space == "cnn" else "nas-bench-graph")
    if evaluator not in EVALUATORS:
        raise UserError(f"unknown evaluator {evaluator!r} (known: {', '.join(EVALUATORS)})")
    if (evaluator == "train") != (space == "cnn"):
        raise UserError(f"the {evaluator} evaluator does not score the {space} space (nas-bench-graph scores "
                        "nas-bench-graph; train scores cnn)")
    chosen = _space(space, dataset, data, size, str(test) if test else None)
    if evaluator == "train":
        evaluate = training_evaluator(chosen, data=data, steps=steps, device=device, seed=seed,
                                      test=str(test) if test else None)
        what = f"{data} after {steps} training steps"
    else:
        from .nasbench import load_table, table_evaluator

        table = load_table(dataset)
        evaluate, what = table_evaluator(table), f"{dataset} (NAS-Bench-Graph)"
    journal = Journal(chosen, out, resume) if out is not None else None
    if journal is not None:
        evaluate = journal.wrap(evaluate)
    from tqdm.auto import tqdm

    with tqdm(total=budget, desc=f"{method} search", unit="arch", disable=None) as bar:
        def counted(genome):
            try:
                return evaluate(genome)
            finally:
                bar.update(1)
        options = {"screen": screen} if method == "generative" else {}
        trace = searches[method](chosen, counted, budget, seed=seed, **options)
    best = trace.best()
    text = format_description(chosen.describe(trace.archs[best], name=f"best-{space}"))
    if out is not None:
        atomic_write(out.with_suffix(".arch"), lambda tmp: Path(tmp).write_text(text))
    console.print(text, end="", markup=False, highlight=False)
    failed = f"; {len(trace.errors)} candidates failed (see the journal)" if trace.errors else ""
    console.print(f"{method} search of {space} on {what}, {budget} evaluations: best by validation "
                  f"{trace.valid[best]:.4f} (test {trace.test[best]:.4f}){failed}")


@app.command()
def ops() -> None:
    """The operations of the language: input kinds, parameters (defaults), what each does."""
    from .compiler import describe_ops

    table = Table("op", "inputs", "parameters", "what")
    for row in describe_ops():
        table.add_row(*row)
    console.print(table)
