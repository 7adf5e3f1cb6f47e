"""Differential testing of C programs: compile each with several compilers and levels, run the
binaries, compare what they do, and classify the program (``gensdk fuzzing run``).

Every compile and every run goes through the sandbox. One verdict per program, the first that holds:

- ``compiler-crash``: a compiler died of a signal, or reported an internal compiler error (gcc), a
  stack dump or "PLEASE submit a bug report" (clang), a failed assertion. Crashes are deduplicated by
  a key: the compiler family and the message (the ICE line, or the top frames of the stack dump)
  with paths, numbers and addresses normalized away, hashed.
- ``compiler-timeout``: a compiler hit a limit: wall clock, CPU, memory or file size.
- ``does-not-compile``: the reference compiler (the first one) rejects the program. Rejections by the
  other compilers alone are no verdict (gcc accepts much that clang rejects): the program is tested
  with the compilers that accepted it, and ``details["rejected_by"]`` names the others.
- ``timeout``: a binary ran past the limit.
- ``crash``: every binary ends the same way, with a signal or a nonzero status (an abort(), say): the
  program's fault, not a compiler's.
- ``nondeterministic``: the binaries disagree, and one of them, run again, disagrees with itself (an
  address printed or hashed, uninitialized stack, the clock): the program's fault.
- ``undefined-behaviour`` / ``miscompilation-candidate``: the binaries disagree (stdout, exit status
  or signal), each the same way every run. Builds with UBSan and ASan (gcc), then MemorySanitizer
  (clang: reads of uninitialized memory), at -O0 then run it: a sanitizer report makes it undefined
  behaviour; clean runs make it a candidate (``details["ub_screen"]`` says "clean", or why the
  screen was inconclusive: such candidates are kept, marked).
- ``ok``: every binary agrees.
- ``unreadable`` (campaigns only): the program file could not be read.

A campaign (``run_campaign``) writes to its folder: ``results.jsonl``, one line per program appended
as each finishes (``--resume`` skips the programs listed there); ``summary.json``; and for each
distinct compiler crash and each miscompilation candidate a folder ``crashes/<key>/`` or
``miscompilations/<key>/`` with ``program.c``, ``stderr.txt`` or ``stdout-<compiler>.txt``,
``command.txt`` (the commands that reproduce it), ``report.json`` and, after reduction with cvise,
``reduced.c``. Candidates are keyed by their program's hash: telling two of them apart as the same
bug takes a reduction, not a message.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

from gensdk.core.executor import Backend
from gensdk.core.io import atomic_write, write_folder, write_json
from gensdk.errors import UserError

from .baselines import CSMITH_INCLUDE
from .sandbox import Limits, Outcome, Sandbox, parallel


@dataclass(frozen=True)
class Compiler:
    name: str  # e.g. "gcc-O0"
    argv: tuple[str, ...]  # e.g. ("gcc", "-O0"); the harness adds -w, include flags, source, -o exe, -lm

    @property
    def family(self) -> str:  # "gcc" for "gcc-O2": crashes of one compiler at any level share keys
        return self.name.split("-")[0]


DEFAULT_COMPILERS = (Compiler("gcc-O0", ("gcc", "-O0")), Compiler("gcc-O2", ("gcc", "-O2")),
                     Compiler("clang-O0", ("clang", "-O0")), Compiler("clang-O2", ("clang", "-O2")),
                     Compiler("tcc", ("tcc",)))  # tcc has no optimization levels
# The UB screen's builds, in order: gcc's UBSan + ASan, then clang's MemorySanitizer (optional).
SANITIZERS = (("gcc", "-O0", "-fsanitize=undefined,address", "-fno-sanitize-recover=all", "-g"),
              ("clang", "-O0", "-fsanitize=memory", "-fno-sanitize-recover=all", "-g"))
COMPILE_LIMITS = Limits(seconds=30, memory_mb=2048)
RUN_LIMITS = Limits(seconds=5, memory_mb=1024, file_mb=16)
SOURCE = "program.c"
MAX_SOURCE = 16 << 20  # bytes: a larger "program" is junk, counted as unreadable
VERDICTS = ("compiler-crash", "compiler-timeout", "does-not-compile", "timeout", "crash", "nondeterministic",
            "undefined-behaviour", "miscompilation-candidate", "ok", "unreadable")
FOLDERS = {"compiler-crash": "crashes", "miscompilation-candidate": "miscompilations"}

# A compiler that crashed says so in one of these ways.
CRASH_TEXT = re.compile(r"internal compiler error|PLEASE submit a bug report|^Stack dump:|Assertion .* failed", re.M)
# ... but these are our limits killing it (cc1 killed for CPU time, out of address space), not a bug.
LIMIT_TEXT = re.compile(r"(Killed|CPU time limit exceeded|File size limit exceeded) signal terminated program"
                        r"|out of memory|virtual memory exhausted|Cannot allocate memory", re.I)
LIMIT_SIGNALS = {signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ}
SANITIZER_TEXT = re.compile(r"runtime error:|(?:ERROR|WARNING): \w*Sanitizer|SUMMARY: \w*Sanitizer")
# A backtrace line: clang's " #3 0x7f.. fn(args) (module+0x..)", gcc's "0x1234 fn(args)".
FRAME = re.compile(r"^\s*(?:#\d+\s+)?0x[0-9a-fA-F]+\s+(.+)$", re.M)
# Frames that every crash shares: the handlers that printed the report, libc.
GENERIC_FRAME = re.compile(r"PrintStackTrace|SignalHandler|CrashRecoveryContext|__restore_rt|crash_signal|"
                           r"fancy_abort|internal_error|libc\.so|^(?:_start|raise|abort|__libc_start\w*|__GI_\w+)\b")


@dataclass
class ProgramResult:
    verdict: str
    message: str = ""  # one line: the crash, the first error, the sanitizer's report, the disagreement
    key: str | None = None  # the crash's or the candidate's id: its report folder's name
    details: dict = field(default_factory=dict)  # per compiler: compile and run status, output digest
    files: dict[str, bytes] = field(default_factory=dict)  # the report folder (crashes and candidates)

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "message": self.message, "key": self.key, "details": self.details}


def available_compilers(names: Sequence[str] | None = None) -> list[Compiler]:
    """The compilers named (default: all of DEFAULT_COMPILERS) whose executable is on PATH."""
    known = {c.name: c for c in DEFAULT_COMPILERS}
    for name in names or ():
        if name not in known:
            raise UserError(f"unknown compiler {name!r}; known: {', '.join(known)}")
    wanted = [known[n] for n in names] if names is not None else list(DEFAULT_COMPILERS)
    found = [c for c in wanted if shutil.which(c.argv[0])]
    if not found:
        raise UserError(f"none of the compilers {', '.join(c.name for c in wanted)} is on PATH")
    return found


def include_flags() -> list[str]:
    """Csmith's programs #include "csmith.h": its folder, where installed."""
    return [f"-I{CSMITH_INCLUDE}"] if CSMITH_INCLUDE.is_dir() else []


