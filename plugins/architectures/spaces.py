"""Search spaces written in the description language.

A space is a fixed sequence of choices (a genome: one option index per choice) and a map from a
genome to a description. Random sampling, mutation, the grammar-constrained generator's tokens and
the searches all work on genomes, so one implementation of each serves every space. A space's
constraints are on whole genomes, and every prefix of choices can be completed to a valid genome, so a
decoder needs to mask only the last choice.

NAS-Bench-Graph (Qin et al. 2022): a pre-processing fully connected layer, four computation nodes,
each reading the input (0) or an earlier node (1-3) as its ``link`` entry says and applying one of
nine operations, the leaves (nodes no other node reads) summed, and a post-processing fully
connected layer to the classes. The package nas-bench-graph ships the trained results of all 26,206
distinct architectures per data set, keyed by ``(link, ops)``; ``nas_bench_graph_description`` and
``nas_bench_graph_arch`` translate between that key and a description.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Hashable, Sequence

from gensdk.extras import require

from .language import Description, DescriptionError, Input, Node, format_description

Genome = tuple[int, ...]
Arch = tuple[tuple[int, ...], tuple[str, ...]]  # a NAS-Bench-Graph architecture: (link, ops)


@dataclass(frozen=True)
class Choice:
    """One decision of a genome. ``token`` names its vocabulary: choices with the same ``token`` and options
    share tokens (NAS-Bench-Graph's four operation slots)."""

    name: str
    options: tuple[str, ...]
    token: str = ""

    @property
    def vocabulary(self) -> str:
        return self.token or self.name


class Space:
    """A search space: ``choices``, the whole-genome constraint ``is_valid``, ``describe`` (genome ->
    description) and ``key`` (genomes that describe the same network share a key)."""

    name = "space"
    choices: tuple[Choice, ...] = ()

    def is_valid(self, genome: Genome) -> bool:
        return len(genome) == len(self.choices) and all(0 <= g < len(c.options) for g, c in zip(genome, self.choices))

    def describe(self, genome: Genome, name: str = "") -> Description:
        raise NotImplementedError(f"{type(self).__name__} must define describe")

    def key(self, genome: Genome) -> Hashable:
        return format_description(self.describe(genome))

    def random(self, rng: random.Random) -> Genome:
        """Uniform over the valid genomes (uniform per choice, rejecting invalid ones)."""
        while True:
            genome = tuple(rng.randrange(len(c.options)) for c in self.choices)
            if self.is_valid(genome):
                return genome

    def mutate(self, genome: Genome, rng: random.Random, tries: int = 100) -> Genome:
        """One choice changed to another option, such that the network changes (a change to a choice that
        the network ignores, like the width of an absent stage, is drawn again)."""
        key = self.key(genome)
        child = genome
        for _ in range(tries):
            i = rng.randrange(len(self.choices))
            option = rng.choice([o for o in range(len(self.choices[i].options)) if o != genome[i]])
            child = genome[:i] + (option,) + genome[i + 1:]
            if self.is_valid(child) and self.key(child) != key:
                return child
        return child

    def values(self, genome: Genome) -> dict[str, str]:
        """The chosen option of each choice, by name."""
        return {c.name: c.options[g] for c, g in zip(self.choices, genome)}

NBG_OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
# the 9 link patterns of NAS-Bench-Graph (others are isomorphic to one of these)
NBG_LINKS = ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 1), (0, 1, 1, 2),
             (0, 1, 2, 2), (0, 1, 2, 3))


def arch_key(arch: Arch) -> int:
    """NAS-Bench-Graph's key of an architecture: isomorphic ``(link, ops)`` pairs share it (the package's
    ``Arch.valid_hash``, which also keys its tables)."""
    NBGArch = require("nas_bench_graph", "architectures").Arch
    return NBGArch(list(arch[0]), list(arch[1])).valid_hash()


def nas_bench_graph_description(link: Sequence[int], ops: Sequence[str], features: int, classes: int,
                                hidden: int = 256, name: str = "") -> Description:
    """The description of one NAS-Bench-Graph architecture for a graph with ``features`` node features."""
    link, ops = tuple(link), tuple(ops)
    if len(link) != 4 or len(ops) != 4 or any(not 0 <= k <= i for i, k in enumerate(link)):
        raise DescriptionError(f"a NAS-Bench-Graph architecture has 4 links (node i reads 0..i) and 4 ops, "
                               f"got link={list(link)} ops={list(ops)}")
    unknown = [op for op in ops if op not in NBG_OPS]
    if unknown:
        raise DescriptionError(f"unknown NAS-Bench-Graph operation {unknown[0]!r} (known: {', '.join(NBG_OPS)})")
    nodes = [Node("pre", "fc", ("x",), (("out", hidden),))]
    for i, (source, op) in enumerate(zip(link, ops), 1):
        reads = ("pre",) if source == 0 else (f"h{source}",)
        nodes.append(Node(f"h{i}", op, reads, () if op == "skip" else (("out", hidden),)))
    read = set(link)
    leaves = [f"h{i}" for i in range(1, 5) if i not in read]
    joined = leaves[0]
    if len(leaves) > 1:
        nodes.append(Node("leaves", "add", tuple(leaves)))
        joined = "leaves"
    nodes.append(Node("act", "relu", (joined,)))
    nodes.append(Node("y", "fc", ("act",), (("out", classes),)))
    return Description((Input("x", "graph", (features,)),), tuple(nodes), ("y",), name)


