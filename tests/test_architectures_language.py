"""The architecture description language: parsing with line/column errors, the exact round trip of
the canonical text and of JSON, shape inference, cycles, size limits, compiled modules that run, the
NAS-Bench-Graph space, and the CLI's one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import gensdk
from gensdk_plugins.architectures import (DescriptionError, compile_network, format_description, from_json,
                                   nas_bench_graph_arch, nas_bench_graph_description, parse, read_description,
                                   to_json, validate)
from gensdk_plugins.architectures.spaces import NBG_LINKS, NBG_OPS

EXAMPLES = Path(__file__).resolve().parents[1] / "plugins" / "architectures" / "examples"
SMALL_CNN = EXAMPLES / "small-cnn.arch"


def canonical_text() -> str:
    return "".join(line for line in SMALL_CNN.read_text().splitlines(keepends=True) if not line.startswith("#"))


def test_the_canonical_text_round_trips_exactly():
    text = canonical_text()
    description = parse(text)
    assert format_description(description) == text
    assert parse(format_description(description)) == description


def test_comments_blank_lines_and_spacing_do_not_change_the_description():
    loose = "# a net\n\ninput   x :image( 1,32 , 32 )   # the input\n y=relu( x )\n\noutput y  # done\n"
    assert format_description(parse(loose)) == "input x: image(1, 32, 32)\ny = relu(x)\noutput y\n"


def test_json_round_trips_and_names_its_faults():
    description = read_description(SMALL_CNN)
    assert from_json(json.loads(json.dumps(to_json(description)))) == description
    data = to_json(description)
    data["nodes"][2]["inputs"] = "c1"
    with pytest.raises(DescriptionError, match=r"nodes\[2\].inputs: expected list"):
        from_json(data)


def test_shapes_and_parameters_are_inferred_and_match_the_compiled_module():
    checked = validate(read_description(SMALL_CNN))
    assert str(checked.shapes["p1"]) == "image(32, 16, 16)" and str(checked.shapes["g"]) == "vector(64)"
    assert str(checked.shapes["y"]) == "vector(110)"
    model = compile_network(read_description(SMALL_CNN))
    assert checked.total_parameters == sum(p.numel() for p in model.parameters())
    assert checked.parameters["c1"] == 32 * 1 * 3 * 3 + 32
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 110)


def test_several_outputs_and_inputs():
    description = parse("input a: vector(4)\ninput b: vector(6)\nj = concat(a, b)\nh = linear(j, out=3)\n"
                        "output h, j\n")
    h, j = compile_network(description)(torch.randn(2, 4), torch.randn(2, 6))
    assert h.shape == (2, 3) and j.shape == (2, 10)


@pytest.mark.parametrize("text, where, message", [
    ("input x: image(1, 32)\noutput x", "line 1, column 10", "image takes 3 size(s), got 2"),
    ("input x: image(1, 8, 8)\ny = conv(x, out=4, k=3\noutput y", "line 2, column 23", "expected ',' or ')'"),
    ("input x: image(1, 8, 8)\ny = conv(x, 3)\noutput y", "line 2, column 13", "a number needs key="),
    ("input x: image(1, 8, 8)\ny = conv(x, out=4, out=5)\noutput y", "line 2, column 20", "given twice"),
    ("input x: image(1, 8, 8)\nx = relu(x)\noutput x", "line 2, column 1", "defined twice (first on line 1)"),
    ("input x: image(1, 8, 8)\ny = relu(x) $\noutput y", "line 2, column 13", "unexpected character '$'"),
    ("input x: image(1, 8, 8)\ny = relu(x)\noutput z", "line 3, column 8", "output 'z' is not defined"),
    ("y = relu(x)\noutput y", "", "at least one 'input' line"),
])
def test_syntax_errors_name_line_and_column(text, where, message):
    with pytest.raises(DescriptionError) as error:
        parse(text)
    assert str(error.value).startswith(where) and message in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("input x: image(1, 8, 8)\na = relu(b)\nb = relu(a)\ny = add(a, x)\noutput y",
     "line 2, column 1: node 'a': part of a cycle: a -> b -> a"),
    ("input x: image(1, 8, 8)\ny = warp(x)\noutput y", "line 2, column 1: node 'y': unknown operation 'warp'"),
    ("input x: image(1, 8, 8)\nf = gap(x)\ny = conv(f, out=2)\noutput y",
     "line 3, column 1: node 'y': conv takes image input, got vector(1) from 'f'"),
    ("input x: image(1, 8, 8)\nc = conv(x, out=4)\ny = add(x, c)\noutput y",
     "node 'y': add: inputs must have the same shape, got image(1, 8, 8), image(4, 8, 8)"),
    ("input x: image(1, 4, 4)\ny = maxpool(x, k=8)\noutput y", "node 'y': maxpool leaves no output"),
    ("input x: image(1, 8, 8)\ny = conv(x, k=3)\noutput y", "node 'y': conv needs out=..."),
    ("input x: image(1, 8, 8)\ny = conv(x, out=4, kernel=3)\noutput y", "conv has no parameter 'kernel'"),
    ("input x: image(1, 8, 8)\ny = conv(x, out=0)\noutput y", "out must be a positive whole number, got 0"),
    ("input x: image(1, 8, 8)\ny = relu(x, x)\noutput y", "relu takes 1 input(s), got 2"),
    ("input x: image(1, 8, 8)\ny = relu(z)\noutput y", "node 'y': reads 'z', which is not defined"),
    # found by tests/test_reader_properties.py: torch's own checks used to escape as AssertionError / TypeError
    ("input x: sequence(4, 8)\ny = attention(x, heads=3)\noutput y",
     "node 'y': attention cannot be built from sequence(4, 8): embed_dim must be divisible by num_heads"),
    ("input x: image(99999999999999999999, 8, 8)\ny = conv(x, out=2)\noutput y",
     "node 'y': conv cannot be built from image(99999999999999999999, 8, 8)"),
])
def test_validation_errors_name_the_node(text, message):
    with pytest.raises(DescriptionError) as error:
        validate(parse(text))
    assert message in str(error.value)


def test_a_network_too_large_for_memory_is_refused_without_allocating_it():
    text = "input x: vector(100000)\nh = linear(x, out=100000)\ny = linear(h, out=100000)\noutput y\n"
    with pytest.raises(DescriptionError, match="line 2, column 1: node 'h': the network reaches 10,000,100,000 param"):
        validate(parse(text))  # 80 GB of weights: counted on the meta device, never allocated
    assert validate(parse(text), max_parameters=10**11).total_parameters == 20_000_200_000


def test_every_nas_bench_graph_architecture_is_expressible_and_runs():
    count = 0
    for link in NBG_LINKS:
        for ops in (NBG_OPS[:4], NBG_OPS[4:8], ("skip", "fc", "skip", "gin")):
            description = nas_bench_graph_description(link, ops, features=5, classes=3, hidden=8)
            assert parse(format_description(description)) == description
            assert nas_bench_graph_arch(description) == (list(link), list(ops))
            x, edge_index = torch.randn(6, 5), torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
            assert compile_network(description)(x, edge_index=edge_index).shape == (6, 3)
            count += 1
    assert count == 27
    with pytest.raises(DescriptionError, match="unknown NAS-Bench-Graph operation 'mlp'"):
        nas_bench_graph_description([0, 0, 1, 2], ["gcn", "mlp", "gat", "sage"], 5, 3)


def test_cli_parse_compile_and_errors(tmp_path):
    result = gensdk("architectures", "parse", SMALL_CNN, "--out", tmp_path / "net.json", check=True)
    assert read_description(tmp_path / "net.json") == read_description(SMALL_CNN)
    result = gensdk("architectures", "compile", EXAMPLES / "nas-bench-graph-cora.arch", check=True)
    assert "outputs y (8, 7)" in " ".join(result.stdout.split())
    bad = tmp_path / "bad.arch"
    bad.write_text("input x: image(1, 8, 8)\ny = conv(x, out=4, k=3\noutput y\n")
    result = gensdk("architectures", "parse", bad, "--out", tmp_path / "out.arch")
    assert result.returncode == 2 and not (tmp_path / "out.arch").exists()
    assert result.stderr.strip() == f"error: {bad}, line 2, column 23: expected ',' or ')', found the end of the line"


def test_random_cnns_are_always_valid_and_varied():
    import random

    from gensdk_plugins.architectures.spaces import random_cnn

    rng = random.Random(0)
    texts = set()
    for _ in range(300):
        description = random_cnn(rng, dims=(1, 8, 8), classes=10)
        assert str(validate(description).shapes["y"]) == "vector(10)"
        texts.add(format_description(description))
    assert len(texts) > 250


def test_a_long_chain_written_outputs_first_is_ordered_without_recursion():
    # the depth-first order used to recurse once per node: RecursionError past ~1,000 nodes
    nodes = "".join(f"n{i} = relu({f'n{i - 1}' if i else 'x'})\n" for i in reversed(range(3000)))
    checked = validate(parse(f"input x: vector(4)\n{nodes}output n2999\n"))
    assert checked.order == [f"n{i}" for i in range(3000)]
    with pytest.raises(DescriptionError, match="node .b.: part of a cycle: b -> a -> c -> b"):
        validate(parse("input x: vector(4)\nb = relu(a)\nc = relu(b)\na = add(x, c)\noutput a\n"))


def test_json_inputs_that_are_not_objects_are_named():
    data = to_json(parse(SMALL_CNN.read_text()))
    data["inputs"] = [["x"]]  # used to be AttributeError: 'list' object has no attribute 'get'
    with pytest.raises(DescriptionError, match=r"inputs\[0\]: expected dict"):
        from_json(data)


def test_flatten_counts_features_exactly():
    checked = validate(parse("input x: image(3, 4294967296, 4294967296)\ny = flatten(x)\noutput y\n"))
    assert checked.shapes["y"].dims == (3 * 2**64,)  # int64 products used to wrap around


def test_json_nested_too_deeply_is_a_description_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)  # json's decoder recursed past the limit: RecursionError
    with pytest.raises(DescriptionError, match="deep.json: not valid JSON \\(nested too deeply\\)"):
        read_description(path)