def compile_command(argv: Sequence[str], output: str) -> list[str]:
    return [*argv, "-w", *include_flags(), SOURCE, "-o", output, "-lm"]


def test_program(source: str | bytes, compilers: Sequence[Compiler], compile_limits: Limits = COMPILE_LIMITS,
                 run_limits: Limits = RUN_LIMITS, screen_ub: bool = True, compile_only: bool = False) -> ProgramResult:
    """Compile ``source`` with each compiler (the first is the reference), run the binaries, classify.
    ``details["compilers"][name]`` holds each compiler's compile status (and first error line) and its
    binary's run status and output digest; the rest of ``details`` explains the verdict."""
    if not compilers:
        raise UserError("no compilers to test with")
    source = source.encode() if isinstance(source, str) else source
    per = {c.name: {} for c in compilers}
    details: dict = {"compilers": per}
    with Sandbox() as box:
        box.write(SOURCE, source)
        compiled = []  # (compiler, status, message, outcome), in the compilers' order
        for i, compiler in enumerate(compilers):
            outcome = box.run(compile_command(compiler.argv, f"exe-{i}"), compile_limits)
            status, message = _compile_status(outcome)
            compiled.append((compiler, status, message, outcome))
            per[compiler.name].update(compile=status, compile_seconds=round(outcome.seconds, 3))
            if status == "error":
                per[compiler.name]["error"] = message

        for compiler, status, message, outcome in compiled:
            if status == "crash":
                key = f"{compiler.family}-{_digest(_normalize(message).encode(), 10)}"
                files = {SOURCE: source, "stderr.txt": outcome.stderr,
                         "command.txt": _command_text([compile_command(compiler.argv, "program")])}
                return ProgramResult("compiler-crash", message, key, {**details, "crashed": compiler.name}, files)
        for compiler, status, message, outcome in compiled:
            if status == "timeout":
                return ProgramResult("compiler-timeout", f"{compiler.name}: {message}", None, details)
        if compiled[0][1] == "error":
            return ProgramResult("does-not-compile", compiled[0][2], None, details)
        details["rejected_by"] = [c.name for c, status, _, _ in compiled if status == "error"]
        if compile_only:
            return ProgramResult("ok", "", None, details)

        runs = {}  # compiler name -> the run of its binary
        for i, (compiler, status, _, _) in enumerate(compiled):
            if status != "ok":
                continue
            outcome = runs[compiler.name] = box.run([f"./exe-{i}"], run_limits)
            per[compiler.name].update(run=outcome.status, output=_digest(outcome.stdout, 16),
                                      run_seconds=round(outcome.seconds, 3))
            if outcome.timed_out:  # decides the verdict: the other binaries need not run
                return ProgramResult("timeout", f"{compiler.name}: ran past {run_limits.seconds:g} s", None, details)

        groups: dict[tuple, list[str]] = {}  # behaviour -> the compilers whose binaries showed it
        for name, outcome in runs.items():
            groups.setdefault((outcome.stdout, outcome.status), []).append(name)
        if len(groups) == 1:
            ((_, status),) = groups
            if status == "exit 0":
                return ProgramResult("ok", "", None, details)
            return ProgramResult("crash", f"every binary: {status}", None, details)

        details["partition"] = list(groups.values())
        for i, (compiler, status, _, _) in enumerate(compiled):
            if status == "ok" and compiler.name in runs:
                again = box.run([f"./exe-{i}"], run_limits)
                if (again.stdout, again.status) != (runs[compiler.name].stdout, runs[compiler.name].status):
                    return ProgramResult("nondeterministic", f"{compiler.name}: two runs of one binary differ", None,
                                         details)
        disagreement = " vs ".join(f"{'+'.join(names)}: {status}" for (_, status), names in groups.items())
        screen, report = _screen(box, run_limits, compile_limits) if screen_ub else ("skipped", "")
        details["ub_screen"] = screen
        if screen == "flagged":
            return ProgramResult("undefined-behaviour", report, None, details)
        commands = [[*compile_command(c.argv, c.name), "&&", f"./{c.name}"] for c, status, _, _ in compiled
                    if status == "ok"]
        files = {SOURCE: source, "command.txt": _command_text(commands),
                 **{f"stdout-{name}.txt": outcome.stdout for name, outcome in runs.items()}}
        return ProgramResult("miscompilation-candidate", f"outputs differ: {disagreement}", _digest(source, 12),
                             details, files)


