"""Differential testing campaign over program sets: gcc and clang at -O0 and -O2, and tcc, every
program compiled and run in the sandbox, with the UB screen; what `gensdk fuzzing run` does.

    python benchmarks/fuzzing_campaign.py --set gensdk=runs/fuzzing-eval/gensdk --set csmith=runs/csmith1000 \
        --set corpus=runs/fuzzing-eval/corpus --n 1000

Each set runs in ``runs/fuzzing-campaign/<set>/`` (resumable: run the same command again after a
kill). Results: ``benchmarks/results/fuzzing_campaign.md`` and ``results/raw/fuzzing_campaign.json`` (one row per set, rows of other
sets kept) and every deduplicated compiler crash and miscompilation candidate, with its program,
compiler output and command line, copied under ``benchmarks/results/raw/fuzzing_findings/<set>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance, record_path, write_report  # noqa: E402
from gensdk.core.io import atomic_write  # noqa: E402
from gensdk_plugins.fuzzing.corpus import c_files  # noqa: E402
from gensdk_plugins.fuzzing.harness import FOLDERS, available_compilers, run_campaign  # noqa: E402

RESULTS = Path("benchmarks/results/fuzzing_campaign")
FINDINGS = Path("benchmarks/results/raw/fuzzing_findings")
WORK = Path("runs/fuzzing-campaign")
COMPILERS = ["gcc-O0", "gcc-O2", "clang-O0", "clang-O2", "tcc"]


def versions() -> dict[str, str]:
    out = {}
    for tool in ("gcc", "clang", "tcc"):
        text = subprocess.run([tool, "-v" if tool == "tcc" else "--version"], capture_output=True, text=True)
        out[tool] = (text.stdout or text.stderr).splitlines()[0] if (text.stdout or text.stderr) else "?"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, help="NAME=FOLDER of .c files")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    record = json.loads(record_path(RESULTS).read_text()) if record_path(RESULTS).is_file() else {}
    record.setdefault("sets", {})
    compilers = available_compilers(COMPILERS)
    for spec in args.set:
        name, folder = spec.split("=", 1)
        files = c_files(Path(folder))[:args.n]
        work = WORK / name
        summary = run_campaign(files, work, compilers, workers=args.workers, resume=True, progress=True)
        findings = []
        shutil.rmtree(FINDINGS / name, ignore_errors=True)  # the set's findings are this run's, as a whole
        for verdict, sub in FOLDERS.items():
            for report in sorted((work / sub).glob("*")) if (work / sub).is_dir() else []:
                target = FINDINGS / name / sub / report.name
                shutil.copytree(report, target)
                info = json.loads((report / "report.json").read_text()) if (report / "report.json").is_file() else {}
                findings.append({"verdict": verdict, "id": report.name, "folder": str(target),
                                 "message": info.get("message", "")[:200]})
        record["sets"][name] = {"folder": folder, **summary, "findings": findings, "versions": versions(),
                                **provenance()}
        print(name, json.dumps(summary), flush=True)
    write(record)


def write(record: dict) -> None:
    lines = ["# fuzzing: differential testing campaign (gcc/clang -O0/-O2, tcc; sandboxed; 2 CPU cores)", "",
             "Verdicts per program; compiler crashes are deduplicated by normalized message / top frames,",
             "miscompilation candidates are outputs that differ, each binary the same on a second run (else",
             "'nondet.'), with UBSan+ASan (gcc -O0) and, since commit 3ecd6a5, MSan (clang -O0) clean. Each row's",
             "date, command, commit and compiler versions are in the JSON.", "",
             "| set | programs | ok | does not compile | timeout | crash | nondet. | UB | compiler crash (distinct) | "
             "miscompilation candidates | programs/s | date |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in record["sets"].items():
        v = s["verdicts"]
        lines.append(f"| {name} | {s['programs']} | {v.get('ok', 0)} | {v.get('does-not-compile', 0)} | "
                     f"{v.get('timeout', 0) + v.get('compiler-timeout', 0)} | {v.get('crash', 0)} | "
                     f"{v.get('nondeterministic', 0)} | "
                     f"{v.get('undefined-behaviour', 0)} | {v.get('compiler-crash', 0)} ({s['compiler_crashes']}) | "
                     f"{s['miscompilation_candidates']} | {s['programs_per_second']} | {s['date']} |")
    lines += ["", "## Findings (reproducers under benchmarks/results/raw/fuzzing_findings/)", ""]
    for name, s in record["sets"].items():
        for f in s["findings"]:
            lines.append(f"- {name}: {f['verdict']} `{f['id']}`: {f['message']}")
        if not s["findings"]:
            lines.append(f"- {name}: none")
    atomic_write(record_path(RESULTS), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    write_report(RESULTS, lines)


if __name__ == "__main__":
    main()
