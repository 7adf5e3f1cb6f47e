"""Property-driven search on a tiny char-rnn prior and a tiny VAE: budgets are spent exactly, traces and
the ranked CSV are consistent, REINVENT trains only its agent, the diversity filter and bad input."""

from __future__ import annotations

import copy
import csv
import math

import numpy as np
import pytest

pytest.importorskip("rdkit")

import torch  # noqa: E402
from rdkit import Chem, RDLogger  # noqa: E402
from rdkit.Chem import QED  # noqa: E402

from gensdk.core.trainer import TrainConfig  # noqa: E402
from helpers import DRUG_SMILES  # noqa: E402
from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.molecules import search  # noqa: E402
from gensdk_plugins.molecules.models import MoleculeGenerator  # noqa: E402
from gensdk_plugins.molecules.objectives import Objective  # noqa: E402
from gensdk_plugins.molecules.search import Bookkeeper, ReinventConfig, optimize  # noqa: E402

RDLogger.DisableLog("rdApp.*")

DRUGS = DRUG_SMILES


def train(kind: str, smiles: list[str], steps: int, **options) -> MoleculeGenerator:
    threads = torch.get_num_threads()  # module fixtures run before conftest's one-thread fixture
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same initial weights whatever ran before
    try:
        generator = MoleculeGenerator.create(kind, smiles, **options)
        generator.fit(smiles, TrainConfig(steps=steps, batch_size=40, device="cpu", progress=False, log_every=50,
                                          checkpoint_every=steps))
    finally:
        torch.set_num_threads(threads)
    return generator


def fresh(generator: MoleculeGenerator) -> MoleculeGenerator:
    """A copy of the prior for a REINVENT run."""
    return MoleculeGenerator(generator.kind, copy.deepcopy(generator.model), generator.representation)


@pytest.fixture(scope="module")
def prior() -> MoleculeGenerator:
    """A char-rnn that has memorized enough of DRUGS to sample some valid molecules (~15%)."""
    return train("char-rnn", DRUGS, 100, d_model=128, layers=1, dropout=0.0, lr=5e-3)


@pytest.fixture(scope="module")
def qed() -> Objective:
    return Objective.parse(["qed"])


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- budgets, traces, the ranked table ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["random", "reinvent"])
def test_the_budget_is_spent_exactly_and_the_trace_is_consistent(prior, qed, method):
    options = {"batch_size": 48}  # 256 is no multiple of 48: the last batch must be cut short
    result = optimize(fresh(prior), qed, method, 256, checkpoints=[64, 256], workers=1, **options)
    assert result.method == method and result.scored == 256
    assert len(result.found) + result.invalid <= 256 and len(result.found) >= 10
    assert [row["scored"] for row in result.trace] == [64, 256]
    last = result.trace[-1]
    assert last["best"] >= last["top10"] > 0
    assert result.trace[0]["best"] <= last["best"]
    assert last["best"] == max(f.score for f in result.found.values())
    assert last["top10"] == pytest.approx(np.mean(result.top(10)))
    assert all(f.scored_at <= 256 for f in result.found.values()) and result.errors == []


def test_write_csv_ranks_unique_canonical_molecules_with_every_score(prior, qed, tmp_path):
    result = optimize(prior, qed, "random", 200, workers=1, seed=3)
    path = tmp_path / "ranked.csv"
    result.write_csv(path)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["rank", "smiles", "score", "qed", "qed desirability", "scored_at"]
    assert len(rows) == len(result.found) >= 10
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    smiles = [r["smiles"] for r in rows]
    assert len(set(smiles)) == len(smiles) and all(canonical(s) == s for s in smiles)
    for row in rows[:5]:
        assert float(row["qed"]) == pytest.approx(QED.qed(Chem.MolFromSmiles(row["smiles"])))


def test_random_search_is_repeatable_for_a_seed(prior, qed):
    first = optimize(prior, qed, "random", 64, workers=1, seed=5)
    again = optimize(prior, qed, "random", 64, workers=1, seed=5)
    assert list(first.found) == list(again.found) and first.invalid == again.invalid


