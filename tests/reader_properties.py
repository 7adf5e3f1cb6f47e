"""Properties shared by tests/test_reader_properties.py and benchmarks/reader_properties.py: for every
parser and file reader, a strategy of bad inputs (random bytes or text, and mutations of a valid
input: bytes flipped, spans cut or repeated, truncation, tokens and fields replaced) and a check that
the reader either succeeds or raises ``UserError`` with a one-line message, within a time limit.

Each property is ``(strategy, check)``; ``check(example)`` raises on a bug. The tests run them with a
CI count; the benchmark runs them with a larger count and records every distinct failure.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from gensdk.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
HANG_SECONDS = 20  # one example taking longer is a hang: the reader must refuse or finish quickly


class Hang(Exception):
    """A reader ran past HANG_SECONDS on one small input."""


class UncleanUserError(AssertionError):
    """A UserError whose message is not one line, or does not name the input."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """SIGALRM guard: hypothesis' deadline only reports a slow example after it ends; this stops a
    hang."""
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def clean(call: Callable[..., Any], *args: Any, name: str | None = None, **kw: Any) -> Any:
    """The reader's result, or None when it refused with a clean error: a ``UserError`` whose
    message is one line (naming ``name`` when given). Anything else propagates: that is the bug."""
    with time_limit(HANG_SECONDS):
        try:
            return call(*args, **kw)
        except UserError as err:
            message = str(err)
            if not message or "\n" in message:
                raise UncleanUserError(f"UserError message is not one line: {message!r}")
            if name is not None and name not in message:
                raise UncleanUserError(f"UserError does not name the input {name!r}: {message!r}")
            return None


# --- mutations -------------------------------------------------------------------------------------
# Replacement tokens that readers tend to trip over: empties, signs, huge and odd numbers, quotes,
# brackets, YAML/JSON syntax, control and non-ASCII characters.
NASTY = ["", "0", "-1", "1", "2", "3", "7", "64", "99999999999999999999", "1e999", "-0.5", "nan", "inf", "true", "null",
         "~", "[", "]", "{", "}", "(", ")", ",", ":", "=", "'", '"', "#", "-", ".", "\\", "\t", "\n", "\r",
         "\x00", "\x0b", "\x1c", "é", "٣", "\u2028", "\ufeff", "!!int x", "2001-02-30", "&a", "*a", "<<: *a",
         "- x", "? ", "%YAML 1.1", "---", "...", "[" * 1200, "{a: " * 400]  # the last two: nesting past recursion limits


@st.composite
def mutated_bytes(draw, valid: bytes, max_ops: int = 4) -> bytes:
    """``valid`` with 1..max_ops random edits: flip a bit, set a byte, cut, repeat or insert a span,
    truncate."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "set", "cut", "repeat", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "repeat":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 16))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@st.composite
def mutated_text(draw, valid: str, max_ops: int = 4) -> str:
    """``valid`` with 1..max_ops edits at the level of tokens and lines: a token (word, number or
    punctuation) replaced by a nasty one or deleted, a line deleted, repeated or swapped, a random
    character inserted, the text truncated."""
    import re

    text = valid
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["token", "token", "token", "line", "char", "truncate"]))
        if op == "token":
            spans = [m.span() for m in re.finditer(r"[A-Za-z_][\w.-]*|-?\d+(?:\.\d+)?|\S", text)]
            if spans:
                a, b = draw(st.sampled_from(spans))
                new = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=4)))
                text = text[:a] + new + text[b:]
        elif op == "line":
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            how = draw(st.sampled_from(["delete", "repeat", "swap"]))
            if how == "delete":
                del lines[i]
            elif how == "repeat":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "char":
            pos = draw(st.integers(0, len(text)))
            text = text[:pos] + draw(st.characters()) + text[pos:]
        else:
            text = text[:draw(st.integers(0, len(text)))]
    return text


def text_or_bytes(valid: str) -> st.SearchStrategy[bytes]:
    """The bytes of a file: random bytes, random text, the valid text mutated, or its bytes mutated."""
    return st.one_of(st.binary(max_size=200),
                     st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     mutated_text(valid).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     mutated_bytes(valid.encode()))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@st.composite
def mutated_json(draw, valid: Any) -> Any:
    """``valid`` (a JSON value) with one field somewhere replaced by any JSON value, or deleted."""
    def edit(value: Any) -> Any:
        containers = isinstance(value, dict) and value or isinstance(value, list) and value
        if not containers or draw(st.integers(0, 3)) == 0:
            return draw(json_values)
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = draw(st.sampled_from(keys))
        copy = dict(value) if isinstance(value, dict) else list(value)
        if draw(st.integers(0, 4)) == 0:
            del copy[key]
        else:
            copy[key] = edit(value[key])
        return copy
    return edit(valid)