test_program.__test__ = False  # pytest: a library function, wherever a test module imports it


def _compile_status(outcome: Outcome) -> tuple[str, str]:
    """("ok" | "error" | "timeout" | "crash", message): the first error line, or the crash message."""
    text = outcome.stderr.decode("utf-8", "replace")
    if outcome.timed_out or outcome.signal in LIMIT_SIGNALS:
        return "timeout", outcome.status
    if m := LIMIT_TEXT.search(text):
        return "timeout", text[text.rfind("\n", 0, m.start()) + 1:].split("\n")[0].strip()  # the line
    if outcome.signal is not None or CRASH_TEXT.search(text):
        return "crash", _crash_message(text, outcome)
    if outcome.returncode != 0:
        lines = [line for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if re.search(r"\berror\b", line)]
        return "error", (errors or lines or [outcome.status])[0].strip()
    return "ok", ""


def _crash_message(text: str, outcome: Outcome) -> str:
    """What identifies a crash: a failed assertion's line, or gcc's "internal compiler error: in X, at
    file:line"; where that names no place (a segfault), the top frames of the backtrace follow; with
    neither, the innermost "Running pass" of clang's stack dump, else the signal."""
    head = re.search(r"^.*Assertion .* failed.*$|internal compiler error:?.*$", text, re.M)
    head = head.group(0).strip() if head else ""
    if "Assertion" in head or " at " in head:
        return head
    frames = []
    for m in FRAME.finditer(text):
        frame = re.sub(r"\s*\(\S*\+0x[0-9a-fA-F]+\)$", "", m.group(1)).strip()  # clang's "(module+offset)"
        if frame and frame != "???" and not GENERIC_FRAME.search(frame):
            frames.append(frame)
    if head or frames:
        return " | ".join(([head] if head else []) + frames[:3])
    passes = re.findall(r"^\d+\.\s+(Running pass .*|.*parser at .*)$", text, re.M)
    if passes:
        return passes[-1]  # the innermost: the pass that was running
    return f"killed by {outcome.status.split()[-1]}" if outcome.signal else "crash report without details"


