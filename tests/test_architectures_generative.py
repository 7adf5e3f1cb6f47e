"""The grammar-constrained generator over a space's genomes: every sample is a derivation of the
space's grammar, encoding round-trips, fine-tuning moves the samples toward what it was fitted on, and
the generative search spends its budget on unseen networks, repeatably; the same code serves the
NAS-Bench-Graph and CNN spaces."""

from __future__ import annotations

import random

import pytest
import torch

from gensdk_plugins.architectures.compiler import validate
from gensdk_plugins.architectures.generative import GenomeTokens, fit, generative_search, make_generator, sample_genomes
from gensdk_plugins.architectures.spaces import NBG_LINKS, CnnSpace, NasBenchGraphSpace

NBG, CNN = NasBenchGraphSpace(features=4, classes=2, hidden=4), CnnSpace()


@pytest.mark.parametrize("space", [NBG, CNN])
def test_encoding_round_trips(space):
    rng = random.Random(0)
    genomes = [space.random(rng) for _ in range(50)]
    vocabulary = GenomeTokens(space)
    ids = vocabulary.encode(genomes)
    assert ids.shape == (50, len(space.choices) + 2) and vocabulary.decode(ids) == genomes


def test_nas_bench_graph_tokens_share_the_op_vocabulary():
    assert len(GenomeTokens(NBG).tokens) == 3 + 9 + 9


@pytest.mark.parametrize("space", [NBG, CNN])
def test_every_sample_of_an_untrained_generator_is_a_valid_architecture(space):
    torch.manual_seed(0)
    genomes = sample_genomes(space, make_generator(space), 2000, temperature=1.5)
    for genome in genomes[:300]:
        assert space.is_valid(genome)
        validate(space.describe(genome))
    assert all(space.is_valid(g) for g in genomes)
    assert len(set(genomes)) > 1500  # near uniform before training


def test_the_last_choice_is_masked_by_the_whole_genome_constraint():
    vocabulary = GenomeTokens(NBG)
    skip = NBG.genome((0, 0, 0, 0), ("skip",) * 4)
    prefix = vocabulary.encode([skip])[:, :5]  # <bos> link skip skip skip
    allowed = vocabulary.constraint(prefix)[0]
    assert not allowed[vocabulary.tokens.index("op:skip")] and allowed[vocabulary.tokens.index("op:gcn")]
    assert vocabulary.constraint(vocabulary.encode([skip])[:, :2])[0][vocabulary.tokens.index("op:skip")]


def test_fine_tuning_concentrates_the_samples_on_the_fitted_architectures():
    torch.manual_seed(0)
    model = make_generator(NBG)
    targets = [NBG.genome((0, 0, 1, 2), ("gcn", "gat", "sage", "gin")),
               NBG.genome((0, 1, 2, 3), ("fc", "fc", "cheb", "skip"))]
    before = sum(g in targets for g in sample_genomes(NBG, model, 500))
    fit(NBG, model, targets, 200, model.make_optimizers()["model"])
    after = sum(g in targets for g in sample_genomes(NBG, model, 500))
    assert before < 5 and after > 400


def _fake_evaluate(genome):
    link, ops = NasBenchGraphSpace.arch(genome)
    score = sum(op == "gcn" for op in ops) / 4 + 0.01 * link[3]
    return {"valid_perf": score, "perf": score}


@pytest.mark.parametrize("budget,screen", [(15, 1), (57, 1), (33, 4)])
def test_search_spends_its_budget_on_unseen_networks_and_repeats(budget, screen):
    first = generative_search(NBG, _fake_evaluate, budget, seed=1, batch=8, warmup=10, steps=10, screen=screen)
    again = generative_search(NBG, _fake_evaluate, budget, seed=1, batch=8, warmup=10, steps=10, screen=screen)
    assert len(first.archs) == budget and len({NBG.key(g) for g in first.archs}) == budget
    assert first.archs == again.archs


@pytest.mark.parametrize("screen", [1, 5])
def test_search_climbs_a_simple_objective(screen):
    # four gcn nodes (9 of 26,206 networks) within 120 evaluations; random search needs ~2,900 on average.
    # Without the predictor 7 of seeds 0-7 got there when written (seed 0 did not), with it all 8.
    reached = [generative_search(NBG, _fake_evaluate, 120, seed=s, screen=screen).evaluations_to_reach(1.0, "valid")
               for s in range(3)]
    assert sum(r is not None for r in reached) >= 2


