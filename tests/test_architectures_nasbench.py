"""NAS-Bench-Graph's tables as an evaluator: the table loads through the restricted unpickler, every
architecture of the space is found in it, and the baseline searches are repeatable and spend their
budget exactly."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest

pytest.importorskip("nas_bench_graph")

from gensdk_plugins.architectures import nasbench  # noqa: E402
from gensdk_plugins.architectures.nasbench import load_table, table_evaluator  # noqa: E402
from gensdk_plugins.architectures.search import random_search, regularized_evolution  # noqa: E402
from gensdk_plugins.architectures.spaces import NBG_LINKS, NasBenchGraphSpace, arch_key  # noqa: E402

SPACE = NasBenchGraphSpace()


def random_arch(rng):
    return SPACE.arch(SPACE.random(rng))


@pytest.fixture(scope="module")
def cora():
    return load_table("cora")


def test_the_cora_table_has_every_distinct_architecture(cora):
    assert len(cora.rows) == 26206
    rng = random.Random(0)
    for _ in range(500):  # any sampled (link, ops) is found, isomorphic ones under one key
        row = cora.lookup(*random_arch(rng))
        assert 0 < row["perf"] < 1 and 0 < row["valid_perf"] < 1
    assert cora.lookup([0, 0, 0, 1], ["gcn", "gat", "sage", "gin"]) == cora.lookup([0, 0, 1, 0],
                                                                                    ["gcn", "gat", "gin", "sage"])
    assert cora.top_fraction_threshold(0.01) <= cora.test_accuracies()[0]


def test_distinct_archs_are_the_tables_keys(cora):
    archs = nasbench.distinct_archs()
    assert {arch_key(a) for a in archs} == set(cora.rows) and len(archs) == len(cora.rows)


def test_the_unpickler_refuses_anything_but_plain_values():
    evil = pickle.dumps(print)
    with pytest.raises(pickle.UnpicklingError, match="refused builtins.print"):
        nasbench._TableUnpickler(__import__("io").BytesIO(evil)).load()


def test_unknown_data_set_is_a_user_error():
    with pytest.raises(Exception, match="unknown NAS-Bench-Graph data set 'corra'"):
        load_table("corra")


def test_mutation_changes_one_thing():
    rng = random.Random(1)
    for _ in range(200):
        genome = SPACE.random(rng)
        (link, ops), (child_link, child_ops) = SPACE.arch(genome), SPACE.arch(SPACE.mutate(genome, rng))
        changes = (child_link != link) + sum(a != b for a, b in zip(ops, child_ops))
        assert changes == 1 and child_link in NBG_LINKS and set(child_ops) != {"skip"}


@pytest.mark.parametrize("search", [random_search, regularized_evolution])
def test_searches_spend_the_budget_and_repeat_for_a_seed(cora, search):
    evaluate = table_evaluator(cora)
    first, again = search(SPACE, evaluate, 60, seed=3), search(SPACE, evaluate, 60, seed=3)
    assert len(first.archs) == 60 and first.archs == again.archs and first.best_test == again.best_test
    best = max(range(60), key=first.valid.__getitem__)
    assert first.best_test[-1] == first.test[best]


def test_cli_evaluate_looks_up_a_description_and_refuses_bad_input(cora):
    from helpers import gensdk

    example = Path(__file__).resolve().parent.parent / "plugins" / "architectures" / "examples"
    row = cora.lookup([0, 0, 1, 2], ["gcn", "gat", "skip", "cheb"])
    result = gensdk("architectures", "evaluate", example / "nas-bench-graph-cora.arch", "--dataset", "cora", check=True)
    text = " ".join(result.stdout.split())
    assert f"valid accuracy {row['valid_perf']:.4f}" in text and f"test accuracy {row['perf']:.4f}" in text
    result = gensdk("architectures", "evaluate", example / "digits-cnn.arch")
    assert result.returncode == 2 and "not a NAS-Bench-Graph description" in result.stderr
    result = gensdk("architectures", "evaluate", example / "digits-cnn.arch", "--evaluator", "oracle")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown evaluator 'oracle' (known: nas-bench-graph, train)"