def nas_bench_graph_arch(description: Description) -> tuple[list[int], list[str]]:
    """The ``(link, ops)`` key of a description built by ``nas_bench_graph_description``."""
    try:
        ops, link = [], []
        for i in range(1, 5):
            node = description.node(f"h{i}")
            ops.append(node.op)
            link.append(0 if node.inputs[0] == "pre" else int(node.inputs[0][1:]))
        return link, ops
    except (KeyError, IndexError, ValueError):
        raise DescriptionError("not a NAS-Bench-Graph description (nodes h1..h4 reading pre or h1..h3)") from None




class NasBenchGraphSpace(Space):
    """NAS-Bench-Graph: a link pattern, then an operation for each of the 4 nodes, not all skip.
    ``arch``/``genome`` translate to and from NAS-Bench-Graph's ``(link, ops)``."""

    name = "nas-bench-graph"
    choices = (Choice("link", tuple("".join(map(str, lk)) for lk in NBG_LINKS)),
               *(Choice(f"op{i}", NBG_OPS, token="op") for i in range(1, 5)))

    def __init__(self, features: int = 1433, classes: int = 7, hidden: int = 256):
        self.features, self.classes, self.hidden = features, classes, hidden

    def is_valid(self, genome: Genome) -> bool:
        return super().is_valid(genome) and any(NBG_OPS[g] != "skip" for g in genome[1:])

    @staticmethod
    def arch(genome: Genome) -> Arch:
        return NBG_LINKS[genome[0]], tuple(NBG_OPS[g] for g in genome[1:])

    @staticmethod
    def genome(link: Sequence[int], ops: Sequence[str]) -> Genome:
        return (NBG_LINKS.index(tuple(link)), *(NBG_OPS.index(op) for op in ops))

    def describe(self, genome: Genome, name: str = "") -> Description:
        return nas_bench_graph_description(*self.arch(genome), self.features, self.classes, self.hidden, name)

    def key(self, genome: Genome) -> Hashable:
        return arch_key(self.arch(genome))  # isomorphic architectures share a key


# --- small CNNs for image classification -------------------------------------------------------------
CNN_WIDTHS = ("8", "16", "32", "64")
CNN_KERNELS = ("1", "3", "5")
CNN_ACTIVATIONS = ("relu", "gelu", "silu")
CNN_STAGES = 4


class CnnSpace(Space):
    """Small CNNs for image classification: 1 to 4 stages of conv -> [batchnorm] -> activation
    [-> residual add, when the stage keeps the channel count] [-> max or average pooling, while the
    image is at least 4 pixels wide], then global average pooling or flattening, optional dropout and a
    linear classifier. Every genome is a valid network; choices of absent stages, and residual or pooling
    choices that the shapes rule out, are ignored (``key`` tells networks apart)."""

    name = "cnn"
    choices = (Choice("stages", tuple(str(s) for s in range(1, CNN_STAGES + 1))),
               *(c for s in range(1, CNN_STAGES + 1) for c in (
                   Choice(f"width{s}", CNN_WIDTHS, "width"), Choice(f"kernel{s}", CNN_KERNELS, "kernel"),
                   Choice(f"norm{s}", ("none", "batchnorm"), "norm"), Choice(f"act{s}", CNN_ACTIVATIONS, "act"),
                   Choice(f"residual{s}", ("no", "yes"), "residual"),
                   Choice(f"pool{s}", ("none", "maxpool", "avgpool"), "pool"))),
               Choice("head", ("gap", "flatten")), Choice("dropout", ("0", "0.1", "0.25", "0.5")))

    def __init__(self, dims: Sequence[int] = (1, 8, 8), classes: int = 10):
        self.dims, self.classes = tuple(dims), classes

    def describe(self, genome: Genome, name: str = "") -> Description:
        chosen = self.values(genome)
        nodes: list[Node] = []
        channels, size, last = self.dims[0], self.dims[1], "x"
        for s in range(1, int(chosen["stages"]) + 1):
            width = int(chosen[f"width{s}"])
            nodes.append(Node(f"c{s}", "conv", (last,), (("out", width), ("k", int(chosen[f"kernel{s}"])))))
            top = f"c{s}"
            if chosen[f"norm{s}"] == "batchnorm":
                nodes.append(Node(f"n{s}", "batchnorm", (top,)))
                top = f"n{s}"
            nodes.append(Node(f"a{s}", chosen[f"act{s}"], (top,)))
            top = f"a{s}"
            if chosen[f"residual{s}"] == "yes" and width == channels:
                nodes.append(Node(f"r{s}", "add", (last, top)))
                top = f"r{s}"
            if chosen[f"pool{s}"] != "none" and size >= 4:
                nodes.append(Node(f"p{s}", chosen[f"pool{s}"], (top,), (("k", 2),)))
                top, size = f"p{s}", size // 2
            channels, last = width, top
        nodes.append(Node("h", chosen["head"], (last,)))
        last = "h"
        if chosen["dropout"] != "0":
            nodes.append(Node("d", "dropout", (last,), (("p", float(chosen["dropout"])),)))
            last = "d"
        nodes.append(Node("y", "linear", (last,), (("out", self.classes),)))
        return Description((Input("x", "image", self.dims),), tuple(nodes), ("y",), name)


def random_cnn(rng: random.Random, dims: Sequence[int] = (1, 8, 8), classes: int = 10, name: str = "") -> Description:
    """A uniformly drawn network of the CNN space (the random-grammar baseline); every draw is valid."""
    space = CnnSpace(dims, classes)
    return space.describe(space.random(rng), name)


SPACES = {"nas-bench-graph": NasBenchGraphSpace, "cnn": CnnSpace}
