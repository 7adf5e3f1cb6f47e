"""Coverage of a compiler under test reached by sets of C programs: tcc, built from Debian's source
package with ``--coverage``, compiles each program (``tcc -c``); gcov then reports line and branch
coverage of tccgen.c (parser, type checker, code generation driver), tccpp.c (preprocessor) and
x86_64-gen.c (back end), per set and for the union of the sets, next to tcc's own test suite.

    python benchmarks/fuzzing_coverage.py --set gensdk=DIR --set csmith=DIR --set torture=DIR [--n 1000]

Needs gcc, gcov, make, dpkg-dev, and a deb-src line in /etc/apt (added when missing; that needs root).
The build lives in ``runs/tcc-coverage/`` and is reused. Writes ``benchmarks/results/fuzzing_coverage.md`` and its record ``results/raw/fuzzing_coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from gensdk.core.io import atomic_write, write_json  # noqa: E402
from gensdk_plugins.fuzzing.baselines import CSMITH_INCLUDE  # noqa: E402

FILES = ("tccgen.c", "tccpp.c", "x86_64-gen.c")
SOURCES_D = Path("/etc/apt/sources.list.d")
OUR_SOURCES = SOURCES_D / "gensdk-deb-src.sources"
DEFAULT_DEB_SRC = ("Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"
                   "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


# --- the coverage build ---------------------------------------------------------------------------

def ensure_deb_src() -> None:
    """``apt-get source`` needs a deb-src entry; add one mirroring the system's own Debian entry."""
    lists = [Path("/etc/apt/sources.list"), *SOURCES_D.glob("*.list"), *SOURCES_D.glob("*.sources")]
    text = "\n".join(p.read_text() for p in lists if p.is_file())
    if re.search(r"^\s*(deb-src\s|Types:.*\bdeb-src\b)", text, re.M):
        return
    if os.geteuid() != 0:
        sys.exit(f"no deb-src entry in /etc/apt: add one (as {OUR_SOURCES} holds here:\n{DEFAULT_DEB_SRC}) "
                 "and run apt-get update, or run this as root")
    stanza = DEFAULT_DEB_SRC
    debian = SOURCES_D / "debian.sources"  # deb822, the bookworm default: copy its first (main archive) stanza
    if debian.is_file():
        first = debian.read_text().strip().split("\n\n")[0]
        stanza = re.sub(r"^Types:.*$", "Types: deb-src", first, flags=re.M) + "\n"
    print(f"adding {OUR_SOURCES}:\n{stanza}", flush=True)
    atomic_write(OUR_SOURCES, lambda tmp: Path(tmp).write_text(stanza))
    os.chmod(OUR_SOURCES, 0o644)
    sh(["apt-get", "update", "-q"])


def build_tcc(work: Path) -> tuple[Path, float]:
    """Debian's tcc source in ``work``, built with --coverage -O0 (one object per source file, so each
    file has its own .gcda). Returns the build folder and the seconds spent (0 when reused)."""
    work = work.resolve()  # tcc runs in a scratch folder
    work.mkdir(parents=True, exist_ok=True)
    found = [d for d in sorted(work.glob("tcc-*")) if d.is_dir()]
    if found and (found[-1] / "tcc").is_file() and (found[-1] / "tccgen.gcno").is_file():
        print(f"reusing the coverage build in {found[-1]}", flush=True)
        return found[-1], 0.0
    start = time.perf_counter()
    if not found:
        ensure_deb_src()
        sh(["apt-get", "source", "-q", "tcc"], cwd=work)
        found = [d for d in sorted(work.glob("tcc-*")) if d.is_dir()]
    build = found[-1]
    sh(["./configure", "--extra-cflags=--coverage -O0 -g", "--extra-ldflags=--coverage"], cwd=build)
    sh(["make", f"-j{os.cpu_count()}", "ONE_SOURCE=no"], cwd=build)
    return build, time.perf_counter() - start


# --- compiling and measuring ----------------------------------------------------------------------

def reset_counters(build: Path) -> None:
    for gcda in build.glob("*.gcda"):
        gcda.unlink()


def compile_program(tcc: list[str], program: Path, timeout: float, obj: Path) -> tuple[str, str]:
    """(outcome, tcc's error message): ok, error (tcc rejected it), crash (killed by a signal) or
    timeout. The programs are only compiled, never run, so a timeout and a process-group kill are
    all the sandbox needed. ``obj`` is a scratch file: never /dev/null, which tcc unlinks before
    writing its output (as root that replaces /dev/null with a plain file)."""
    with subprocess.Popen([*tcc, "-c", str(program), "-o", str(obj)], cwd=obj.parent, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                          start_new_session=True) as proc:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return "timeout", ""
        finally:
            obj.unlink(missing_ok=True)
    if proc.returncode == 0:
        return "ok", ""
    if proc.returncode < 0:
        return "crash", signal.Signals(-proc.returncode).name
    # "prog.c:16: error: ',' expected" -> "error: ',' expected", so that messages count across programs
    first = next((line for line in err.splitlines() if "error:" in line), err.strip()[:200])
    return "error", re.sub(r"^.*?:\d+: ", "", first)