def _normalize(message: str) -> str:
    """The parts of a crash message that differ between two programs hitting the same bug go."""
    message = re.sub(r"(?:[\w.+-]*/)+([\w.+-]+)", r"\1", message)  # paths: only the file name stays
    message = re.sub(r"'@?[A-Za-z_]\w*'", "'F'", message)  # the program's own function names (clang)
    message = re.sub(r"0x[0-9a-fA-F]+", "0x", message)  # addresses
    message = re.sub(r"\d+", "N", message)  # line and column numbers, sizes, counts
    return " ".join(message.split())


def _screen(box: Sandbox, run_limits: Limits, compile_limits: Limits) -> tuple[str, str]:
    """Build with each of ``SANITIZERS`` whose compiler is on PATH, at -O0, and run: ("flagged", the
    first report line), ("clean", "") or ("inconclusive: why", "")."""
    if not shutil.which(SANITIZERS[0][0]):
        return f"inconclusive: {SANITIZERS[0][0]} not on PATH", ""
    # ASan and MSan reserve terabytes of shadow address space: no RLIMIT_AS; their own RSS limit instead.
    memory = run_limits.memory_mb or 4096
    limits = replace(run_limits, memory_mb=None, seconds=2 * run_limits.seconds)
    env = {"ASAN_OPTIONS": f"detect_leaks=0:hard_rss_limit_mb={memory}", "MSAN_OPTIONS": f"hard_rss_limit_mb={memory}"}
    for i, argv in enumerate(SANITIZERS):
        if i and not shutil.which(argv[0]):
            continue  # MemorySanitizer is a bonus where clang is installed
        built = box.run(compile_command(argv, "exe-sanitized"), compile_limits)
        if not built.ok:
            return f"inconclusive: {argv[0]} sanitizer build {built.status}", ""
        ran = box.run(["./exe-sanitized"], limits, env=env)
        text = ran.stderr.decode("utf-8", "replace")
        if m := SANITIZER_TEXT.search(text):
            line = next(line for line in text.splitlines() if m.group(0) in line)
            return "flagged", line.strip()
        if ran.timed_out:
            return f"inconclusive: {argv[0]} sanitized run timeout", ""
    return "clean", ""


def _digest(data: bytes, n: int) -> str:
    return hashlib.sha256(data).hexdigest()[:n]


def _command_text(commands: list[list[str]]) -> bytes:
    return "".join(" ".join(a if a == "&&" else shlex.quote(a) for a in cmd) + "\n" for cmd in commands).encode()


# ---- campaigns ---------------------------------------------------------------------------------------


