"""``gensdk fuzzing corpus|train|sample|evaluate|run|csmith|dictionary`` (``generate``: the old name of ``sample``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from gensdk.core.executor import RAY_HELP
from gensdk.errors import UserError

app = typer.Typer(help="Compiler fuzzing: a C corpus, a Transformer over C, generated programs, a sandboxed "
                       "differential-testing harness, seeds and dictionaries for AFL++ / libFuzzer.",
                  no_args_is_help=True)
console = Console(stderr=True)

FILTERS = ("none", "compiles")


@app.command("corpus")
def corpus_command(source: str = typer.Argument(..., help="A folder of .c files, or a recipe from Debian's "
                                                          "gcc-12-source: 'gcc-torture' (the GCC torture suite) "
                                                          "or 'gcc-testsuite' (torture, gcc.dg, c-c++-common)."),
                   out: Path = typer.Argument(..., help="Folder for the normalized programs and corpus.json."),
                   rename: bool = typer.Option(True, help="Rename the programs' own identifiers id1, id2, ..."),
                   workers: Optional[int] = typer.Option(None, help="Parallel compiler processes (default: cores)."),
                   quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Build a training corpus: read, filter, normalize, keep what compiles on this host."""
    import tempfile

    from .corpus import GCC_SOURCE_PACKAGE, RECIPES, build_corpus, fetch_gcc_tests

    if source in RECIPES:
        with tempfile.TemporaryDirectory() as tmp:
            console.print(f"fetching {source} from Debian's {GCC_SOURCE_PACKAGE} ...")
            report = build_corpus(fetch_gcc_tests(Path(tmp), source), out, rename, workers, progress=not quiet)
    else:
        report = build_corpus(Path(source), out, rename, workers, progress=not quiet)
    console.print(f"{out}: {report.summary()}")