def compile_set(build: Path, programs: list[Path], timeout: float, jobs: int, name: str) -> tuple[Counter, Counter]:
    """Compile every program with the coverage tcc (libgcov locks the .gcda files, so parallel runs
    add up their counts safely). Returns the outcomes and the messages of failures."""
    # -B: the built tcc finds its own include/ and libtcc1.a in the build folder
    tcc = [str(build / "tcc"), f"-B{build}", f"-I{CSMITH_INCLUDE}"]
    outcomes: Counter = Counter()
    messages: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="tcc-cov-") as scratch, ThreadPoolExecutor(jobs) as pool:
        results = pool.map(lambda i: compile_program(tcc, programs[i], timeout, Path(scratch) / f"{i}.o"),
                           range(len(programs)))
        for i, (outcome, message) in enumerate(results, 1):
            outcomes[outcome] += 1
            if outcome != "ok":
                messages[message if outcome == "error" else f"{outcome} {message}".strip()] += 1
            if i % 100 == 0 or i == len(programs):
                print(f"  {name}: {i}/{len(programs)} compiled ({dict(outcomes)})", flush=True)
    return outcomes, messages


def read_coverage(build: Path) -> dict:
    """Per file: execution count per line, and per branch (line, index), from gcov's JSON."""
    gcda = [Path(f).with_suffix(".gcda").name for f in FILES]
    out = subprocess.run(["gcov", "-b", "--json-format", "--stdout", *gcda], cwd=build, check=True,
                         capture_output=True, text=True).stdout
    coverage = {}
    for doc in out.splitlines():  # one JSON document per .gcda
        for f in json.loads(doc)["files"]:
            if f["file"] in FILES:
                coverage[f["file"]] = {
                    "lines": {line["line_number"]: line["count"] for line in f["lines"]},
                    "branches": {(line["line_number"], i): b["count"]
                                 for line in f["lines"] for i, b in enumerate(line["branches"])}}
    return coverage


def union(coverages: list[dict]) -> dict:
    return {f: {kind: {key: max(c[f][kind][key] for c in coverages) for key in coverages[0][f][kind]}
                for kind in ("lines", "branches")} for f in FILES}


def summarize(coverage: dict) -> dict:
    """gcov -b's figures: lines executed, and branches taken at least once."""
    summary = {}
    for f in FILES:
        lines, branches = coverage[f]["lines"].values(), coverage[f]["branches"].values()
        summary[f] = {"lines_covered": sum(c > 0 for c in lines), "lines_total": len(lines),
                      "branches_taken": sum(c > 0 for c in branches), "branches_total": len(branches)}
    return summary


def measure_set(build: Path, name: str, programs: list[Path], timeout: float, jobs: int) -> tuple[dict, dict]:
    print(f"{name}: {len(programs)} programs", flush=True)
    reset_counters(build)
    start = time.perf_counter()
    outcomes, messages = compile_set(build, programs, timeout, jobs, name)
    seconds = time.perf_counter() - start
    coverage = read_coverage(build)
    row = {"set": name, "programs": len(programs), "outcomes": dict(outcomes), "seconds": round(seconds, 1),
           "coverage": summarize(coverage), "top_failures": messages.most_common(5)}
    return row, coverage


def measure_make_test(build: Path, log: Path) -> dict:
    """tcc's whole test suite as its Makefile runs it (``make -k test``: tcctest.c compiled and run
    several ways, tcc compiling itself, the libtcc API tests, abitest, asm tests, tests2 and pp with
    expected outputs, bounds checking). -k: a target that fails under the coverage build is noted
    and the rest still run."""
    print("tcc make test", flush=True)
    reset_counters(build)
    start = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(["make", "-k", "test"], cwd=build, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    failed = sorted(set(re.findall(r"\*\*\* \[\S+: (\S+)\] Error", log.read_text())) - {"all", "test"})
    print(f"  make -k test: exit {rc}, failed targets: {failed or 'none'}", flush=True)
    return {"set": "tcc: make -k test", "programs": None, "outcomes": {"exit_code": rc, "failed_targets": failed},
            "seconds": round(seconds, 1), "coverage": summarize(read_coverage(build))}


# --- the report -----------------------------------------------------------------------------------

def provenance() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "device": f"CPU {cpu}, nproc {os.cpu_count()}, Python {platform.python_version()}",
            "command": "python " + " ".join(sys.argv), "commit": commit or "unknown"}


def percent(done: int, total: int) -> str:
    return f"{100 * done / total:.1f}% ({done}/{total})" if total else "-"


