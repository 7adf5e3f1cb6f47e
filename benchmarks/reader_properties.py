"""The reader properties of tests/test_reader_properties.py with many more examples each, recording
every distinct failure instead of stopping at the first (a failure: any exception other than a
one-line ``UserError``, or a hang; distinct: by exception type and the project line that raised it).

    PYTHONPATH=. python benchmarks/reader_properties.py --examples 2000

Writes benchmarks/results/reader_properties.md and its record results/raw/reader_properties.json. The run made before the fixes
(``--results benchmarks/results/reader_properties_before``; its record raw/reader_properties_before.json is kept) is listed in the .md
under the current one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

import reader_properties as rp  # noqa: E402
from common import provenance, record_path, write_results  # noqa: E402

MACHINE = "2-core CPU, no GPU"


def where(error: BaseException) -> str:
    """The innermost line of gensdk/ or plugins/ in the traceback (else the innermost line); for an
    unclean UserError, where that UserError was raised."""
    if isinstance(error, rp.UncleanUserError) and error.__context__ is not None:
        error = error.__context__
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(ROOT)) and "/tests/" not in f.filename]
    frame = (ours or frames)[-1]
    return f"{Path(frame.filename).resolve().relative_to(ROOT) if frame.filename.startswith(str(ROOT)) else frame.filename}:{frame.lineno}"


def run_property(prop, examples: int) -> dict:
    strategy, check = prop
    tried, failures = 0, {}

    def recording(example) -> None:
        nonlocal tried
        tried += 1
        try:
            check(example)
        except Exception as error:  # noqa: BLE001 - every kind is what we count
            key = f"{type(error).__name__} at {where(error)}"
            if key not in failures:
                message = str(error).splitlines()[0][:200] if str(error) else ""
                failures[key] = {"error": key, "message": message, "count": 0, "example": repr(example)[:400]}
            failures[key]["count"] += 1

    test = given(strategy)(settings(max_examples=examples, deadline=None, database=None,
                                    suppress_health_check=list(HealthCheck))(recording))
    start = time.perf_counter()
    seed(0)(test)()
    return {"examples": tried, "seconds": round(time.perf_counter() - start, 1), "failures": list(failures.values())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--only", nargs="*", help="reader names (default: all)")
    parser.add_argument("--results", default="benchmarks/results/reader_properties")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="gensdk-reader-bench-"))
    readers = {
        "architecture text (.arch)": lambda: rp.arch_property(),
        "architecture JSON": lambda: rp.arch_json_property(),
        ".gsdk files (read_header, decompress)": lambda: rp.gsdk_property(rp.tiny_codecs(scratch / "codecs")),
        "recipes (load_recipe + overrides)": lambda: rp.recipe_property(),
        "CSV tables (read_table)": lambda: rp.table_property(),
        "table metadata (JSON/YAML)": lambda: rp.metadata_property(),
        "SMILES files (load_smiles)": lambda: rp.smiles_property(),
        "fuzzing corpus (load_corpus, tokenize)": lambda: rp.corpus_property(),
        "model folders (load_model)": lambda: rp.model_property(rp.tiny_model(scratch / "model")),
        "augmentation pipelines (characters, YAML)": lambda: rp.pipeline_property(),
    }
    results = {}
    for name, make in readers.items():
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        results[name] = run_property(make(), args.examples)
        print(f"{name}: {results[name]['examples']} examples, {len(results[name]['failures'])} distinct failures, "
              f"{results[name]['seconds']} s", flush=True)

    record = {"title": "Reader properties: generated bad input gets a result or a one-line UserError",
              **provenance(), "machine": MACHINE, "examples_per_reader": args.examples, "readers": results}
    table = [f"Machine: {MACHINE}. Each reader gets up to {args.examples} generated inputs (random and mutated "
             "valid files; hypothesis, seed 0); a failure is any exception other than a one-line UserError, "
             "or no answer within " f"{rp.HANG_SECONDS} s.", "",
             "| reader | examples | distinct failures | seconds |", "|---|---:|---:|---:|"]
    table += [f"| {n} | {r['examples']} | {len(r['failures'])} | {r['seconds']} |" for n, r in results.items()]
    for n, r in results.items():
        for f in r["failures"]:
            table += ["", f"- {n}: `{f['error']}` ({f['count']} examples): {f['message']}",
                      f"  example: `{f['example'][:300]}`"]
    before = record_path(args.results + "_before")
    if before.is_file() and not args.results.endswith("_before"):
        old = json.loads(before.read_text())
        table += ["", f"## Before the fixes ({old['date']}, commit {old['commit']})", "",
                  "| reader | examples | distinct failures | seconds |", "|---|---:|---:|---:|"]
        table += [f"| {n} | {r['examples']} | {len(r['failures'])} | {r['seconds']} |" for n, r in old["readers"].items()]
        for n, r in old["readers"].items():
            table += [f"- {n}: {r['note']}"] if r.get("note") else []
            for f in r["failures"]:
                table += [f"- {n}: `{f['error']}` ({f['count']} examples): {f['message']}",
                          f"  example: `{f['example'][:300]}`"]
    write_results(args.results, record, table)


if __name__ == "__main__":
    main()
