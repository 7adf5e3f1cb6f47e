"""Molecule generators: tiny char-rnn, transformer and VAE built from SMILES, trained on the core
trainer, saved and loaded back, sampled, and scored by log-likelihood; SELFIES as the representation."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("rdkit")

import torch  # noqa: E402
from rdkit import Chem, RDLogger  # noqa: E402

from gensdk.core.model import save_model  # noqa: E402
from gensdk.core.trainer import TrainConfig  # noqa: E402
from gensdk.errors import UserError  # noqa: E402
from helpers import DRUG_SMILES  # noqa: E402
from gensdk_plugins.molecules.models import MoleculeGenerator, load_generator  # noqa: E402

RDLogger.DisableLog("rdApp.*")

# 40 drug-like molecules, canonical RDKit SMILES (39 from the MOSES test split, its one bromide
# made a fluoride so that "Br" is a token the vocabulary lacks), and paracetamol.
DRUGS = [s.replace("Br", "F") for s in DRUG_SMILES]

TINY = {
    "char-rnn": {"d_model": 32, "layers": 1, "dropout": 0.0, "lr": 1e-2},
    "transformer": {"d_model": 16, "layers": 1, "heads": 2, "lr": 3e-3},
    "vae": {"embed_dim": 16, "encoder_dim": 16, "latent_dim": 8, "decoder_dim": 32, "decoder_layers": 1, "lr": 3e-3},
}


def config(steps: int = 40) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=20, device="cpu", progress=False, log_every=5,
                       checkpoint_every=steps)


@pytest.fixture(scope="module")
def char_rnn(tmp_path_factory):
    """A tiny char-rnn trained for 40 steps, with its run folder."""
    run = tmp_path_factory.mktemp("char-rnn")
    threads = torch.get_num_threads()  # module fixtures run before conftest's one-thread fixture
    torch.set_num_threads(1)
    try:
        generator = MoleculeGenerator.create("char-rnn", DRUGS, **TINY["char-rnn"])
        generator.fit(DRUGS, config(), out_dir=run)
    finally:
        torch.set_num_threads(threads)
    return generator, run


def test_assert_fixture_molecules_are_canonical_and_bromine_free():
    assert len(DRUGS) == 40 and all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in DRUGS)
    assert not any("Br" in s for s in DRUGS)


# --- construction ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char-rnn", "transformer", "vae"])
def test_create_builds_the_vocabulary_and_takes_options(kind):
    generator = MoleculeGenerator.create(kind, DRUGS, **TINY[kind])
    assert generator.kind == kind and generator.representation == "smiles"
    tokens = set(generator.vocabulary.token_to_id)
    assert {"Cl", "[nH]", "c", "(", "=", "#", "1"} <= tokens and "l" not in tokens  # Cl is one token
    assert all(generator.model.config[k] == v for k, v in TINY[kind].items())
    assert generator.model.max_len == 64  # the longest molecule (41 tokens + <bos>/<eos>), at least 64
    samples = generator.sample(5, seed=0)
    assert len(samples) == 5 and all(isinstance(s, str) for s in samples)


def test_unknown_kind_and_unknown_option_are_user_errors():
    with pytest.raises(UserError, match="unknown molecule model 'lstm' \\(known: char-rnn, transformer, vae, graph\\)"):
        MoleculeGenerator.create("lstm", DRUGS)
    with pytest.raises(UserError, match="has no option 'width'"):
        MoleculeGenerator.create("char-rnn", DRUGS, width=8)
    with pytest.raises(UserError, match="no molecule to build a vocabulary from"):
        MoleculeGenerator.create("char-rnn", ["", ""])


# --- encoding ----------------------------------------------------------------------------------------
def test_encode_drops_and_counts_unknown_tokens_and_too_long_molecules():
    generator = MoleculeGenerator.create("char-rnn", DRUGS, **TINY["char-rnn"], max_len=20)
    batch = ["CCO", "Brc1ccccc1", "c1ccc2ccccc2c1" * 2, "", "CC(=O)Nc1ccc(O)cc1"]
    encoded = generator.encode(batch)
    assert encoded.index == [0, 4]
    report = encoded.report
    assert (report.total, report.kept, report.unknown_tokens, report.too_long, report.invalid) == (5, 2, 1, 1, 1)
    assert report.examples["unknown_tokens"] == ["Brc1ccccc1"]
    vocab = generator.vocabulary
    assert encoded.ids.shape[0] == 2 and encoded.ids[:, 0].tolist() == [vocab.bos_id] * 2
    assert [vocab.decode(row) for row in encoded.ids] == ["CCO", "CC(=O)Nc1ccc(O)cc1"]
    with pytest.raises(UserError, match="no molecule fits the model \\(0 of 1 kept; 1 unknown tokens"):
        generator.encode(["BrBr"])


# --- training, saving, loading -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char-rnn", "transformer", "vae"])
def test_fit_lowers_the_loss_and_the_saved_model_samples_the_same(kind, tmp_path):
    run = tmp_path / "run"
    long_one = "C" * 120  # 122 tokens with <bos>/<eos>: over the 100-token cap, dropped and counted
    generator = MoleculeGenerator.create(kind, DRUGS + [long_one], **TINY[kind])
    assert generator.model.max_len == 100
    report = generator.fit(DRUGS + [long_one], config(), out_dir=run)
    assert (report.total, report.kept, report.too_long) == (41, 40, 1)
    losses = [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.5
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["molecules"] == {"kind": kind, "representation": "smiles"} and saved["train"]["steps"] == 40
    loaded = load_generator(run, device="cpu")
    assert loaded.kind == kind and loaded.vocabulary == generator.vocabulary
    assert loaded.sample(12, seed=7) == generator.sample(12, seed=7)


def test_a_run_folder_and_its_model_folder_both_load(char_rnn):
    generator, run = char_rnn
    from_run, from_model = load_generator(run, device="cpu"), load_generator(run / "model", device="cpu")
    for loaded in (from_run, from_model):
        assert loaded.kind == "char-rnn" and not loaded.model.training
        for name, tensor in generator.model.state_dict().items():
            assert torch.equal(loaded.model.state_dict()[name], tensor), name


def test_loading_something_that_is_not_a_molecule_generator(char_rnn, tmp_path):
    generator, _ = char_rnn
    save_model(generator.model, tmp_path / "plain")  # a bare token-lm, without the molecules metadata
    with pytest.raises(UserError, match="a saved 'token-lm' model, not a molecule generator"):
        load_generator(tmp_path / "plain", device="cpu")
    with pytest.raises(UserError, match="not a saved model \\(no config.json\\)"):
        load_generator(tmp_path, device="cpu")


# --- sampling and likelihood -------------------------------------------------------------------------
def test_sample_returns_n_strings_in_batches(char_rnn):
    generator, _ = char_rnn
    samples = generator.sample(23, batch_size=10, seed=1)
    assert len(samples) == 23 and all(isinstance(s, str) for s in samples)
    assert generator.sample(0) == []
    with pytest.raises(UserError, match="n must be >= 0"):
        generator.sample(-1)


def test_log_likelihood_is_minus_the_models_nll(char_rnn):
    generator, _ = char_rnn
    batch = [DRUGS[0], "Brc1ccccc1", DRUGS[5], "C" * 80]  # an unknown token; longer than max_len 64
    log_p = generator.log_likelihood(batch)
    encoded = generator.encode([DRUGS[0], DRUGS[5]])
    with torch.no_grad():
        expected = -generator.model.nll(encoded.ids)
    assert log_p.shape == (4,)
    assert torch.allclose(log_p[[0, 2]], expected, atol=1e-5)
    assert log_p[1] == -math.inf and log_p[3] == -math.inf
    assert bool((log_p[[0, 2]] < 0).all())
    assert generator.log_likelihood([]).shape == (0,)


def test_log_likelihood_of_only_unencodable_molecules_is_minus_infinity(char_rnn):
    generator, _ = char_rnn
    assert generator.log_likelihood(["Brc1ccccc1"]).tolist() == [-math.inf]


def test_log_likelihood_needs_a_language_model():
    vae = MoleculeGenerator.create("vae", DRUGS, **TINY["vae"])
    with pytest.raises(UserError, match="log_likelihood needs a language model"):
        vae.log_likelihood(DRUGS[:2])


# --- SELFIES -----------------------------------------------------------------------------------------
def test_a_selfies_model_learns_selfies_tokens_and_samples_molecules():
    pytest.importorskip("selfies")
    generator = MoleculeGenerator.create("char-rnn", DRUGS, representation="selfies", **TINY["char-rnn"])
    assert all(t.startswith("[") and t.endswith("]") for t in generator.vocabulary.id_to_token[4:])
    report = generator.fit(DRUGS, config(30))
    assert report.kept == 40
    samples = generator.sample(30, seed=0)
    assert len(samples) == 30
    decoded = [s for s in samples if s]
    assert len(decoded) >= 25  # "" only where the model ends at once
    assert all(Chem.MolFromSmiles(s) is not None for s in decoded)  # SELFIES always decode to valid molecules


def test_selfies_log_likelihood_scores_smiles_input():
    pytest.importorskip("selfies")
    generator = MoleculeGenerator.create("char-rnn", DRUGS, representation="selfies", **TINY["char-rnn"])
    log_p = generator.log_likelihood([DRUGS[0], "xyz"])
    assert math.isfinite(log_p[0]) and log_p[1] == -math.inf