def table(rows: list[dict]) -> list[str]:
    head = ["set", "programs", "compiled ok", "error / crash / timeout"]
    head += [f"{f} {kind}" for f in FILES for kind in ("lines", "branches")]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        o = row["outcomes"]
        if row["programs"] is None:  # make test: no program count of its own
            cells = [row["set"], "-", "-", f"exit {o['exit_code']}"]
        else:
            cells = [row["set"], str(row["programs"]), str(o.get("ok", 0)),
                     f"{o.get('error', 0)} / {o.get('crash', 0)} / {o.get('timeout', 0)}"]
        for f in FILES:
            c = row["coverage"][f]
            cells += [percent(c["lines_covered"], c["lines_total"]), percent(c["branches_taken"], c["branches_total"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def all_rows(record: dict) -> list[dict]:
    return record["sets"] + ([record["union"]] if record["union"] else []) + record["reference"]


def write_report(out: Path, record: dict) -> None:
    make_test = record["reference"][-1]
    text = [f"# {record['title']}", "", *(f"- {k}: {record[k]}" for k in ("date", "device", "command", "commit")),
            f"- compiler under test: `{record['tcc_source']}` (Debian's source package), built with "
            f"`--coverage -O0 -g`, `make ONE_SOURCE=no` ({record['build_s']} s; 0 = reused)",
            f"- each program: `{record['tcc_command']}`, timeout {record['timeout_s']} s, {record['jobs']} in parallel",
            "", "Lines: lines executed. Branches: branches taken at least once (gcov -b). A program on which tcc "
            "crashes or times out adds no counts (the process dies before writing its .gcda). "
            "Union: a line or branch covered by any of the sets above it.", "",
            *table(all_rows(record)), "",
            "Reference rows: `tcc tests2 (compile only)` compiles tcc's tests/tests2/*.c the same way as the sets; "
            "`tcc: make -k test` runs tcc's whole test suite in the coverage build "
            f"(failed targets: {', '.join(make_test['outcomes']['failed_targets']) or 'none'}).", "",
            "Seconds (compiling the set; for make test, the whole suite): " + ", ".join(f"{r['set']} {r['seconds']}"
                                                      for r in record["sets"] + record["reference"]) + ".",
            "", "Most common failures (tcc's first error line, file and line number cut):", ""]
    for row in record["sets"] + record["reference"][:1]:
        text += [f"- {row['set']}: " + ("; ".join(f"`{m}` x{k}" for m, k in row["top_failures"]) or "none")]
    common.write_report(out, text)
    write_json(common.record_path(out), record)


def programs_in(folder: Path, n: int) -> list[Path]:
    if not folder.is_dir():
        sys.exit(f"{folder}: not a folder")
    folder = folder.resolve()  # tcc runs in a scratch folder
    programs = sorted(folder.rglob("*.c"), key=lambda p: str(p.relative_to(folder)))[:n]
    if not programs:
        sys.exit(f"{folder}: no .c files")
    return programs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=DIR",
                        help="a program set: the first --n .c files under DIR, by name (repeatable)")
    parser.add_argument("--n", type=int, default=1000, help="programs per set")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "tcc-coverage", help="the tcc build")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per compile")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=common.RESULTS / "fuzzing_coverage",
                        help="writes OUT.md and raw/OUT.json beside it")
    args = parser.parse_args()
    sets = [s.split("=", 1) for s in args.set]
    if any(len(s) != 2 for s in sets):
        sys.exit("--set takes NAME=DIR")
    program_sets = [(name, programs_in(Path(folder), args.n)) for name, folder in sets]

    build, build_s = build_tcc(args.work)
    rows, coverages = [], []
    for name, programs in program_sets:
        row, coverage = measure_set(build, name, programs, args.timeout, args.jobs)
        rows.append(row)
        coverages.append(coverage)
    union_row = None
    if coverages:
        union_row = {"set": "union of the sets", "programs": sum(r["programs"] for r in rows),
                     "outcomes": dict(sum((Counter(r["outcomes"]) for r in rows), Counter())), "seconds": None,
                     "coverage": summarize(union(coverages))}
    tests2 = sorted((build / "tests" / "tests2").glob("*.c"))
    reference = [measure_set(build, "tcc tests2 (compile only)", tests2, args.timeout, args.jobs)[0],
                 measure_make_test(build, args.work / "make-test.log")]

    record = {**provenance(), "title": "Coverage of tcc reached by C program sets", "tcc_source": build.name,
              "build_s": round(build_s, 1), "timeout_s": args.timeout, "jobs": args.jobs, "n": args.n,
              "tcc_command": f"tcc -B<build> -I{CSMITH_INCLUDE} -c PROGRAM -o <scratch>/<i>.o",
              "sets": rows, "union": union_row, "reference": reference}
    write_report(args.out, record)
    for line in table(all_rows(record)):
        print(line)
    print(f"wrote {args.out.with_suffix('.md')} and {common.record_path(args.out)}")


if __name__ == "__main__":
    main()
