"""From a description to a ``torch.nn.Module``: the operations, shape inference, and the compiler.

Every operation is an ``Op``: the input kinds it takes, how many inputs, its parameters with their
defaults, a shape rule, and a builder of its ``nn.Module`` from the input shapes. ``validate`` walks
the graph in topological order (a cycle is an error naming its nodes), checks every node against its
op, infers every shape, and counts parameters without allocating them (modules built on the meta
device), so a network too large for memory is refused before anything is built. ``compile_network``
then builds the real modules into an ``Architecture`` whose ``forward`` runs the nodes in that order.

Shapes leave out the batch: image (C, H, W), vector (F,), sequence (T, F), graph (F,) per node, the
edges travelling beside the features as ``edge_index``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from gensdk.extras import require

from .language import Description, DescriptionError, Node

REQUIRED = ...
DEFAULT_MAX_PARAMETERS = 500_000_000  # 2 GB of fp32 weights: above this a description is refused


@dataclass(frozen=True)
class Shape:
    kind: str  # image | vector | sequence | graph
    dims: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(map(str, self.dims))})"

    @property
    def features(self) -> int:
        return self.dims[0] if self.kind == "image" else self.dims[-1]


@dataclass(frozen=True)
class Op:
    kinds: tuple[str, ...]  # input kinds accepted
    params: dict[str, Any]  # name -> default (REQUIRED: must be given; None: optional, no default)
    shape: Callable[[Node, list[Shape]], Shape]
    build: Callable[[Node, list[Shape]], nn.Module] | None = None  # None: a parameter-free function
    arity: tuple[int, int] = (1, 1)  # least and most inputs
    doc: str = ""


OPS: dict[str, Op] = {}
ANY = ("image", "vector", "sequence", "graph")


def register_op(name: str, **spec: Any) -> None:
    OPS[name] = Op(**spec)


def _same(node: Node, shapes: list[Shape]) -> Shape:
    return shapes[0]


def _spatial(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _conv_shape(node: Node, shapes: list[Shape]) -> Shape:
    c, h, w = shapes[0].dims
    k, s, d = node.param("k", 3), node.param("stride", 1), node.param("dilation", 1)
    groups = node.param("groups", 1)
    if c % groups or node.param("out") % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({c}) and out ({node.param('out')})")
    pad = d * (k - 1) // 2
    return Shape("image", (node.param("out"), _spatial(h, k, s, pad, d), _spatial(w, k, s, pad, d)))


def _pool_shape(node: Node, shapes: list[Shape]) -> Shape:
    c, h, w = shapes[0].dims
    k = node.param("k", 2)
    s = node.param("stride") or k
    return Shape("image", (c, _spatial(h, k, s, 0), _spatial(w, k, s, 0)))


def _features(node: Node, shapes: list[Shape]) -> Shape:
    return Shape(shapes[0].kind, shapes[0].dims[:-1] + (node.param("out"),))


def _join_shape(node: Node, shapes: list[Shape]) -> Shape:
    if len({s.kind for s in shapes}) > 1 or (node.op == "add" and len(set(shapes)) > 1):
        raise ValueError("inputs must have the same shape, got " + ", ".join(map(str, shapes)))
    if node.op == "add":
        return shapes[0]
    rest = {(s.dims[1:] if s.kind == "image" else s.dims[:-1]) for s in shapes}
    if len(rest) > 1:
        raise ValueError("inputs may differ only in channels/features, got " + ", ".join(map(str, shapes)))
    total = sum(s.features for s in shapes)
    first = shapes[0]
    return Shape(first.kind, (total,) + first.dims[1:] if first.kind == "image" else first.dims[:-1] + (total,))


class _Join(nn.Module):
    def __init__(self, op: str, dim: int):
        super().__init__()
        self.op, self.dim = op, dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.stack(xs).sum(0) if self.op == "add" else torch.cat(xs, self.dim)


class _SelfAttention(nn.Module):
    """Multi-head self-attention over an image's positions (SAGAN-style, with a residual) or a sequence."""

    def __init__(self, features: int, heads: int, image: bool):
        super().__init__()
        self.image = image
        self.attention = nn.MultiheadAttention(features, heads, batch_first=True)
        self.gamma = nn.Parameter(torch.zeros(1))  # starts as the identity, as in SAGAN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.flatten(2).transpose(1, 2) if self.image else x
        out, _ = self.attention(seq, seq, seq, need_weights=False)
        out = seq + self.gamma * out
        return out.transpose(1, 2).reshape(x.shape) if self.image else out