class Scratch:
    """One temporary folder for a property's files; each example overwrites them."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="gensdk-props-")
        self.path = Path(self._dir.name)

    def write(self, name: str, data: bytes) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


# --- the architecture description language -----------------------------------------------------------
ARCH_EXAMPLES = sorted((ROOT / "plugins/architectures/examples").glob("*.arch"))


def arch_property():
    from gensdk_plugins.architectures.compiler import validate
    from gensdk_plugins.architectures.language import parse, read_description

    valid = [p.read_text() for p in ARCH_EXAMPLES]
    scratch = Scratch()
    alphabet = st.sampled_from(list("abcxy019 =(),:#.-_\n\t") + ["input ", "output ", "network ", "image(",
                                                                    "conv(", "out=", "add(", "\n"])
    grammar_soup = st.lists(alphabet, max_size=60).map("".join)
    strategy = st.one_of(st.sampled_from(valid).flatmap(mutated_text).map(lambda t: ("text", t)),
                         grammar_soup.map(lambda t: ("text", t)),
                         st.sampled_from(valid).flatmap(lambda t: mutated_bytes(t.encode())).map(lambda b: ("file", b)))

    def check(example) -> None:
        kind, value = example
        if kind == "text":
            description = clean(parse, value)
        else:
            path = scratch.write("net.arch", value)
            description = clean(read_description, path, name=str(path))
        if description is not None:
            clean(validate, description)  # on the meta device: nothing is allocated
    return strategy, check


def arch_json_property():
    from gensdk_plugins.architectures.compiler import validate
    from gensdk_plugins.architectures.language import from_json, parse, read_description, to_json

    valid = [to_json(parse(p.read_text())) for p in ARCH_EXAMPLES]
    scratch = Scratch()
    strategy = st.one_of(st.sampled_from(valid).flatmap(mutated_json), json_values)

    def check(data) -> None:
        description = clean(from_json, data)
        if description is not None:
            clean(validate, description)
        path = scratch.write("net.json", json.dumps(data).encode())
        clean(read_description, path, name=str(path))
    return strategy, check


# --- .gsdk files -----------------------------------------------------------------------------------
def tiny_codecs(folder: Path) -> dict[str, Any]:
    """Two tiny trained codecs (N=16, M=24, 4 steps: seconds), as in tests/test_compression_codec.py."""
    import torch

    from gensdk_plugins.compression.data import load_test_photos
    from gensdk_plugins.compression.training import load_codec, train_codec

    photos = load_test_photos(["astronaut"])["astronaut"]
    rng = np.random.default_rng(0)
    crops = np.stack([photos[y:y + 64, x:x + 64] for y, x in rng.integers(0, 400, size=(8, 2))])
    torch.set_num_threads(1)
    models = {}
    for name in ("factorized-prior", "mean-scale-hyperprior"):
        train_codec(name, 2, crops, folder, steps=4, batch_size=4, device="cpu", progress=False, N=16, M=24)
        models[name] = load_codec(folder, name, 2)
    return models


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@st.composite
def gsdk_files(draw, valid: bytes) -> bytes:
    """A .gsdk file damaged in one of these ways: random bytes; valid bytes mutated (checksum left
    stale: the reader must notice); mutated with the checksum recomputed (so that the layout and
    the tiles are read); or a header field replaced (height, width, tile side, a tile length) and
    the checksum recomputed."""
    from gensdk_plugins.compression.codec import _varint

    how = draw(st.sampled_from(["random", "mutated", "mutated+crc", "field"]))
    if how == "random":
        return draw(st.one_of(st.binary(max_size=64), st.binary(max_size=60).map(lambda b: _with_crc(b"GSDK\x01" + b))))
    if how == "mutated":
        return draw(mutated_bytes(valid))
    if how == "mutated+crc":
        return _with_crc(draw(mutated_bytes(valid[:-4])))
    # fields: head 12 bytes (magic, version, arch, quality, fingerprint), height, width, tile, tiles
    head, rest = valid[:12], valid[12:-4]
    fields = []
    for _ in range(2):
        value, n = 0, 0
        while True:
            value |= (rest[n] & 0x7F) << 7 * n
            n += 1
            if not rest[n - 1] & 0x80:
                break
        fields.append(value)
        rest = rest[n:]
    tile, rest = rest[0], rest[1:]
    height, width = fields
    # sizes stay small enough to decode in a moment (a large tile side is refused by nothing: see the
    # report); lengths may be anything
    field = draw(st.sampled_from(["height", "width", "tile", "arch", "quality", "length"]))
    if field == "height":
        height = draw(st.integers(0, 300) | st.integers(0, 2**70))
    elif field == "width":
        width = draw(st.integers(0, 300) | st.integers(0, 2**70))
    elif field == "tile":
        tile = draw(st.integers(0, 255))
    elif field == "arch":
        head = head[:5] + bytes([draw(st.integers(0, 255))]) + head[6:]
    elif field == "quality":
        head = head[:6] + bytes([draw(st.integers(0, 255))]) + head[7:]
    else:
        rest = _varint(draw(st.integers(0, 2**70))) + rest
    return _with_crc(head + _varint(height) + _varint(width) + bytes([tile]) + rest)


def gsdk_property(models: dict[str, Any]):
    from gensdk_plugins.compression.codec import compress, decompress, read_header
    from gensdk_plugins.compression.data import load_test_photos

    image = np.ascontiguousarray(load_test_photos(["coffee"])["coffee"][:40, :70])  # 1 x 2 tiles of 64
    files = [(name, compress(model, image, tile=64, quality=2)) for name, model in models.items()]
    strategy = st.sampled_from(range(len(files))).flatmap(
        lambda i: st.tuples(st.just(files[i][0]), gsdk_files(files[i][1])))

    def check(example) -> None:
        name, data = example
        header = clean(read_header, data, "damaged.gsdk", name="damaged.gsdk")
        if header is not None:
            pixels = clean(decompress, data, models[name], "damaged.gsdk", name="damaged.gsdk")
            if pixels is not None:
                assert pixels.shape == (header.height, header.width, 3) and pixels.dtype == np.uint8
    return strategy, check


# --- recipes ---------------------------------------------------------------------------------------
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
OVERRIDE_KEYS = ["train.steps", "model.name", "data", "data.name", "model.hidden.0", "train", "x", "a.b.c", ".", "",
                 "train..steps", "out", "evaluate.samples"]


def recipe_property():
    from gensdk.api import load_recipe

    valid = [p.read_text() for p in RECIPES]
    scratch = Scratch()
    override = st.tuples(st.sampled_from(OVERRIDE_KEYS) | st.text(max_size=8),
                         st.sampled_from(["=", "", "=="]),
                         st.sampled_from(NASTY) | st.text(max_size=12)).map("".join)
    strategy = st.tuples(text_or_bytes(valid[0]) | st.sampled_from(valid).flatmap(mutated_text).map(str.encode),
                         st.lists(override, max_size=3))

    def check(example) -> None:
        data, overrides = example
        path = scratch.write("recipe.yaml", data)
        recipe = clean(load_recipe, path, overrides)
        if recipe is not None:
            assert isinstance(recipe, dict) and isinstance(recipe["model"]["name"], str)
    return strategy, check


# --- tabular: CSV tables and metadata --------------------------------------------------------------
TABLE = """sepal_length,sepal_width,species,when,flag,id
5.1,3.5,setosa,2020-01-02,yes,a1
4.9,3.0,setosa,2020-01-03,no,a2
7.0,3.2,versicolor,2020-02-01,yes,a3
6.4,3.2,versicolor,2020-02-11,no,a4
6.3,3.3,virginica,2021-12-31,yes,a5
5.8,,virginica,,no,a6
"""
METADATA = {"columns": {"sepal_length": {"type": "numerical", "subtype": "float"},
                        "species": {"type": "categorical"}, "when": {"type": "datetime", "datetime_format": "%Y-%m-%d"},
                        "id": {"type": "id"}},
            "target": "species", "warnings": []}


def table_property():
    from gensdk_plugins.tabular.data import read_table

    scratch = Scratch()
    strategy = st.tuples(st.sampled_from(["t.csv", "t.tsv", "t.txt", "t.csv.gz"]), text_or_bytes(TABLE),
                         st.booleans())

    def check(example) -> None:
        name, data, zipped = example
        if name.endswith(".gz") and zipped:
            data = gzip.compress(data, mtime=0)  # a good gzip of bad text, besides bad gzip bytes
        path = scratch.write(name, data)
        result = clean(read_table, path, name=str(path))
        if result is not None:
            df, metadata = result
            assert len(df) > 0 and metadata.names == [str(c) for c in df.columns]
    return strategy, check


def metadata_property():
    from gensdk_plugins.tabular.data import TableMetadata, read_table

    scratch = Scratch()
    table = scratch.write("t.csv", TABLE.encode())
    valid = json.dumps(METADATA, indent=1)
    strategy = st.one_of(st.sampled_from(["a", "b"]).flatmap(lambda _: mutated_json(METADATA)).map(
                             lambda d: json.dumps(d).encode()),
                         json_values.map(lambda d: json.dumps(d).encode()),
                         text_or_bytes(valid))

    def check(data: bytes) -> None:
        path = scratch.write("meta.json", data)
        clean(TableMetadata.load, path, name=str(path))
        clean(read_table, table, path, name=str(path))
    return strategy, check


# --- SMILES files ----------------------------------------------------------------------------------
SMILES = "smiles\nCC(=O)Nc1ccc(O)cc1\nc1ccccc1\nCCO.Cl\n\nC1CC1 cyclopropane\nN#N\n"
SMILES_CSV = "id,SMILES,score\n1,CC(=O)Nc1ccc(O)cc1,0.5\n2,c1ccccc1,\n3,\"CCO.Cl\",1\n"


def smiles_property():
    from gensdk_plugins.molecules.data import load_smiles

    scratch = Scratch()
    strategy = st.one_of(
        st.tuples(st.sampled_from(["m.smi", "m.txt", "m", "m.smi.gz"]), text_or_bytes(SMILES), st.none()),
        st.tuples(st.sampled_from(["m.csv", "m.tsv", "m.csv.gz"]), text_or_bytes(SMILES_CSV),
                  st.sampled_from([None, "SMILES", "score", "nope"])))

    def check(example) -> None:
        name, data, column = example
        if name.endswith(".gz") and data[:1] != b"\x1f":
            data = gzip.compress(data, mtime=0)
        path = scratch.write(name, data)
        result = clean(load_smiles, path, column=column, workers=1, name=str(path))
        if result is not None:
            smiles, report = result
            assert smiles and report.kept == len(smiles)
    return strategy, check


# --- the fuzzing corpus ----------------------------------------------------------------------------
C_PROGRAM = """#include <stdio.h>
/* a comment */
struct s { int a; char b[4]; };
static int f(int x) { return x > 1 ? f(x - 1) * x : 1; }
int main(void) { struct s v = {1, "ab"}; printf("%d %s\\n", f(5), v.b); return 0; }
"""


def corpus_property():
    from gensdk_plugins.fuzzing.corpus import load_corpus, read_text
    from gensdk_plugins.fuzzing.lexer import render, tokenize

    scratch = Scratch()
    folder = scratch.path / "corpus"
    strategy = st.lists(text_or_bytes(C_PROGRAM), min_size=1, max_size=3)

    def check(files: list[bytes]) -> None:
        for old in folder.glob("*.c"):
            old.unlink()
        for i, data in enumerate(files):
            scratch.write(f"corpus/p{i}.c", data)
        programs = clean(load_corpus, folder, name=str(folder))
        for path in folder.glob("*.c"):
            text, reason = read_text(path)
            assert (text is None) != (reason == ""), (text, reason)
        for program in programs or []:
            render(tokenize(program))  # what training does with each program: tree-sitter tolerates any text
    return strategy, check


# --- saved model folders ---------------------------------------------------------------------------
def model_property(folder: Path):
    """``folder``: a saved tiny model (config.json + model.safetensors) to damage."""
    from gensdk.core.model import load_model

    config = json.loads((folder / "config.json").read_text())
    weights = (folder / "model.safetensors").read_bytes()
    scratch = Scratch()
    # sizes in a damaged config stay small: a config may ask for a model of any size, and building a
    # huge one is slow, not wrong
    small_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 64) | st.floats(-10, 10) | st.text(max_size=6),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=6)
    config_bytes = st.one_of(mutated_json(config).map(lambda d: json.dumps(d).encode()),
                             small_json.map(lambda d: json.dumps(d).encode()),
                             mutated_bytes(json.dumps(config).encode()), st.binary(max_size=40))
    strategy = st.one_of(st.tuples(config_bytes, st.just(weights)),
                         st.tuples(st.just(json.dumps(config).encode()),
                                   mutated_bytes(weights) | st.binary(max_size=64)))

    def check(example) -> None:
        config_data, weight_data = example
        scratch.write("model/config.json", config_data)
        scratch.write("model/model.safetensors", weight_data)
        clean(load_model, scratch.path / "model", name=str(scratch.path / "model"))
    return strategy, check


def tiny_model(folder: Path) -> Path:
    from gensdk.core import registry  # noqa: F401  (registers the core models)
    from gensdk.core.model import build_model

    model = build_model("gan", data_shape=[2], z_dim=2, hidden=[4])
    return model.save(folder)


# --- character augmentation pipelines (albumentations YAML) ------------------------------------------
def pipeline_property():
    from gensdk_plugins.characters.classic import ClassicAugmenter, pipeline

    scratch = Scratch()
    valid = []
    for preset in ("light", "default"):
        ClassicAugmenter(preset).save(scratch.path / "saved.yaml")
        valid.append((scratch.path / "saved.yaml").read_text())
    strategy = st.one_of(st.sampled_from(valid).flatmap(mutated_text).map(str.encode), text_or_bytes(valid[0]))

    def check(data: bytes) -> None:
        path = scratch.write("pipeline.yaml", data)
        clean(pipeline, path, name=str(path))
    return strategy, check
