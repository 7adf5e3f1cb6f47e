"""Search spaces written in the description language.

NAS-Bench-Graph (Qin et al. 2022): a pre-processing fully connected layer, four computation nodes,
each reading the input (0) or an earlier node (1-3) as its ``link`` entry says and applying one of
nine operations, the leaves (nodes no other node reads) summed, and a post-processing fully
connected layer to the classes. The package nas-bench-graph ships the trained results of all 26,206
distinct architectures per data set, keyed by ``(link, ops)``; ``nas_bench_graph_description`` and
``nas_bench_graph_arch`` translate between that key and a description.
"""

from __future__ import annotations

import random
from typing import Sequence

from .language import Description, DescriptionError, Input, Node

NBG_OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
# the 9 link patterns of the benchmark (others are isomorphic to one of these)
NBG_LINKS = ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 1), (0, 1, 1, 2),
             (0, 1, 2, 2), (0, 1, 2, 3))


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


# --- small CNNs for image classification -------------------------------------------------------------
CNN_WIDTHS = (8, 16, 32, 64)
CNN_KERNELS = (1, 3, 5)
CNN_ACTIVATIONS = ("relu", "gelu", "silu")


def random_cnn(rng: random.Random, dims: Sequence[int] = (1, 8, 8), classes: int = 10, max_stages: int = 4,
               name: str = "") -> Description:
    """A random small CNN (the random-grammar baseline of this space): 1 to ``max_stages`` stages of
    conv -> [batchnorm] -> activation [-> residual add when the shapes allow] [-> pool while the image is
    at least 4 pixels wide], then global average pooling or flattening, optional dropout, and a linear
    classifier. Every draw is a valid network."""
    nodes: list[Node] = []
    channels, size, last = dims[0], dims[1], "x"
    for stage in range(1, rng.randint(1, max_stages) + 1):
        width, k = rng.choice(CNN_WIDTHS), rng.choice(CNN_KERNELS)
        nodes.append(Node(f"c{stage}", "conv", (last,), (("out", width), ("k", k))))
        top = f"c{stage}"
        if rng.random() < 0.5:
            nodes.append(Node(f"n{stage}", "batchnorm", (top,)))
            top = f"n{stage}"
        nodes.append(Node(f"a{stage}", rng.choice(CNN_ACTIVATIONS), (top,)))
        top = f"a{stage}"
        if width == channels and rng.random() < 0.5:
            nodes.append(Node(f"r{stage}", "add", (last, top)))
            top = f"r{stage}"
        if size >= 4 and rng.random() < 0.6:
            nodes.append(Node(f"p{stage}", rng.choice(("maxpool", "avgpool")), (top,), (("k", 2),)))
            top, size = f"p{stage}", size // 2
        channels, last = width, top
    nodes.append(Node("h", "gap" if rng.random() < 0.5 else "flatten", (last,)))
    last = "h"
    if rng.random() < 0.3:
        nodes.append(Node("d", "dropout", (last,), (("p", rng.choice((0.1, 0.25, 0.5))),)))
        last = "d"
    nodes.append(Node("y", "linear", (last,), (("out", classes),)))
    return Description((Input("x", "image", tuple(dims)),), tuple(nodes), ("y",), name)