def test_cnn_search_climbs_a_cheap_objective_and_never_dies_on_a_failing_candidate():
    def evaluate(genome):  # deep and wide scores high; four-stage networks fail, as an out-of-memory would
        chosen = CNN.values(genome)
        if chosen["stages"] == "4":
            raise RuntimeError("CUDA out of memory")
        score = sum(int(chosen[f"width{s}"]) for s in range(1, int(chosen["stages"]) + 1)) / 192
        return {"valid_perf": score, "perf": score}

    from gensdk_plugins.architectures.search import random_search

    trace, uniform = generative_search(CNN, evaluate, 80, seed=0), random_search(CNN, evaluate, 80, seed=0)
    assert len(trace.archs) == 80 and trace.errors
    assert all(trace.valid[i] == 0.0 and "out of memory" in why for i, why in trace.errors.items())
    # the second half's mean score: 0.57 against random's 0.28 when written (seeds 1-3: 0.72-0.83 vs 0.18-0.29)
    assert sum(trace.valid[40:]) > 1.5 * sum(uniform.valid[40:])


def test_cli_sample_writes_valid_descriptions_and_refuses_an_existing_folder(tmp_path):
    from helpers import gensdk

    from gensdk_plugins.architectures import read_description

    out = tmp_path / "gen"
    gensdk("architectures", "sample", out, "--space", "nas-bench-graph", "-n", "4", check=True)
    files = sorted(out.glob("*.arch"))
    assert len(files) == 4 and all(validate(read_description(f)) for f in files)
    result = gensdk("architectures", "generate", out, "-n", "2")  # the old name of sample
    assert result.returncode == 2 and "exists; pass --overwrite" in result.stderr and len(list(out.glob("*"))) == 4


def test_cli_search_journals_every_evaluation_and_resumes_where_it_stopped(tmp_path):
    pytest.importorskip("nas_bench_graph")
    from helpers import gensdk

    out = tmp_path / "search.csv"
    args = ("architectures", "search", "--dataset", "cora", "--method", "evolution", "--seed", "4", "-o", out)
    result = gensdk(*args, "--budget", "25", check=True)
    rows = out.read_text().splitlines()
    assert len(rows) == 26 and rows[0] == "evaluation,link,op1,op2,op3,op4,valid_accuracy,test_accuracy,error"
    assert "evolution search of nas-bench-graph on cora (NAS-Bench-Graph), 25 evaluations" in " ".join(result.stdout.split())
    assert "input x: graph(1433)" in out.with_suffix(".arch").read_text()
    whole = out.read_text()
    out.write_text("\n".join(rows[:11]) + "\n")  # as if killed after 10 evaluations
    gensdk(*args, "--budget", "25", "--resume", check=True)
    assert out.read_text() == whole
    result = gensdk(*args[:-4], "--seed", "5", "-o", out, "--budget", "25", "--resume")
    assert result.returncode == 2 and "evaluation 1 differs from this search's" in result.stderr
    assert out.read_text() == whole  # a refused resume leaves the journal as it was


def test_cli_search_trains_cnns_and_refuses_a_mismatched_evaluator(tmp_path):
    from helpers import gensdk

    out = tmp_path / "cnn.csv"
    result = gensdk("architectures", "search", "--space", "cnn", "--method", "random", "--budget", "3", "--steps", "5",
                    "--device", "cpu", "-o", out, check=True)
    rows = out.read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("evaluation,stages,width1,kernel1")
    assert all(0.0 <= float(r.split(",")[-3]) <= 1.0 for r in rows[1:])
    assert "random search of cnn on sklearn-digits after 5 training steps, 3 evaluations" in " ".join(result.stdout.split())
    result = gensdk("architectures", "search", "--space", "cnn", "--evaluator", "nas-bench-graph")
    assert result.returncode == 2 and "does not score the cnn space" in result.stderr
    result = gensdk("architectures", "search", "--space", "rnn")
    assert result.returncode == 2 and result.stderr.strip() == "error: unknown space 'rnn' (known: nas-bench-graph, cnn)"