def run_campaign(programs: Sequence[Path], out_dir: Path, compilers: Sequence[Compiler] | None = None,
                 workers: int | None = None, resume: bool = False, reduce: bool = False, progress: bool = True,
                 compile_only: bool = False, screen_ub: bool = True, compile_limits: Limits = COMPILE_LIMITS,
                 run_limits: Limits = RUN_LIMITS, reduce_seconds: float = 300, backend: Backend | None = None) -> dict:
    """Test every program in parallel (``workers`` local processes, or on the Ray cluster of ``backend``: one
    task per program, retried by Ray if its node dies), writing results, reports and a summary under
    ``out_dir``; returns the summary (``summary["verdicts"]``: the count of each verdict). Only this process
    writes: a program's line in results.jsonl and its report folder come from its task's returned result."""
    compilers = list(compilers) if compilers is not None else available_compilers()
    if not compilers:
        raise UserError("no compilers to test with")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not resume:
        raise UserError(f"{out_dir}: not empty; use --resume to continue the run there, or name a new folder")
    settings = {"compilers": [[c.name, list(c.argv)] for c in compilers], "compile_only": compile_only,
                "screen_ub": screen_ub, "compile_limits": asdict(compile_limits), "run_limits": asdict(run_limits)}
    settings_path = out_dir / "campaign.json"
    if settings_path.exists() and json.loads(settings_path.read_text()) != settings:
        raise UserError(f"{out_dir}: was run with other compilers or limits ({settings_path}); name a new folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out_dir}: cannot create the folder ({e.strerror})") from None
    write_json(settings_path, settings)

    results_path = out_dir / "results.jsonl"
    done = _read_results(results_path)
    # Rewrite without a line cut short by a kill, so that appending starts on a fresh line.
    atomic_write(results_path, lambda tmp: Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in done.values())))
    todo = [p for p in dict.fromkeys(os.path.abspath(p) for p in programs) if p not in done]
    test = functools.partial(_test_file, compilers=tuple(compilers), compile_limits=compile_limits,
                             run_limits=run_limits, screen_ub=screen_ub, compile_only=compile_only)
    start = time.monotonic()
    # The pool first: forking after tqdm has started its monitor thread would fork a threaded process.
    with parallel(workers, backend=backend) as imap, open(results_path, "a") as log, \
            _progress(len(todo), progress, "test") as bar:
        found = Counter()
        for path, result in imap(test, todo):
            if result.key and result.verdict in FOLDERS:  # the folder first: a listed program has its report
                _save_report(out_dir / FOLDERS[result.verdict] / result.key, result, settings)
            log.write(json.dumps({"program": path, **result.to_json()}) + "\n")
            log.flush()
            found[result.verdict] += 1
            bar.update()
            bar.set_postfix({v: found[v] for v in FOLDERS if found[v]}, refresh=False)
    seconds = time.monotonic() - start
    if reduce:
        _reduce_all(out_dir, reduce_seconds, progress)

    records = _read_results(results_path).values()
    keys = {v: {r["key"] for r in records if r["verdict"] == v} for v in FOLDERS}
    summary = {"programs": len(records), "verdicts": {v: sum(r["verdict"] == v for r in records) for v in VERDICTS},
               "compiler_crashes": len(keys["compiler-crash"]),
               "miscompilation_candidates": len(keys["miscompilation-candidate"]),
               "compilers": [c.name for c in compilers], "tested_now": len(todo), "seconds": round(seconds, 2),
               "programs_per_second": round(len(todo) / seconds, 3) if seconds > 0 else None}
    write_json(out_dir / "summary.json", summary)
    return summary


def _test_file(path: str, **options) -> tuple[str, ProgramResult]:
    try:
        with open(path, "rb") as f:
            source = f.read(MAX_SOURCE + 1)  # bytes: non-UTF-8 programs go to the compilers as they are
    except OSError as e:
        return path, ProgramResult("unreadable", f"{path}: {e.strerror}")
    if len(source) > MAX_SOURCE:
        return path, ProgramResult("unreadable", f"{path}: larger than {MAX_SOURCE >> 20} MiB")
    return path, test_program(source, **options)


def _read_results(path: Path) -> dict[str, dict]:
    """program -> its result line; a line cut short by a kill is dropped (the program runs again)."""
    done = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
                done[record["program"]] = record
            except (ValueError, KeyError, TypeError):
                pass
    return done