def _graph_conv(kind: str) -> Callable[[Node, list[Shape]], nn.Module]:
    def build(node: Node, shapes: list[Shape]) -> nn.Module:
        gnn = require("torch_geometric.nn", "architectures")

        f, out = shapes[0].features, node.param("out")
        if kind == "gcn":
            return gnn.GCNConv(f, out)
        if kind == "gat":
            return gnn.GATConv(f, out, heads=node.param("heads", 2), concat=False)
        if kind == "sage":
            return gnn.SAGEConv(f, out)
        if kind == "gin":
            return gnn.GINConv(nn.Sequential(nn.Linear(f, out), nn.ReLU(), nn.Linear(out, out)))
        if kind == "cheb":
            return gnn.ChebConv(f, out, K=node.param("k", 2))
        if kind == "arma":
            return gnn.ARMAConv(f, out)
        return gnn.GraphConv(f, out)  # k-GNN (Morris et al. 2019), NAS-Bench-Graph's "graph"
    return build


_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                "elu": nn.ELU}
for _name, _module in _ACTIVATIONS.items():
    register_op(_name, kinds=ANY, params={}, shape=_same, build=lambda n, s, m=_module: m(), doc="activation")
register_op("identity", kinds=ANY, params={}, shape=_same, build=lambda n, s: nn.Identity(), doc="the input as it is")
register_op("skip", kinds=ANY, params={}, shape=_same, build=lambda n, s: nn.Identity(),
            doc="the input as it is (NAS-Bench-Graph's name)")
register_op("dropout", kinds=ANY, params={"p": 0.5}, shape=_same, build=lambda n, s: nn.Dropout(n.param("p", 0.5)))
register_op("conv", kinds=("image",), params={"out": REQUIRED, "k": 3, "stride": 1, "groups": 1, "dilation": 1},
            shape=_conv_shape,
            build=lambda n, s: nn.Conv2d(s[0].dims[0], n.param("out"), n.param("k", 3), n.param("stride", 1),
                                         n.param("dilation", 1) * (n.param("k", 3) - 1) // 2, n.param("dilation", 1),
                                         n.param("groups", 1)),
            doc="2-D convolution, padded to keep the size at stride 1")
register_op("maxpool", kinds=("image",), params={"k": 2, "stride": None}, shape=_pool_shape,
            build=lambda n, s: nn.MaxPool2d(n.param("k", 2), n.param("stride") or n.param("k", 2)))
register_op("avgpool", kinds=("image",), params={"k": 2, "stride": None}, shape=_pool_shape,
            build=lambda n, s: nn.AvgPool2d(n.param("k", 2), n.param("stride") or n.param("k", 2)))
register_op("gap", kinds=("image",), params={}, shape=lambda n, s: Shape("vector", (s[0].dims[0],)),
            build=lambda n, s: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), doc="global average pool")
register_op("flatten", kinds=("image", "sequence"), params={},
            shape=lambda n, s: Shape("vector", (math.prod(s[0].dims),)), build=lambda n, s: nn.Flatten())
register_op("batchnorm", kinds=("image", "vector", "graph"), params={}, shape=_same,
            build=lambda n, s: nn.BatchNorm2d(s[0].features) if s[0].kind == "image" else nn.BatchNorm1d(s[0].features))
register_op("layernorm", kinds=ANY, params={}, shape=_same,
            build=lambda n, s: nn.GroupNorm(1, s[0].features) if s[0].kind == "image" else nn.LayerNorm(s[0].features))
register_op("linear", kinds=("vector", "sequence", "graph"), params={"out": REQUIRED}, shape=_features,
            build=lambda n, s: nn.Linear(s[0].features, n.param("out")), doc="fully connected, on the last axis")
