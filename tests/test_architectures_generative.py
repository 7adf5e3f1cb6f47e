"""The grammar-constrained generator over NAS-Bench-Graph: every sample is a derivation of the space's
grammar, encoding round-trips, fine-tuning moves the samples toward what it was fitted on, and the
generative search spends its budget on unseen architectures, repeatably."""

from __future__ import annotations

import random

import pytest
import torch

from plugins.architectures.benchmark import random_arch
from plugins.architectures.compiler import validate
from plugins.architectures.generative import decode, encode, fit, generative_search, make_generator, sample_archs
from plugins.architectures.spaces import NBG_LINKS, nas_bench_graph_description


def test_encoding_round_trips():
    rng = random.Random(0)
    archs = [random_arch(rng) for _ in range(50)]
    assert decode(encode(archs)) == archs


def test_every_sample_of_an_untrained_generator_is_a_valid_architecture():
    torch.manual_seed(0)
    archs = sample_archs(make_generator(), 2000, temperature=1.5)
    for link, ops in archs:
        assert link in NBG_LINKS and set(ops) != {"skip"}
        validate(nas_bench_graph_description(link, ops, features=4, classes=2, hidden=4))
    assert len(set(archs)) > 1500  # near uniform before training


def test_fine_tuning_concentrates_the_samples_on_the_fitted_architectures():
    torch.manual_seed(0)
    model = make_generator()
    targets = [((0, 0, 1, 2), ("gcn", "gat", "sage", "gin")), ((0, 1, 2, 3), ("fc", "fc", "cheb", "skip"))]
    before = sum(a in targets for a in sample_archs(model, 500))
    fit(model, targets, 200, model.make_optimizers()["model"])
    after = sum(a in targets for a in sample_archs(model, 500))
    assert before < 5 and after > 400


def _fake_evaluate(arch):
    score = sum(op == "gcn" for op in arch[1]) / 4 + 0.01 * arch[0][3]
    return {"valid_perf": score, "perf": score}


@pytest.mark.parametrize("budget", [15, 57])
def test_search_spends_its_budget_on_unseen_architectures_and_repeats(budget):
    first = generative_search(_fake_evaluate, budget, seed=1, batch=8, warmup=10, steps=10)
    again = generative_search(_fake_evaluate, budget, seed=1, batch=8, warmup=10, steps=10)
    assert len(first.archs) == budget and len(set(first.archs)) == budget and first.archs == again.archs


def test_search_climbs_a_simple_objective():
    trace = generative_search(_fake_evaluate, 120, seed=0)
    assert max(trace.valid[60:]) >= 1.0  # four gcn nodes found; random needs ~6,500 draws on average


def test_cli_generate_writes_valid_descriptions_and_refuses_an_existing_folder(tmp_path):
    from helpers import gensdk

    from plugins.architectures import read_description

    out = tmp_path / "gen"
    gensdk("architectures", "generate", out, "--space", "nas-bench-graph", "-n", "4", check=True)
    files = sorted(out.glob("*.arch"))
    assert len(files) == 4 and all(validate(read_description(f)) for f in files)
    result = gensdk("architectures", "generate", out, "-n", "2")
    assert result.returncode == 2 and "exists; pass --overwrite" in result.stderr and len(list(out.glob("*"))) == 4


def test_cli_search_writes_every_evaluation(tmp_path):
    pytest.importorskip("nas_bench_graph")
    from helpers import gensdk

    out = tmp_path / "search.csv"
    result = gensdk("architectures", "search", "--dataset", "cora", "--method", "evolution", "--budget", "25",
                    "-o", out, check=True)
    rows = out.read_text().splitlines()
    assert len(rows) == 26 and rows[0].startswith("evaluation,link,ops")
    assert "evolution on cora, 25 evaluations" in " ".join(result.stdout.split())
