"""Molecular graph model: SMILES <-> graph round trips, BFS order, valence-safe batched sampling whose
log-probabilities match the training likelihood, learning on the core trainer, save/load, errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("torch_geometric")

import torch  # noqa: E402
from rdkit import Chem  # noqa: E402

from gensdk.core.model import build_model, load_model  # noqa: E402
from gensdk.core.trainer import TrainConfig, Trainer  # noqa: E402
from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.molecules.graph import (  # noqa: E402
    MolGraphModel,
    graph_dataset,
    make_graph_model,
    max_valence,
    packed_width,
    unpack_graphs,
)

ROUND_TRIP = [
    "c1ccccc1", "C[N+](=O)[O-]", "c1ccc2[nH]ccc2c1", "CC(=O)Oc1ccccc1C(=O)O", "C#N", "NS(=O)(=O)c1ccccc1",
    "C1CC1", "[NH3+]CC(=O)[O-]", "O=c1cc[nH]c(=O)[nH]1", "C1CC2CCC1C2", "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "O=[N+]([O-])c1ccc(Cl)cc1Br", "CC#CC(F)(F)F",
]

# small drug-like molecules and fragments: the tiny training set
TRAIN = [
    "CCO", "CC(=O)O", "c1ccccc1O", "Cc1ccccc1", "CC(C)O", "CCN(CC)CC", "c1ccncc1", "O=C(O)c1ccccc1",
    "CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "c1ccc2ccccc2c1", "C1CCCCC1", "C1CCNCC1", "C1COCCN1",
    "Clc1ccccc1", "Fc1ccc(F)cc1", "Brc1ccccc1", "CC(=O)C", "CCOC(=O)C", "NCCO", "OCC(O)CO", "CS(C)=O",
    "c1ccsc1", "c1cc[nH]c1", "c1ccoc1", "Cc1ncccc1", "NC(=O)c1cccnc1", "CC(N)C(=O)O", "NCC(=O)O",
    "OC1CCCCC1", "CCCCO", "CCCC(=O)O", "c1ccc(cc1)N", "COc1ccccc1", "CC1=CC(=O)CC1", "O=C1CCCC1",
    "N#Cc1ccccc1", "CC(C)(C)O", "CCS", "CSC", "c1cnc[nH]1", "c1cn[nH]c1", "OC(=O)CCC(=O)O", "CC=O",
    "C=CC(=O)O", "CC(=O)OC", "COC(=O)c1ccccc1", "Cc1ccc(S(N)(=O)=O)cc1", "O=C(O)C(F)(F)F", "CCCCCC",
]


@pytest.fixture(scope="module")
def data():
    return graph_dataset(TRAIN, max_atoms=16)


@pytest.fixture(scope="module")
def trained(data):
    graphs, vocab, _ = data
    torch.manual_seed(0)
    model = MolGraphModel(vocab=vocab, max_atoms=16, hidden=32, layers=2, lr=3e-3)
    before = model.nll(graphs).mean().item()
    cfg = TrainConfig(steps=40, batch_size=16, device="cpu", progress=False, log_every=10, checkpoint_every=40)
    trainer = Trainer(model, graphs, cfg)
    model = trainer.fit()
    return model, before, trainer


# --- chemistry ---------------------------------------------------------------------------------------
def test_smiles_graph_smiles_round_trip():
    graphs, vocab, report = graph_dataset(ROUND_TRIP, max_atoms=20)
    assert report["kept"] == len(ROUND_TRIP) and graphs.dtype == torch.uint8
    assert graphs.shape == (len(ROUND_TRIP), packed_width(20)) == (len(ROUND_TRIP), 20 + 190)
    assert ["N", 1] in vocab["atom_types"] and ["O", -1] in vocab["atom_types"]
    model = MolGraphModel(vocab=vocab, max_atoms=20, hidden=8, layers=1)
    assert model.decode(graphs) == [Chem.CanonSmiles(s) for s in ROUND_TRIP]
    atoms, adj = unpack_graphs(graphs, 20)
    assert set(adj.unique().tolist()) <= {0, 1, 2, 3}  # kekulized: no aromatic bond type
    assert atoms[0, :7].tolist() == [1, 1, 1, 1, 1, 1, 0]  # benzene: six carbons (most frequent type), then padding


def test_nodes_follow_bfs_order(data):
    atoms, adj = unpack_graphs(data[0], 16)
    for atom_row, adj_row in zip(atoms, adj):
        size = int((atom_row > 0).sum())
        assert bool((atom_row[:size] > 0).all()) and bool((atom_row[size:] == 0).all())
        parents = [int((adj_row[i, :i] > 0).nonzero()[0]) for i in range(1, size)]  # each joins an earlier node
        assert parents == sorted(parents)  # BFS: parents never decrease


def test_max_valence_follows_rdkit_with_charges():
    assert [max_valence(*t) for t in [("C", 0), ("N", 0), ("N", 1), ("O", -1), ("O", 0), ("S", 0), ("Cl", 0)]] == \
        [4, 3, 4, 1, 2, 6, 1]


def test_skipped_molecules_are_counted():
    smiles = ["CCO", "", "C1CC", "CC.[Na+]", "C" * 30, "c1ccccc1", "[CH3]"]
    graphs, vocab, report = graph_dataset(smiles, max_atoms=10)
    assert len(graphs) == report["kept"] == 2 and report["read"] == 7
    assert (report["empty"], report["invalid"], report["multi_fragment"], report["too_large"]) == (1, 1, 1, 1)
    assert report["not_round_trip"] == 1  # a radical: implicit hydrogens would fill it
    _, _, with_vocab = graph_dataset(["CCN", "CCO"], vocab=vocab)
    assert (with_vocab["kept"], with_vocab["unknown_atom_type"]) == (1, 1)
    json.dumps(vocab)


# --- model -------------------------------------------------------------------------------------------
def test_training_on_the_core_trainer_reduces_the_loss(trained, data):
    model, before, trainer = trained
    after = model.nll(data[0]).mean().item()
    assert after < 0.8 * before
    assert trainer.history[-1]["loss"] < trainer.history[0]["loss"]


def test_batched_samples_respect_valence_and_are_connected(trained):
    model = trained[0]
    torch.manual_seed(1)
    graphs, _ = model.sample_graphs(64)
    atoms, adj = unpack_graphs(graphs, 16)
    limit = torch.tensor([0, *model.config["vocab"]["max_valence"]])
    for atom_row, adj_row in zip(atoms, adj):
        size = int((atom_row > 0).sum())
        assert size >= 1 and bool((atom_row[size:] == 0).all())
        assert bool((adj_row.sum(1) <= limit[atom_row]).all())  # checked before any sanitization
        assert all(bool((adj_row[i, :i] > 0).any()) for i in range(1, size))
    smiles = model.decode(graphs)
    assert all(s for s in smiles)  # every valence-respecting graph sanitizes: validity 1.0 with no repair
    assert all(Chem.MolFromSmiles(s) is not None and "." not in s for s in smiles)
    out = model.sample(10, temperature=0.8, batch_size=4)
    assert len(out) == 10 and all(isinstance(s, str) for s in out)


def test_sampler_log_probability_equals_training_nll(trained):
    model = trained[0]
    torch.manual_seed(2)
    graphs, logp = model.sample_graphs(32)
    assert torch.allclose(model.nll(graphs), -logp, atol=1e-3)


def test_save_load_gives_identical_samples(trained, tmp_path):
    model = trained[0]
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"] == "mol-graph"
    torch.manual_seed(5)
    first = model.sample(12)
    torch.manual_seed(5)
    assert loaded.sample(12) == first


# --- bad input ---------------------------------------------------------------------------------------
def test_clear_errors(trained):
    with pytest.raises(UserError, match="smiles must be a list"):
        graph_dataset("CCO")
    with pytest.raises(UserError, match=r"smiles\[1\] is int"):
        graph_dataset(["CCO", 3])
    with pytest.raises(UserError, match="max_atoms must be an integer"):
        graph_dataset(["CCO"], max_atoms=1)
    with pytest.raises(UserError, match="no usable molecule among 2 SMILES \\(empty 1, invalid 1\\)"):
        graph_dataset(["not a smiles", ""])
    with pytest.raises(UserError, match="vocab needs"):
        graph_dataset(["CCO"], vocab={"atom_types": [["C", 0]], "max_valence": [4, 2]})
    with pytest.raises(UserError, match="model 'mol-graph'.*vocab must be a dict"):
        build_model("mol-graph", vocab=["C"])
    with pytest.raises(UserError, match="model 'mol-graph' has no option 'depth'"):
        make_graph_model(["CCO"], depth=3)
    assert make_graph_model(["CCO", "C[O-]"], max_atoms=4, hidden=8).config["vocab"]["atom_types"] == \
        [["C", 0], ["O", -1], ["O", 0]]  # by frequency, ties by (symbol, charge)
    model = trained[0]
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample(0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample(2, temperature=0)
    with pytest.raises(ValueError, match="graphs must be"):
        model.nll(torch.zeros(2, 5, dtype=torch.uint8))
