"""Token dictionaries for AFL++ (``-x``) and libFuzzer (``-dict=``): one ``name="value"`` a line.

Both fuzzers read the same format: a keyword name, ``=``, and a double-quoted value in which ``\\``,
``"`` and bytes outside printable ASCII are escaped as ``\\\\``, ``\\"`` and ``\\xNN``. The tokens
come from C itself (keywords, operators, punctuation) and from a model's vocabulary or a set of
programs (the frequent identifiers, literals and directives that make a program look like C).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from gensdk.core.io import atomic_write

from .lexer import CONTINUE, KEYWORDS, tokenize

PUNCTUATORS = """[ ] ( ) { } . -> ++ -- & * + - ~ ! / % << >> < > <= >= == != ^ | && || ? : ; ... = *= /= %= += -=
<<= >>= &= ^= |= , # ##""".split()
MAX_TOKEN = 128  # AFL++ ignores longer dictionary entries (MAX_DICT_FILE)


def escape(value: str) -> str:
    out = []
    for byte in value.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def dictionary_entries(tokens: Iterable[str]) -> list[str]:
    """``name="value"`` lines for ``tokens`` (first occurrence wins; names are unique and tell
    the kind: kw_, op_, tok_)."""
    lines, seen = [], set()
    for tok in tokens:
        piece = tok.startswith(CONTINUE) and tok not in PUNCTUATORS  # a spelled literal's piece, not the ## operator
        if not tok or tok in seen or piece or len(tok.encode()) > MAX_TOKEN:
            continue
        seen.add(tok)
        kind = "kw" if tok in KEYWORDS else "op" if tok in PUNCTUATORS else "tok"
        lines.append(f'{kind}_{len(lines):04d}="{escape(tok)}"')
    return lines


def frequent_tokens(programs: Iterable[str], limit: int = 500) -> list[str]:
    """The ``limit`` most frequent tokens of ``programs`` (ties broken by the token, so the result is
    reproducible)."""
    counts = Counter(tok for text in programs for tok in tokenize(text))
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def write_dictionary(path: Path, tokens: Iterable[str]) -> int:
    """C's keywords and punctuators, then ``tokens``, as a dictionary file; returns the entry count."""
    lines = dictionary_entries([*sorted(KEYWORDS), *PUNCTUATORS, *tokens])
    header = "# gensdk fuzzing dictionary: C tokens for AFL++ (-x) and libFuzzer (-dict=)\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(header + "\n".join(lines) + "\n"))
    return len(lines)


_ENTRY = re.compile(r'^[A-Za-z0-9_]*="((?:[^"\\]|\\.)*)"$')


def read_dictionary(path: Path) -> list[bytes]:
    """The values of a dictionary file (comments and blank lines skipped), unescaped."""
    values = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        if not match:
            raise ValueError(f"{path}: not a dictionary line: {line!r}")
        values.append(re.sub(rb"\\x([0-9a-fA-F]{2})|\\(.)",
                             lambda m: bytes([int(m[1], 16)]) if m[1] else m[2], match[1].encode()))
    return values