# --- REINVENT ----------------------------------------------------------------------------------------
def test_reinvent_trains_the_agent_and_leaves_the_prior_untouched(prior, qed, monkeypatch):
    agents = []
    original = search._without_dropout

    def keep_agent(model):
        agents.append(original(model))
        return agents[-1]

    monkeypatch.setattr(search, "_without_dropout", keep_agent)
    mine = fresh(prior)
    before = state(mine.model)
    result = optimize(mine, qed, "reinvent", 96, workers=1, batch_size=32, lr=1e-3)
    assert result.scored == 96 and len(agents) == 1
    after = state(mine.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    agent = state(agents[0])
    assert any(not torch.equal(agent[k], before[k]) for k in before)


def test_reinvent_runs_twice_on_one_prior_and_leaves_it_trainable(prior, qed):
    mine = fresh(prior)
    optimize(mine, qed, "reinvent", 16, workers=1, batch_size=16)
    assert optimize(mine, qed, "reinvent", 16, workers=1, batch_size=16).scored == 16
    assert all(p.requires_grad for p in mine.model.parameters())


def test_reinvent_survives_replay_molecules_outside_the_vocabulary(qed):
    kekule = ["C1=CC=CC=C1", "CC1=CC=CC=C1", "CCC1=CC=CC=C1", "OC1=CC=CC=C1", "NC1=CC=CC=C1"] * 8
    small = train("char-rnn", kekule, 80, d_model=64, layers=1, dropout=0.0, lr=1e-2)
    assert "c" not in small.vocabulary
    result = optimize(small, qed, "reinvent", 64, workers=1, batch_size=16)
    assert result.scored == 64


def test_reinvent_needs_a_language_model(qed, vae):
    with pytest.raises(UserError, match=r"reinvent needs a language-model prior \(char-rnn or transformer\), "
                                        r"not 'vae'"):
        optimize(vae, qed, "reinvent", 10, workers=1)


# --- the diversity filter ----------------------------------------------------------------------------
def test_bookkeeper_marks_only_the_first_copy_of_a_molecule_as_new(qed):
    book = Bookkeeper(qed, "random", checkpoints=[3], workers=1)
    _, new = book.score(["CCO", "OCC", "xyz", "c1ccccc1"])
    assert new.tolist() == [True, False, False, True] and list(book.result.found) == ["CCO", "c1ccccc1"]
    _, new = book.score(["c1ccccc1", "CCN"])
    assert new.tolist() == [False, True]
    assert (book.result.scored, book.result.invalid) == (6, 1)
    assert [row["scored"] for row in book.result.trace] == [3] and math.isnan(book.result.trace[0]["top10"])


def test_diversity_filter_zeroes_repeats_and_full_scaffold_buckets(qed):
    smiles = ["Cc1ccccc1", "CCc1ccccc1", "Cc1ccccc1", "CCO", "CCCO", "xyz", "c1ccc2ccccc2c1"]
    table = qed.score(smiles, workers=1)
    new = np.array([True, True, False, True, True, False, True])
    reward = np.array([0.9, 0.8, 0.9, 0.7, 0.6, 0.0, 0.2])
    buckets: dict[str, int] = {}
    cfg = ReinventConfig(bucket_size=1, bucket_min_score=0.4)
    out = search._diversity_filter(reward, table, new, buckets, cfg)
    # toluene fills the benzene bucket; ethylbenzene finds it full; the repeat earns nothing;
    # the acyclic molecules share the empty scaffold; naphthalene is below the bucket threshold.
    assert out.tolist() == [0.9, 0.0, 0.0, 0.7, 0.0, 0.0, 0.2]
    assert buckets == {"c1ccccc1": 2, "": 2}
    assert reward.tolist()[1] == 0.8  # the input is not modified


# --- latent optimization -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae() -> MoleculeGenerator:
    return train("vae", DRUGS, 30, embed_dim=16, encoder_dim=16, latent_dim=8, decoder_dim=32, decoder_layers=1,
                 lr=3e-3)


def test_latent_optimization_respects_the_budget(vae, qed):
    result = optimize(vae, qed, "latent", 70, checkpoints=[32, 70], workers=1, population=16, elite=4)
    assert result.method == "latent" and result.scored == 70
    assert [row["scored"] for row in result.trace] == [32, 70]
    assert all(0 <= f.score <= 1 for f in result.found.values())


def test_latent_needs_a_vae(prior, qed):
    with pytest.raises(UserError, match="latent optimization needs a VAE, not 'char-rnn'"):
        optimize(prior, qed, "latent", 10, workers=1)


# --- bad input ---------------------------------------------------------------------------------------
def test_bad_method_option_and_budget_are_user_errors(prior, qed):
    with pytest.raises(UserError, match="unknown search method 'ga' \\(known: reinvent, latent, random\\)"):
        optimize(prior, qed, "ga", 10)
    with pytest.raises(UserError, match="budget must be positive, got 0"):
        optimize(prior, qed, "random", 0)
    with pytest.raises(UserError, match="reinvent has no option 'temperature'"):
        optimize(prior, qed, "reinvent", 10, temperature=0.5)
    with pytest.raises(UserError, match="latent has no option 'sigma'"):
        optimize(prior, qed, "latent", 10, sigma=60)


def test_random_search_with_an_unknown_option_is_a_user_error(prior, qed):
    with pytest.raises(UserError, match="random has no option 'sigma'"):
        optimize(prior, qed, "random", 10, sigma=60)


def test_a_user_objective_that_raises_is_reported_not_fatal(prior, tmp_path):
    module = tmp_path / "picky.py"
    module.write_text("def score(mol):\n"
                      "    if mol.GetNumAtoms() > 15:\n"
                      "        raise ValueError('too big for me')\n"
                      "    return mol.GetNumAtoms() / 15\n")
    objective = Objective.parse([f"python:{module}:score"])
    result = optimize(prior, objective, "random", 200, workers=1)
    assert result.scored == 200 and len(result.errors) == 1
    assert "raised ValueError: too big for me" in result.errors[0] and f"python:{module}:score" in result.errors[0]
    big = [f for f in result.found.values() if Chem.MolFromSmiles(f.canonical).GetNumAtoms() > 15]
    assert big and all(f.score == 0 for f in big)  # a failed objective scores 0 on a valid molecule


def test_a_search_that_found_nothing_still_writes_the_csv_header(qed, tmp_path):
    book = Bookkeeper(qed, "random", checkpoints=[], workers=1)
    book.score(["xyz", "C1CC"])
    path = tmp_path / "nothing.csv"
    book.result.write_csv(path)
    assert path.read_text().splitlines() == ["rank,smiles,score,qed,qed desirability,scored_at"]
