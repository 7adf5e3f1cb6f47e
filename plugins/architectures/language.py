"""The architecture description language: networks as directed acyclic graphs of named operations.

A description is plain text, one statement a line (``#`` starts a comment)::

    network small-cnn
    input x: image(1, 32, 32)
    c1 = conv(x, out=32, k=3)
    a1 = relu(c1)
    p1 = maxpool(a1, k=2)
    c2 = conv(p1, out=32, k=3)
    r = add(p1, c2)                 # a residual join
    g = gap(r)
    y = linear(g, out=10)
    output y

Grammar (EBNF; NAME is ``[A-Za-z_][A-Za-z0-9_.-]*``, NUMBER an integer or a decimal)::

    description = { [ statement ] [ comment ] newline } ;
    statement   = "network" NAME
                | "input" NAME ":" NAME "(" NUMBER { "," NUMBER } ")"
                | NAME "=" NAME "(" argument { "," argument } ")"
                | "output" NAME { "," NAME } ;
    argument    = NAME | NAME "=" value ;       (inputs first, then parameters)
    value       = NUMBER | "true" | "false" | NAME ;

Statements may come in any order; nodes form a graph through the names they read, and a cycle is an
error (``validate`` in ``compiler.py``). The JSON form (``to_json`` / ``from_json``) holds the same
fields. ``format_description`` prints the canonical text: ``parse(format(d)) == d`` for every
description, and ``format(parse(t)) == t`` for text already in canonical form.

Written here rather than with a parser library: the grammar is one statement per line, and the error
messages (line and column of the offending token) are the point.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from gensdk.errors import UserError

Value = Union[int, float, bool, str]
INPUT_KINDS = ("image", "vector", "sequence", "graph")  # image(C, H, W), vector(F), sequence(T, F), graph(F)
INPUT_RANK = {"image": 3, "vector": 1, "sequence": 2, "graph": 1}
KEYWORDS = ("network", "input", "output")

_TOKEN = re.compile(r"""
    (?P<space>[ \t]+)
  | (?P<comment>\#.*)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<punct>[=(),:])
""", re.VERBOSE)


class DescriptionError(UserError):
    """A fault in a description, located by line and column (1-based) or by node name."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source: str | None = None):
        self.line, self.column, self.source = line, column, source
        where = ", ".join(p for p in (source, line and f"line {line}", column and f"column {column}") if p)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Input:
    name: str
    kind: str
    dims: tuple[int, ...]
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    params: tuple[tuple[str, Value], ...] = ()
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)


@dataclass(frozen=True)
class Description:
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    name: str = ""

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.inputs] + [n.name for n in self.nodes]


# --- text ------------------------------------------------------------------------------------------
@dataclass
class _Token:
    kind: str
    text: str
    column: int


def _tokens(text: str, line: int, source: str | None) -> list[_Token]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise DescriptionError(f"unexpected character {text[position]!r}", line, position + 1, source)
        kind = match.lastgroup
        if kind == "comment":
            break
        if kind != "space":
            out.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    return out


class _Line:
    """The tokens of one line, read left to right, with errors at the token where reading failed."""

    def __init__(self, tokens: list[_Token], line: int, length: int, source: str | None):
        self.tokens, self.line, self.end, self.source, self.i = tokens, line, length + 1, source, 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, message: str, token: _Token | None = None) -> DescriptionError:
        token = token or self.peek()
        found = f"found {token.text!r}" if token else "found the end of the line"
        return DescriptionError(f"{message}, {found}", self.line, token.column if token else self.end, self.source)

    def take(self, kind: str, text: str | None = None, what: str | None = None) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            raise self.fail(f"expected {what or repr(text) if text else what or kind}")
        self.i += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == text:
            self.i += 1
            return True
        return False

    def done(self) -> None:
        if self.peek() is not None:
            raise self.fail("expected the end of the statement")


def _number(token: _Token) -> int | float:
    return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)


def _value(token: _Token) -> Value:
    if token.kind == "number":
        return _number(token)
    return {"true": True, "false": False}.get(token.text, token.text)


