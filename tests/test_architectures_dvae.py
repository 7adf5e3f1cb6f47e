"""The D-VAE over NAS-Bench-Graph DAGs: graphs and architectures convert both ways, invalid graphs are
recognized, and a small model trained on a few architectures reconstructs them from their means."""

from __future__ import annotations

import random

import torch

from gensdk.core.model import load_model
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk_plugins.architectures.spaces import NasBenchGraphSpace


def random_arch(rng):
    space = NasBenchGraphSpace()
    return space.arch(space.random(rng))
from gensdk_plugins.architectures.dvae import END, DagVAE, from_graph, to_graph


def test_graphs_round_trip_and_bad_graphs_are_refused():
    rng = random.Random(0)
    archs = [random_arch(rng) for _ in range(100)]
    types, adj = to_graph(archs)
    assert from_graph(types, adj) == archs
    assert (adj.tril() == 0).all() and (types[:, 5] == END).all()
    broken = adj.clone()
    broken[0, :, 5] = 0  # END reads nothing
    two_parents = adj.clone()
    two_parents[1, 0, 4] = two_parents[1, 1, 4] = 1
    assert from_graph(types[:2], broken[:2])[0] is None and from_graph(types[:2], two_parents[:2])[1] is None


def test_a_small_dvae_learns_to_reconstruct_what_it_saw(tmp_path):
    rng = random.Random(1)
    archs = list({random_arch(rng) for _ in range(40)})
    types, adj = to_graph(archs)
    torch.manual_seed(0)
    model = DagVAE(hidden=48, latent=8, beta=0.001, lr=3e-3)
    Trainer(model, (types, adj, torch.randn(len(archs))),
            TrainConfig(steps=1000, batch_size=40, device="cpu", progress=False, lr_schedule="cosine"),
            tmp_path).fit()
    model.eval()
    mu, _ = model.encode(types, adj)
    decoded = from_graph(*model.decode(mu))
    assert sum(d == a for d, a in zip(decoded, archs)) / len(archs) >= 0.75  # 0.825 when written
    again = load_model(tmp_path / "model")
    assert torch.equal(again.encode(types, adj)[0], mu)


def test_latent_search_spends_its_budget_on_unseen_architectures_and_repeats():
    from gensdk_plugins.architectures.dvae import latent_search

    def evaluate(genome):
        score = sum(op == "gcn" for op in NasBenchGraphSpace.arch(genome)[1]) / 4
        return {"valid_perf": score, "perf": score}

    torch.manual_seed(0)
    model = DagVAE(hidden=16, latent=4)
    first = latent_search(model, evaluate, 37, seed=2, warmup=10, batch=8, ascent_steps=5, predictor_steps=20)
    again = latent_search(model, evaluate, 37, seed=2, warmup=10, batch=8, ascent_steps=5, predictor_steps=20)
    assert len(first.archs) == 37 and len(set(first.archs)) == 37 and first.archs == again.archs