register_op("fc", kinds=("vector", "sequence", "graph"), params={"out": REQUIRED}, shape=_features,
            build=lambda n, s: nn.Linear(s[0].features, n.param("out")), doc="fully connected (NAS-Bench-Graph's name)")
register_op("attention", kinds=("image", "sequence"), params={"heads": 1}, shape=_same,
            build=lambda n, s: _SelfAttention(s[0].features, n.param("heads", 1), s[0].kind == "image"),
            doc="multi-head self-attention with a learned residual gate")
register_op("add", kinds=ANY, params={}, shape=_join_shape, arity=(2, 64),
            build=lambda n, s: _Join("add", 1), doc="sum of equal shapes (a residual join)")
register_op("concat", kinds=ANY, params={}, shape=_join_shape, arity=(2, 64),
            build=lambda n, s: _Join("concat", 1 if s[0].kind in ("image", "vector") else -1),
            doc="concatenation along channels / features")
for _name in ("gcn", "gat", "sage", "gin", "cheb", "arma", "graph"):
    register_op(_name, kinds=("graph",), params={"out": REQUIRED, **({"heads": 2} if _name == "gat" else {}),
                                                 **({"k": 2} if _name == "cheb" else {})},
                shape=_features, build=_graph_conv(_name), doc="graph convolution (torch-geometric)")
GRAPH_CONVS = ("gcn", "gat", "sage", "gin", "cheb", "arma", "graph")


# --- validation ------------------------------------------------------------------------------------
@dataclass
class Checked:
    """A valid description with what validation learned: node order, shapes, parameter counts."""

    description: Description
    order: list[str]
    shapes: dict[str, Shape]
    parameters: dict[str, int] = field(default_factory=dict)

    @property
    def total_parameters(self) -> int:
        return sum(self.parameters.values())


def _fail(node: Node, message: str, source: str | None = None) -> DescriptionError:
    return DescriptionError(f"node {node.name!r}: {message}", node.line or None, node.column or None, source)


def topological_order(description: Description, source: str | None = None) -> list[str]:
    """Node names so that each comes after the nodes it reads; a cycle is named, node by node."""
    known = set(description.names)
    nodes = {n.name: n for n in description.nodes}
    for node in description.nodes:
        for name in node.inputs:
            if name not in known:
                raise _fail(node, f"reads {name!r}, which is not defined", source)
    order, state = [], {}  # state: 1 on the current path, 2 done
    # depth-first with an explicit stack, not recursion: a long chain written outputs-first would
    # exceed Python's recursion limit
    for node in description.nodes:
        stack = [(node.name, iter(node.inputs))] if state.get(node.name) != 2 else []
        path = [node.name]
        state[node.name] = state.get(node.name) or 1
        while stack:
            name, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                path.pop()
                state[name] = 2
                order.append(name)
            elif parent in nodes and state.get(parent) == 1:
                cycle = path[path.index(parent):] + [parent]
                raise _fail(nodes[parent], "part of a cycle: " + " -> ".join(cycle), source)
            elif parent in nodes and state.get(parent) != 2:
                state[parent] = 1
                stack.append((parent, iter(nodes[parent].inputs)))
                path.append(parent)
    return order