def _save_report(folder: Path, result: ProgramResult, settings: dict) -> None:
    if folder.exists():
        return  # the same crash (or program) met before: one folder per key
    report = {**result.to_json(), "settings": settings}
    files = {**result.files, "report.json": (json.dumps(report, indent=2) + "\n").encode()}
    write_folder(folder, {name: functools.partial(_write_bytes, data=data) for name, data in files.items()})


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


class _progress:
    """A tqdm bar on stderr, or nothing (tqdm is only imported when a bar is wanted)."""

    def __init__(self, total: int, show: bool, desc: str):
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="program", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def update(self):
        if self.bar is not None:
            self.bar.update()

    def set_postfix(self, values: dict, refresh: bool = True):
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=refresh)


# ---- reduction -----------------------------------------------------------------------------------------


def _reduce_all(out_dir: Path, seconds: float, progress: bool) -> None:
    """cvise each report folder without a reduced.c yet (so --resume finishes a killed reduction)."""
    if not shutil.which("cvise"):
        print("cvise is not on PATH: no reduction", file=sys.stderr)
        return
    folders = sorted(f for name in FOLDERS.values() for f in (out_dir / name).glob("*/")
                     if (f / "report.json").exists() and not (f / "reduced.c").exists())
    with _progress(len(folders), progress, "reduce") as bar:
        for folder in folders:
            reduce_report(folder, seconds)
            bar.update()


def reduce_report(folder: Path, seconds: float = 300) -> bool:
    """Reduce ``folder/program.c`` with cvise to ``folder/reduced.c``: the interestingness test reruns
    the harness on each candidate (every compile and run sandboxed) and keeps it while it still shows
    the same crash key, or the same disagreement with a clean UB screen. cvise itself only edits
    text; it runs in its own session and scratch folder, killed after ``seconds``."""
    root = Path(__file__).resolve().parents[2]  # above gensdk_plugins in a wheel install (an editable one finds it)
    with tempfile.TemporaryDirectory(prefix="gensdk-reduce-") as scratch:
        work = Path(scratch)
        shutil.copy(folder / SOURCE, work / SOURCE)
        script = work / "interesting.sh"
        script.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} exec "
                          f"{shlex.quote(sys.executable)} -m gensdk_plugins.fuzzing.harness "
                          f"{shlex.quote(str(folder / 'report.json'))} {SOURCE}\n")
        script.chmod(0o755)
        proc = subprocess.Popen(["cvise", "--n", str(os.cpu_count() or 1), str(script), SOURCE], cwd=work,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "TMPDIR": scratch}, start_new_session=True)
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:  # TERM first: the interestingness tests then close their sandboxes
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, None)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
        reduced = (work / SOURCE).read_bytes()
        # cvise keeps the best program so far in the file; stopped midway, check that it still is.
        if reduced == (folder / SOURCE).read_bytes() or not still_interesting(folder / "report.json", reduced):
            return False
        atomic_write(folder / "reduced.c", lambda tmp: Path(tmp).write_bytes(reduced))
        return True


def still_interesting(report_path: Path, source: bytes) -> bool:
    """Does ``source`` show what the report shows: the same crash key, or the same disagreement
    between the same compilers with a clean UB screen?"""
    report = json.loads(Path(report_path).read_text())
    settings = report["settings"]
    compilers = [Compiler(name, tuple(argv)) for name, argv in settings["compilers"]]
    limits = {"compile_limits": Limits(**settings["compile_limits"]), "run_limits": Limits(**settings["run_limits"])}
    if report["verdict"] == "compiler-crash":
        crashed = [c for c in compilers if c.name == report["details"]["crashed"]]
        result = test_program(source, crashed, compile_only=True, **limits)
        return result.verdict == "compiler-crash" and result.key == report["key"]
    result = test_program(source, compilers, screen_ub=True, **limits)
    before, now = report["details"], result.details
    return (result.verdict == "miscompilation-candidate" and now["partition"] == before["partition"]
            and now["ub_screen"] in ("clean", before["ub_screen"]))


if __name__ == "__main__":  # cvise's interestingness test: exit 0 when the program is still interesting
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # unwind through the sandbox when cvise is stopped
    sys.exit(0 if still_interesting(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()) else 1)