@app.command("train")
def train_command(corpus: Path = typer.Argument(..., help="A corpus folder (gensdk fuzzing corpus) or any .c files."),
                  out: Path = typer.Argument(..., help="Run folder: checkpoint.pt, log.jsonl, model/."),
                  size: str = typer.Option("small", help="tiny, small or base."),
                  max_len: int = typer.Option(1024, help="Longest program in tokens; longer ones are left out."),
                  steps: Optional[int] = typer.Option(None, help="Training steps (default 3,000)."),
                  epochs: Optional[float] = typer.Option(None, help="Passes over the corpus instead of steps."),
                  minutes: Optional[float] = typer.Option(None, help="A wall-time budget instead of steps."),
                  batch_size: int = typer.Option(32),
                  lr: Optional[float] = typer.Option(None, help="Learning rate (default: the size's)."),
                  validate_every: int = typer.Option(250, help="Held-out NLL every N steps; best weights kept (0: off)."),
                  device: str = typer.Option("auto"), seed: int = typer.Option(0),
                  compile: bool = typer.Option(False, help="torch.compile the network (CUDA)."),
                  resume: bool = typer.Option(False, help="Continue from OUT/checkpoint.pt."),
                  overwrite: bool = typer.Option(False), quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Train the C Transformer on a corpus."""
    from .model import train_model

    _, counts = train_model(corpus, out, size=size, max_len=max_len, steps=steps, epochs=epochs, minutes=minutes,
                            batch_size=batch_size, lr=lr, validate_every=validate_every, device=device, seed=seed,
                            compile=compile, resume=resume, overwrite=overwrite, progress=not quiet)
    console.print(f"trained on {counts['train']} programs (held out {counts['valid']}; dropped {counts['dropped']}) "
                  f"-> {out / 'model'}")


def generate_command(model: Path = typer.Option(..., "--model", "-m", help="A trained run or model folder."),
                     n: int = typer.Option(1000, "--n", "-n", help="Programs to write."),
                     out: Path = typer.Option(..., "--out", "-o", help="Flat folder of .c files (a fuzzer's seeds)."),
                     filter: str = typer.Option("none", help="none, or compiles: keep only what gcc compiles."),
                     dictionary: Optional[Path] = typer.Option(None, help="Token dictionary (default OUT.dict)."),
                     raw: bool = typer.Option(False, help="Write the samples as generated (no headers, main, checksum)."),
                     repair: bool = typer.Option(True, help="Cut the statements gcc rejects out of a runnable program "
                                                            "(repair by deletion) instead of keeping it broken."),
                     workers: Optional[int] = typer.Option(None, help="Processes that repair and check (default: cores)."),
                     temperature: float = typer.Option(1.0), top_k: Optional[int] = typer.Option(None),
                     batch_size: int = typer.Option(256), seed: int = typer.Option(0),
                     device: str = typer.Option("auto"), resume: bool = typer.Option(False),
                     quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Generate C programs for a fuzzer: one program per file, and a token dictionary."""
    from .generate import generate_programs

    if filter not in FILTERS:
        raise UserError(f"--filter must be one of {', '.join(FILTERS)}, got {filter!r}")
    stats = generate_programs(model, n, out, compiles_only=filter == "compiles", runnable=not raw, repair=repair,
                              workers=workers, temperature=temperature, top_k=top_k, batch_size=batch_size, seed=seed, device=device,
                              resume=resume, progress=not quiet, dictionary=dictionary)
    print(json.dumps(stats))  # stdout, unwrapped: scripts read it


app.command("sample")(generate_command)
app.command("generate", hidden=True)(generate_command)  # the old name


@app.command("evaluate")
def evaluate_command(model: Path = typer.Argument(..., help="A trained run or model folder."),
                     data: Optional[Path] = typer.Option(None, help="Held-out programs (a corpus folder): their NLL."),
                     n: int = typer.Option(100, "--n", "-n", help="Samples whose compile rate is measured."),
                     seed: int = typer.Option(0), device: str = typer.Option("auto"),
                     out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the metrics as JSON.")) -> None:
    """The share of samples that gcc compiles once made runnable, and the NLL of held-out programs."""
    from gensdk.cli import print_metrics
    from gensdk.core.io import write_json

    from .model import CodeModel

    results = CodeModel.load(model, device=device).evaluate(str(data) if data else None, n=n, seed=seed)
    print_metrics(str(model), results)
    if out:
        write_json(out, results)


@app.command("run")
def run_command(programs: Path = typer.Argument(..., help="A .c file or a folder of them."),
                out: Path = typer.Argument(..., help="Results: results.jsonl, summary.json, crashes/, miscompilations/."),
                compilers: str = typer.Option("gcc-O0,gcc-O2,clang-O0,clang-O2,tcc",
                                              help="Comma-separated; the first is the reference."),
                workers: Optional[int] = typer.Option(None), compile_only: bool = typer.Option(False),
                reduce: bool = typer.Option(False, help="Reduce each new crash with cvise (when installed)."),
                ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " Every node "
                                                  "needs the compilers."),
                resume: bool = typer.Option(False), quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Differential testing: compile with every compiler, run in a sandbox, compare, classify."""
    import os

    from gensdk.core.executor import Backend

    from .corpus import c_files
    from .harness import available_compilers, run_campaign

    files = [programs] if programs.is_file() else c_files(programs)
    if not files:
        raise UserError(f"{programs}: no .c files")
    chosen = available_compilers([c.strip() for c in compilers.split(",") if c.strip()])
    summary = run_campaign(files, out, chosen, workers=workers or os.cpu_count() or 1, resume=resume, reduce=reduce,
                           progress=not quiet, compile_only=compile_only,
                           backend=Backend(ray=ray) if ray is not None else None)
    print(json.dumps(summary))


@app.command("csmith")
def csmith_command(n: int = typer.Argument(..., help="Programs to write."),
                   out: Path = typer.Argument(..., help="Folder for csmith-<seed>.c."),
                   seed: int = typer.Option(0, help="First Csmith seed.")) -> None:
    """The Csmith baseline: N random programs from Debian's csmith."""
    from .baselines import csmith_programs

    console.print(f"{len(csmith_programs(n, out, seed=seed))} Csmith programs in {out}")


@app.command("dictionary")
def dictionary_command(out: Path = typer.Argument(..., help="The dictionary file to write."),
                       source: Path = typer.Option(..., "--from", help="A model folder or a folder of .c files."),
                       limit: int = typer.Option(500, help="Most frequent tokens to add to C's own.")) -> None:
    """An AFL++ / libFuzzer token dictionary from a model's vocabulary or from programs."""
    from .dictionary import write_dictionary
    from .generate import dictionary_tokens

    console.print(f"{write_dictionary(out, dictionary_tokens(source, limit))} entries -> {out}")