def _check_params(node: Node, op: Op, source: str | None) -> None:
    given = dict(node.params)
    for key in given:
        if key not in op.params:
            known = ", ".join(op.params) or "none"
            raise _fail(node, f"{node.op} has no parameter {key!r} (parameters: {known})", source)
    for key, default in op.params.items():
        if default is REQUIRED and key not in given:
            raise _fail(node, f"{node.op} needs {key}=...", source)
        value = given.get(key)
        if value is not None and key in ("out", "k", "stride", "groups", "dilation", "heads"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _fail(node, f"{key} must be a positive whole number, got {value!r}", source)
        if key == "p" and value is not None and not (isinstance(value, (int, float)) and 0 <= value < 1):
            raise _fail(node, f"p must be in [0, 1), got {value!r}", source)


def validate(description: Description, max_parameters: int = DEFAULT_MAX_PARAMETERS,
             source: str | None = None) -> Checked:
    """Check every node and infer every shape; ``DescriptionError`` names the faulty node and its line."""
    order = topological_order(description, source)
    shapes = {i.name: Shape(i.kind, i.dims) for i in description.inputs}
    parameters: dict[str, int] = {}
    for name in order:
        node = description.node(name)
        op = OPS.get(node.op)
        if op is None:
            raise _fail(node, f"unknown operation {node.op!r} (known: {', '.join(sorted(OPS))})", source)
        least, most = op.arity
        if not least <= len(node.inputs) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            raise _fail(node, f"{node.op} takes {wanted} input(s), got {len(node.inputs)}", source)
        _check_params(node, op, source)
        inputs = [shapes[i] for i in node.inputs]
        for parent, shape in zip(node.inputs, inputs):
            if shape.kind not in op.kinds:
                raise _fail(node, f"{node.op} takes {' or '.join(op.kinds)} input, got {shape} from {parent!r}",
                            source)
        try:
            shape = op.shape(node, inputs)
        except ValueError as error:
            raise _fail(node, f"{node.op}: {error}", source) from None
        if any(d < 1 for d in shape.dims):
            raise _fail(node, f"{node.op} leaves no output: {shape} from " + ", ".join(map(str, inputs)), source)
        shapes[name] = shape
        if op.build is not None:
            try:
                with torch.device("meta"):
                    parameters[name] = sum(p.numel() for p in op.build(node, inputs).parameters())
            except (AssertionError, RuntimeError, TypeError, ValueError) as error:
                # torch's own checks: heads that do not divide the features, sizes beyond int64
                raise _fail(node, f"{node.op} cannot be built from {', '.join(map(str, inputs))}: "
                                  f"{str(error).splitlines()[0]}", source) from None
            if sum(parameters.values()) > max_parameters:
                raise _fail(node, f"the network reaches {sum(parameters.values()):,} parameters here, more than "
                                  f"the limit of {max_parameters:,}", source)
    return Checked(description, order, shapes, parameters)


# --- the compiled network --------------------------------------------------------------------------
class Architecture(nn.Module):
    """A compiled description: ``forward(*inputs, edge_index=None)`` in the order of the ``input``
    lines; returns the output tensor, or a tuple when there are several outputs."""

    def __init__(self, checked: Checked):
        super().__init__()
        self.description = checked.description
        self.order, self.shapes = checked.order, checked.shapes
        self.input_names = [i.name for i in checked.description.inputs]
        self.layers = nn.ModuleDict()
        for name in self.order:
            node = checked.description.node(name)
            self.layers[name] = OPS[node.op].build(node, [self.shapes[i] for i in node.inputs])
        self.graph_layers = {n for n in self.order if checked.description.node(n).op in GRAPH_CONVS}

    def forward(self, *inputs: torch.Tensor, edge_index: torch.Tensor | None = None) -> Any:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"expected {len(self.input_names)} input tensor(s) ({', '.join(self.input_names)}), "
                             f"got {len(inputs)}")
        values = dict(zip(self.input_names, inputs))
        for name in self.order:
            node = self.description.node(name)
            args = [values[i] for i in node.inputs]
            if name in self.graph_layers:
                if edge_index is None:
                    raise ValueError(f"node {name!r} ({node.op}) needs edge_index")
                values[name] = self.layers[name](*args, edge_index)
            else:
                values[name] = self.layers[name](*args)
        outputs = tuple(values[o] for o in self.description.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def compile_network(description: Description, max_parameters: int = DEFAULT_MAX_PARAMETERS) -> Architecture:
    return Architecture(validate(description, max_parameters))


def describe_ops() -> list[tuple[str, str, str, str]]:
    """(name, input kinds, parameters with defaults, what it is) of every operation, for the CLI."""
    rows = []
    for name in sorted(OPS):
        op = OPS[name]
        params = ", ".join(k if v is REQUIRED else f"{k}={v}" for k, v in op.params.items())
        rows.append((name, "|".join(op.kinds), params, op.doc))
    return rows

