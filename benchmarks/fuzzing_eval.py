"""CPU side of the fuzzing benchmark: how many programs of a set compile with gcc, build an
executable, and run to completion; how many are distinct; how fast they are made runnable and tested.

    python benchmarks/fuzzing_eval.py rates --set gensdk=.runs/fuzzing/small1/samples --runnable --n 10000
    python benchmarks/fuzzing_eval.py rates --set csmith=runs/csmith1000 --set corpus=runs/corpus --n 1000

``--runnable`` first passes each program through ``program.make_runnable``, timed; ``--repair``
also repairs what gcc rejects (``repair.repair``, what ``gensdk fuzzing generate`` does to a raw
sample by default), in ``--workers`` processes, timed. Each program is then compiled with
``gcc -O0 -c`` (an object: "compiles"), and tested by the harness with gcc -O0 alone (an executable
that ran to exit 0 within 5 s: "runs to completion"), everything in the sandbox, 2 worker processes.
Results: ``benchmarks/results/fuzzing_rates.md`` and ``results/raw/fuzzing_rates.json`` (one row per set; rows of earlier runs of
other sets are kept), the runnable programs under ``runs/fuzzing-eval/<set>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance, record_path, write_report  # noqa: E402
from gensdk.core.io import atomic_write  # noqa: E402
from gensdk_plugins.fuzzing.corpus import COMPILE, c_files  # noqa: E402
from gensdk_plugins.fuzzing.harness import RUN_LIMITS, available_compilers, include_flags, test_program  # noqa: E402
from gensdk_plugins.fuzzing.program import make_runnable  # noqa: E402
from gensdk_plugins.fuzzing.repair import repair  # noqa: E402
from gensdk_plugins.fuzzing.sandbox import Sandbox  # noqa: E402

RESULTS = Path("benchmarks/results/fuzzing_rates")
WORK = Path("runs/fuzzing-eval")


def check(path: str) -> dict:
    """One program: does gcc -c make an object, and what does the harness (gcc -O0 alone) say."""
    source = Path(path).read_bytes()
    start = time.perf_counter()
    with Sandbox() as box:
        box.write("prog.c", source)
        compiles = box.run([*COMPILE, *include_flags(), "prog.c", "-o", "prog.o"]).ok
    result = test_program(source, available_compilers(["gcc-O0"]), screen_ub=False) if compiles else None
    return {"file": Path(path).name, "compiles": compiles, "verdict": result.verdict if result else "does-not-compile",
            "seconds": time.perf_counter() - start}


def repaired(text: str) -> tuple[str, int | None, float]:
    """A raw sample made runnable and repaired: (program, rounds of deletion or None where it could
    not be repaired, share of bytes kept)."""
    with Sandbox() as box:
        fixed = repair(text, box)
    if fixed.program is None:
        return make_runnable(text), None, 0.0
    return fixed.program, fixed.rounds, fixed.kept


def rates(args: argparse.Namespace) -> None:
    record = json.loads(record_path(RESULTS).read_text()) if record_path(RESULTS).is_file() else {}
    record.setdefault("sets", {})
    for spec in args.set:
        name, folder = spec.split("=", 1)
        files = c_files(Path(folder))[:args.n]
        texts = [p.read_text(encoding="utf-8", errors="surrogateescape") for p in files]  # any size: Csmith's run large
        work = WORK / name
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        repairs = None
        if args.repair:
            with ProcessPoolExecutor(args.workers) as pool:
                runnable, rounds, kept = zip(*pool.map(repaired, texts, chunksize=8))
            fixed = [k for r, k in zip(rounds, kept) if r]
            repairs = {"compiled_as_generated": sum(r == 0 for r in rounds), "repaired": len(fixed),
                       "not_repairable": sum(r is None for r in rounds),
                       "repaired_median_bytes_kept": round(statistics.median(fixed), 3) if fixed else None}
        else:
            runnable = [make_runnable(t) for t in texts] if args.runnable else texts
        make_seconds = time.perf_counter() - start
        paths = []
        for i, text in enumerate(runnable):
            path = work / f"{i:05d}.c"
            atomic_write(path, lambda tmp, t=text: Path(tmp).write_text(t, errors="surrogateescape"))
            paths.append(str(path))
        start = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(check, paths, chunksize=8))
        test_seconds = time.perf_counter() - start
        n = len(rows)
        verdicts: dict[str, int] = {}
        for row in rows:
            verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
        record["sets"][name] = {
            "folder": folder, "programs": n, "made_runnable": args.runnable or args.repair, "repair": repairs,
            "distinct": len(set(texts)), "compiles_gcc_c": sum(r["compiles"] for r in rows),
            "runs_to_completion": verdicts.get("ok", 0), "verdicts": verdicts,
            "make_runnable_per_second": round(n / make_seconds, 1) if (args.runnable or args.repair) and make_seconds
            else None,
            "tested_per_second": round(n / test_seconds, 2), "workers": args.workers,
            **provenance()}
        (work / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        print(name, json.dumps(record["sets"][name]), flush=True)
    write(record)


def write(record: dict) -> None:
    lines = ["# fuzzing: compile and run rates of program sets (gcc 12 -O0, 2 CPU cores)", "",
             f"Run limit {RUN_LIMITS.seconds:g} s per binary; every compile and run in the sandbox. One row per set;",
             "each row's date, device, command and commit are its own (see the JSON).", "",
             "| set | programs | distinct | compile (gcc -c) | run to completion | tested/s | made runnable/s | date | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in record["sets"].items():
        n = s["programs"]
        lines.append(f"| {name} | {n} | {s['distinct'] / n:.1%} | {s['compiles_gcc_c'] / n:.1%} | "
                     f"{s['runs_to_completion'] / n:.1%} | {s['tested_per_second']} | "
                     f"{s['make_runnable_per_second'] or '-'} | {s['date']} | `{s['command']}` |")
    lines += ["", "Repair by deletion (sets made with --repair): samples gcc accepted as generated, samples repaired,",
              "samples it could not repair, and the median share of a repaired sample's bytes kept:", ""]
    lines += [f"- {name}: {json.dumps(s['repair'], sort_keys=True)}" for name, s in record["sets"].items() if s.get("repair")]
    lines += ["", "Verdicts of the harness (gcc -O0 alone; 'does-not-compile' includes link errors):", ""]
    lines += [f"- {name}: {json.dumps(s['verdicts'], sort_keys=True)}" for name, s in record["sets"].items()]
    atomic_write(record_path(RESULTS), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    write_report(RESULTS, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("rates")
    r.add_argument("--set", action="append", required=True, help="NAME=FOLDER of .c files")
    r.add_argument("--n", type=int, default=10000)
    r.add_argument("--runnable", action="store_true", help="make each program runnable first (raw samples)")
    r.add_argument("--repair", action="store_true", help="make each program runnable and repair it (raw samples)")
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    rates(args)


if __name__ == "__main__":
    main()
