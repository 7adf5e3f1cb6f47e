"""Training corpora of C programs: any folder of .c files, and the GCC torture suite from Debian.

``build_corpus`` reads a folder, drops what is not a small UTF-8 C text (counted by reason),
normalizes each program (``normalize``: the preprocessor removes comments and macros, system
``#include`` lines are kept, identifiers are optionally renamed), keeps the programs that compile on
the host, drops duplicates, and writes one normalized file per program plus ``corpus.json`` with
the counts.

``fetch_gcc_tests`` gives the ready recipes: Debian's gcc-12-source package ships the GCC sources
as a tarball; its ``gcc/testsuite/gcc.c-torture/{compile,execute}`` hold about 3,700 small programs
written to break compilers, and ``gcc.dg`` and ``c-c++-common`` about 17,000 more tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gensdk.core.io import atomic_write, write_json
from gensdk.errors import UserError

from .lexer import rename_identifiers, render, tokenize
from .sandbox import Limits, Sandbox

GCC_SOURCE_PACKAGE = "gcc-12-source"
# Ready recipes: parts of gcc/testsuite in Debian's gcc-12-source. The torture suite (about 3,700
# programs) is the classic; the whole C test suite adds gcc.dg and c-c++-common (about 17,000 more,
# many of which test diagnostics and so do not compile: the compile filter drops them).
RECIPES = {
    "gcc-torture": ("gcc.c-torture/compile", "gcc.c-torture/execute"),
    "gcc-testsuite": ("gcc.c-torture/compile", "gcc.c-torture/execute", "gcc.dg", "c-c++-common"),
}
MAX_BYTES = 64 * 1024  # a torture program is a few KB; a bigger file is generated or vendored code
REPORT = "corpus.json"
SYSTEM_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*<[^>\n]+>", re.M)
COMPILE = ("gcc", "-c", "-w", "-O0")
COMPILE_LIMITS = Limits(seconds=20, memory_mb=2048)


@dataclass
class CorpusReport:
    """How many files were read, kept, and dropped for each reason."""

    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
        return f"{self.kept} of {self.read} kept" + (f" (dropped: {reasons})" if reasons else "")

    def to_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "dropped": dict(sorted(self.dropped.items()))}


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> tuple[str | None, str]:
    """``(text, "")`` for a small UTF-8 text file, else ``(None, reason)``: empty, too-large,
    binary (NUL bytes or mostly control characters), not-utf8 or unreadable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, "too-large"
        data = path.read_bytes()
    except OSError:
        return None, "unreadable"
    if not data.strip():
        return None, "empty"
    control = sum(b < 32 and b not in (9, 10, 11, 12, 13) for b in data)
    if b"\0" in data or control > max(2, len(data) // 100):
        return None, "binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not-utf8"


def c_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*.c") if p.is_file())


def normalize(source: str, rename: bool = True, box: Sandbox | None = None) -> str | None:
    """``source`` preprocessed without its headers (comments and macros gone; the system
    ``#include`` lines put back on top, local ones dropped), tokenized and printed one statement a
    line; identifiers renamed when ``rename``. None when the preprocessor rejects it."""
    includes = list(dict.fromkeys(" ".join(m.split()) for m in SYSTEM_INCLUDE.findall(source)))
    body = re.sub(r"^[ \t]*#[ \t]*include\b.*$", "", source, flags=re.M)
    if box is None:
        with Sandbox() as own:
            return normalize(source, rename, own)
    box.write("in.c", body)
    out = box.run(["gcc", "-E", "-P", "-w", "-x", "c", "in.c"], COMPILE_LIMITS)
    if not out.ok:
        return None
    text = "\n".join(includes) + "\n" + out.stdout.decode("utf-8", "surrogateescape")
    return rename_identifiers(text) if rename else render(tokenize(text))


def compiles(source: str, box: Sandbox, argv: tuple[str, ...] = COMPILE) -> bool:
    """Whether ``argv`` (gcc -c by default) turns ``source`` into an object file, in ``box``."""
    box.write("prog.c", source)
    return box.run([*argv, "prog.c", "-o", "prog.o"], COMPILE_LIMITS).ok


def _prepare(path: Path, rename: bool) -> tuple[str | None, str]:
    text, reason = read_text(path)
    if text is None:
        return None, reason
    with Sandbox() as box:
        normal = normalize(text, rename, box)
        if normal is None:
            return None, "preprocessor-error"
        if not normal.strip() or len(normal.encode()) > MAX_BYTES:  # all under #if 0, or macros that explode
            return None, "empty-when-preprocessed" if not normal.strip() else "too-large-when-preprocessed"
        if not compiles(normal, box):
            return None, "does-not-compile"
    return normal, ""


def build_corpus(source: Path, out: Path, rename: bool = True, workers: int | None = None,
                 progress: bool = True) -> CorpusReport:
    """Normalize every .c file under ``source`` into ``out`` (same relative paths); see the module."""
    from tqdm.auto import tqdm

    files = c_files(source)
    if not files:
        raise UserError(f"{source}: no .c files")
    if out.exists() and any(out.iterdir()):
        if not (out / REPORT).is_file():
            raise UserError(f"{out}: exists and is not a gensdk corpus; choose an empty folder")
        shutil.rmtree(out)  # an earlier corpus: rebuilt whole, so no program of it lingers
    report = CorpusReport(read=len(files))
    seen: set[str] = set()
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:  # processes: lexing holds the GIL
        results = pool.map(_prepare, files, [rename] * len(files), chunksize=8)
        for path, (text, reason) in tqdm(zip(files, results), total=len(files), disable=not progress,
                                         desc="corpus", unit="file"):
            if text is None:
                report.dropped[reason] += 1
            elif text in seen:
                report.dropped["duplicate"] += 1
            else:
                seen.add(text)
                target = out / path.relative_to(source)
                atomic_write(target, lambda tmp, t=text: Path(tmp).write_text(t))
                report.kept += 1
    write_json(out / REPORT, {"source": str(source), "renamed": rename, **report.to_dict()})
    return report


def load_corpus(folder: Path) -> list[str]:
    """The programs of a corpus folder (normalized by ``build_corpus``, or any .c files: those that
    are not small UTF-8 text are skipped)."""
    programs = [text for text, _ in map(read_text, c_files(folder)) if text is not None]
    if not programs:
        raise UserError(f"{folder}: no readable .c files")
    return programs


def fetch_gcc_tests(dest: Path, recipe: str = "gcc-torture") -> Path:
    """Debian's gcc-12-source -> ``dest/<part>/...``: the .c files of the recipe's parts of the GCC
    test suite (``RECIPES``). Needs apt-get (and its package lists); returns ``dest``."""
    if recipe not in RECIPES:
        raise UserError(f"unknown corpus recipe {recipe!r} (known: {', '.join(RECIPES)})")
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise UserError(f"the {recipe} recipe needs Debian's apt-get and dpkg; give a folder of C files instead")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        got = subprocess.run(["apt-get", "download", GCC_SOURCE_PACKAGE], cwd=work, capture_output=True, text=True)
        debs = list(work.glob(f"{GCC_SOURCE_PACKAGE}_*.deb"))
        if not debs:
            last = (got.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"apt-get download {GCC_SOURCE_PACKAGE} failed: {last} (run apt-get update first?)")
        subprocess.run(["dpkg", "-x", str(debs[0]), str(work / "x")], check=True)
        tarballs = sorted((work / "x/usr/src").glob("gcc-*/gcc-*.tar.*"))
        if not tarballs:
            raise UserError(f"{debs[0].name}: no GCC source tarball inside")
        parts = RECIPES[recipe]
        subprocess.run(["tar", "-xf", str(tarballs[0]), "-C", str(work), "--wildcards",
                        *(f"*/gcc/testsuite/{part}/*.c" for part in parts)], check=True)
        suite = next(work.glob("gcc-*/gcc/testsuite"))
        dest.mkdir(parents=True, exist_ok=True)
        for part in parts:
            target = dest / part
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(suite / part, target)
    return dest
