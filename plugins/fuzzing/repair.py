"""Repair by deletion: a part of a generated program that gcc accepts, found by cutting out, greedily,
what it rejects.

A sampled program that fails to compile often holds much that is sound around a few broken
statements (the base model's repaired samples keep a median 62% of their bytes:
benchmarks/results/fuzzing.md); throwing it away (rejection sampling) wastes that. ``repair`` compiles the runnable
program (``make_runnable``: headers, checksum report, ``main``) with the corpus's ``gcc -c``, and
deletes the innermost statement of a block, or top-level item, that holds the line of the first
error in each top-level item of the generated text (later errors in the same item are mostly
gcc's recovery from the first). Deleting a declaration makes its uses fail in the next round, so
those go too. It stops when gcc accepts the program (the result compiles by
construction), after ``ROUNDS`` rounds, or when an error points before the generated text (into
the headers added) or nothing is left to delete.

Generated programs are printed one statement per line (``lexer.render``), so a line number names
one statement. No maintained library repairs C this way (C-Reduce and cvise shrink a program
while keeping a property; here the property is only "compiles", and the goal is to keep as much
as possible), hence this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .corpus import COMPILE, COMPILE_LIMITS
from .lexer import parse, walk
from .program import runnable_parts
from .sandbox import Sandbox

ROUNDS = 20
ERROR_LINE = re.compile(rb"^prog\.c:(\d+):\d+: (?:fatal )?error:", re.M)


@dataclass
class Repaired:
    """A repaired runnable program (None: not repairable), the rounds of deletion it took (0: it
    compiled as it was) and the share of the generated text's bytes kept."""

    program: str | None
    rounds: int
    kept: float


def _units(root) -> list:
    """What may be deleted: top-level items, and the statements and declarations of each block (not
    the tokens the parser invented). The root is an ERROR node, not a translation_unit, when the
    parser could make nothing of the whole."""
    return [n for n in walk(root) if n.parent is not None and n.type not in ("{", "}") and n.end_byte > n.start_byte
            and (n.parent.id == root.id or n.parent.type == "compound_statement")]


def _cut(source: str, rows: set[int]) -> str | None:
    """``source`` without the innermost unit on the first of ``rows`` (0-based) in each top-level
    item (later errors in the same item are mostly the parser's recovery, not faults of their
    own); None where no row has a unit."""
    root = parse(source).root_node
    units = _units(root)
    firsts: dict[int, int] = {}  # top-level item -> its first error row
    for row in sorted(rows):
        item = next((n.id for n in root.children if n.start_point[0] <= row <= n.end_point[0]), row)
        firsts.setdefault(item, row)
    spans = []
    for row in firsts.values():
        holding = [n for n in units if n.start_point[0] <= row <= n.end_point[0]]
        if not holding:
            continue
        inner = min(holding, key=lambda n: n.end_byte - n.start_byte)
        spans.append((inner.start_byte, inner.end_byte))
    if not spans:
        return None
    data = source.encode("utf-8", "surrogateescape")
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:  # inside a unit already cut
            continue
        out.append(data[pos:max(pos, start)])
        pos = end + (data[end:end + 1] == b"\n")  # and its line, when it had one to itself
    out.append(data[pos:])
    return b"".join(out).decode("utf-8", "surrogateescape")


def repair(source: str, box: Sandbox, rounds: int = ROUNDS) -> Repaired:
    """``source`` (a generated program, not yet runnable) made runnable and cut until gcc accepts
    it; see the module."""
    size = len(source.encode("utf-8", "surrogateescape")) or 1
    for done in range(rounds + 1):
        head, body, tail = runnable_parts(source)
        program = head + body + tail
        box.write("prog.c", program)
        result = box.run([*COMPILE, "prog.c", "-o", "prog.o"], COMPILE_LIMITS)
        if result.ok:
            return Repaired(program, done, len(source.encode("utf-8", "surrogateescape")) / size)
        first, last = head.count("\n"), head.count("\n") + body.count("\n")  # the generated text's lines
        rows = {int(n) - 1 for n in ERROR_LINE.findall(result.stderr)}
        if done == rounds or not rows or min(rows) < first:
            break
        # an error in what follows the generated text comes from how that text ends (a declaration
        # left without its ';' swallows the report): its last line is cut
        cut = _cut(source, {min(r, last - 1) - first for r in rows})
        if cut is None or cut == source or not cut.strip():
            break
        source = cut
    return Repaired(None, done, 0.0)