def parse(text: str, source: str | None = None) -> Description:
    """A description from its text form; a fault raises ``DescriptionError`` at its line and column."""
    name, inputs, nodes, outputs = "", [], [], []
    seen: dict[str, int] = {}

    def define(token: _Token, number: int) -> None:
        if token.text in KEYWORDS:
            raise DescriptionError(f"{token.text!r} is a keyword, not a name", number, token.column, source)
        if token.text in seen:
            raise DescriptionError(f"{token.text!r} is defined twice (first on line {seen[token.text]})",
                                   number, token.column, source)
        seen[token.text] = number

    for number, raw in enumerate(text.splitlines(), 1):
        reader = _Line(_tokens(raw, number, source), number, len(raw), source)
        first = reader.peek()
        if first is None:
            continue
        if first.kind == "name" and first.text == "network":
            reader.i += 1
            if name:
                raise DescriptionError("a description has one 'network' line", number, first.column, source)
            name = reader.take("name", what="the network's name").text
        elif first.kind == "name" and first.text == "input":
            reader.i += 1
            token = reader.take("name", what="the input's name")
            define(token, number)
            reader.take("punct", ":")
            kind = reader.take("name", what=f"an input kind ({', '.join(INPUT_KINDS)})")
            if kind.text not in INPUT_KINDS:
                raise reader.fail(f"expected an input kind ({', '.join(INPUT_KINDS)})", kind)
            reader.take("punct", "(")
            dims = []
            while True:
                dim = reader.take("number", what="a size")
                if not isinstance(_number(dim), int) or _number(dim) < 1:
                    raise reader.fail("expected a positive whole size", dim)
                dims.append(_number(dim))
                if not reader.accept(","):
                    break
            reader.take("punct", ")", what="',' or ')'")
            if len(dims) != INPUT_RANK[kind.text]:
                raise DescriptionError(f"{kind.text} takes {INPUT_RANK[kind.text]} size(s), got {len(dims)}",
                                       number, kind.column, source)
            inputs.append(Input(token.text, kind.text, tuple(dims), number, token.column))
        elif first.kind == "name" and first.text == "output":
            reader.i += 1
            while True:
                outputs.append((reader.take("name", what="a node name"), number))
                if not reader.accept(","):
                    break
        else:
            token = reader.take("name", what="a statement (network, input, output or NAME = op(...))")
            define(token, number)
            reader.take("punct", "=")
            op = reader.take("name", what="an operation name")
            reader.take("punct", "(")
            reads, params = [], []
            if not reader.accept(")"):
                while True:
                    argument = reader.peek()
                    if argument is None or argument.kind not in ("name", "number"):
                        raise reader.fail("expected an input name or key=value")
                    reader.i += 1
                    if reader.accept("="):
                        if argument.kind != "name":
                            raise reader.fail("expected a parameter name", argument)
                        value = reader.peek()
                        if value is None or value.kind not in ("name", "number"):
                            raise reader.fail("expected a value")
                        reader.i += 1
                        if argument.text in dict(params):
                            raise reader.fail(f"parameter {argument.text!r} given twice", argument)
                        params.append((argument.text, _value(value)))
                    elif params:
                        raise reader.fail("expected key=value (inputs come before parameters)", argument)
                    elif argument.kind == "number":
                        raise reader.fail("expected an input name (a number needs key=)", argument)
                    else:
                        reads.append(argument.text)
                    if reader.accept(")"):
                        break
                    reader.take("punct", ",", what="',' or ')'")
            nodes.append(Node(token.text, op.text, tuple(reads), tuple(params), number, token.column))
        reader.done()
    if not inputs:
        raise DescriptionError("a description needs at least one 'input' line", source=source)
    if not outputs:
        raise DescriptionError("a description needs an 'output' line", source=source)
    for token, number in outputs:
        if token.text not in seen:
            raise DescriptionError(f"output {token.text!r} is not defined", number, token.column, source)
    return Description(tuple(inputs), tuple(nodes), tuple(t.text for t, _ in outputs), name)


def _format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def format_description(description: Description) -> str:
    """The canonical text of a description (one statement a line, single spaces)."""
    lines = [f"network {description.name}"] if description.name else []
    for item in description.inputs:
        lines.append(f"input {item.name}: {item.kind}({', '.join(map(str, item.dims))})")
    for node in description.nodes:
        arguments = list(node.inputs) + [f"{k}={_format_value(v)}" for k, v in node.params]
        lines.append(f"{node.name} = {node.op}({', '.join(arguments)})")
    lines.append(f"output {', '.join(description.outputs)}")
    return "\n".join(lines) + "\n"


# --- JSON ------------------------------------------------------------------------------------------
def to_json(description: Description) -> dict[str, Any]:
    return {"name": description.name,
            "inputs": [{"name": i.name, "type": i.kind, "dims": list(i.dims)} for i in description.inputs],
            "nodes": [{"name": n.name, "op": n.op, "inputs": list(n.inputs), "params": dict(n.params)}
                      for n in description.nodes],
            "outputs": list(description.outputs)}


def from_json(data: Any, source: str | None = None) -> Description:
    """A description from its JSON form; faults name the field (``nodes[2].op``). The result is checked
    like parsed text: it is printed and parsed again, so both forms accept exactly the same networks."""
    def need(value: Any, kind: type | tuple, where: str) -> Any:
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise DescriptionError(f"{where}: expected {getattr(kind, '__name__', kind)}", source=source)
        return value

    need(data, dict, "the description")
    items = [need(i, dict, f"inputs[{k}]") for k, i in enumerate(need(data.get("inputs"), list, "inputs"))]
    inputs = [Input(need(i.get("name"), str, f"inputs[{k}].name"), need(i.get("type"), str, f"inputs[{k}].type"),
                    tuple(need(d, int, f"inputs[{k}].dims") for d in need(i.get("dims"), list, f"inputs[{k}].dims")))
              for k, i in enumerate(items)]
    nodes = []
    for k, n in enumerate(need(data.get("nodes", []), list, "nodes")):
        need(n, dict, f"nodes[{k}]")
        params = need(n.get("params", {}), dict, f"nodes[{k}].params")
        for key, value in params.items():
            need(value, (int, float, bool, str), f"nodes[{k}].params.{key}")
        nodes.append(Node(need(n.get("name"), str, f"nodes[{k}].name"), need(n.get("op"), str, f"nodes[{k}].op"),
                          tuple(need(x, str, f"nodes[{k}].inputs") for x in need(n.get("inputs", []), list,
                                                                                  f"nodes[{k}].inputs")),
                          tuple(params.items())))
    outputs = tuple(need(x, str, "outputs") for x in need(data.get("outputs"), list, "outputs"))
    description = Description(tuple(inputs), tuple(nodes), outputs, need(data.get("name", ""), str, "name"))
    return parse(format_description(description), source=source)


# --- files -----------------------------------------------------------------------------------------
def read_description(path: str | Path) -> Description:
    """A description from a text file (any extension) or a ``.json`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnicodeDecodeError, OSError) as error:
        raise UserError(f"{path}: cannot read it as text ({error})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DescriptionError(f"not valid JSON ({error.msg})", error.lineno, error.colno, str(path)) from None
        except RecursionError:  # brackets nested deeper than Python's recursion limit
            raise DescriptionError("not valid JSON (nested too deeply)", source=str(path)) from None
        return from_json(data, source=str(path))
    return parse(text, source=str(path))
