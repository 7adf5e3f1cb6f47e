from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("fcd")

import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from gensdk.errors import UserError
from gensdk_plugins.molecules import metrics as M

DRUGS = ["CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
         "CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1O", "c1ccc2c(c1)cccc2", "CCN(CC)CCOC(=O)c1ccc(N)cc1",
         "COc1ccc2[nH]cc(CCN)c2c1", "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O", "c1ccc(-c2ccccc2)cc1",
         "O=C(O)CCc1ccccc1", "CCOC(=O)c1ccc(cc1)N", "Cc1ccccc1NC(=O)c1ccccc1", "C1CCC(CC1)N",
         "CN1CCC[C@H]1c1cccnc1", "O=C1CCCN1", "CC(C)NCC(O)c1ccc(O)c(O)c1", "c1ccc2[nH]ccc2c1",
         "CCCCc1ccc(cc1)C(=O)O", "Clc1ccc(cc1)C(c1ccccc1)N1CCNCC1"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSDK_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def drug_reference():
    return M.Reference.from_smiles(DRUGS, device="cpu", workers=1, cache=False)


def _rdkit_fp(smiles):
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return generator.GetFingerprint(Chem.MolFromSmiles(smiles))


def test_validity_counts_broken_empty_and_unsanitizable_smiles_as_invalid():
    generated = ["CCO", "", "C1CC", "garbage(", "C(C)(C)(C)(C)C", "c1ccccc1", "   "]
    metrics = M.evaluate_smiles(generated, device="cpu", workers=1, k=(2,))
    assert metrics["n"] == 7 and metrics["n_valid"] == 2
    assert metrics["valid"] == pytest.approx(2 / 7)


def test_unique_at_k_uses_the_first_k_valid_canonical_molecules():
    generated = ["CCO", "bad", "OCC", "CCN", "CCC"]  # CCO and OCC are one molecule
    with pytest.warns(UserWarning, match="unique@10 computed on 4"):
        metrics = M.evaluate_smiles(generated, device="cpu", workers=1, k=(2, 4, 10))
    assert metrics["unique@2"] == 0.5
    assert metrics["unique@4"] == 0.75
    assert metrics["unique@10"] == 0.75


def test_novelty_counts_unique_valid_molecules_absent_from_train():
    metrics = M.evaluate_smiles(["OCC", "CCO", "CCN", "CCC", "xx"], train=["CCO"], device="cpu", workers=1,
                                k=(1,))
    assert metrics["novelty"] == pytest.approx(2 / 3)


def test_torch_tanimoto_matches_rdkit_bulk_tanimoto():
    packed = M.fingerprints(DRUGS[:8])
    ours = M.tanimoto_matrix(packed, packed)
    for i, smiles in enumerate(DRUGS[:8]):
        expected = DataStructs.BulkTanimotoSimilarity(_rdkit_fp(smiles), [_rdkit_fp(s) for s in DRUGS[:8]])
        np.testing.assert_allclose(ours[i], expected, rtol=1e-6)
    assert np.allclose(np.diag(ours), 1.0)


def test_fingerprints_are_moses_morgan_bits_packed():
    packed = M.fingerprints(["CCO", "not a smiles", "c1ccccc1"])
    assert packed.shape == (2, 128) and packed.dtype == np.uint8
    np.testing.assert_array_equal(np.unpackbits(packed[1]), np.array(list(_rdkit_fp("c1ccccc1"))))


def test_fp16_counts_of_binary_vectors_are_exact_up_to_1024_bits_and_bf16_are_not():
    # the reason the GPU path uses fp16: partial sums are integers <= 1024, exact in fp16 (< 2048)
    a = torch.ones(2, 1024)
    a[1, :1023 - 512] = 0  # 513 common bits: not representable in bf16 (8 significant bits)
    exact = a @ a.T
    assert torch.equal((a.half() @ a.half().T).float(), exact)
    assert not torch.equal((a.bfloat16() @ a.bfloat16().T).float(), exact)
    bits = (torch.rand(64, 1024) < 0.5).float()
    assert torch.equal((bits.half() @ bits.half().T).float(), bits @ bits.T)


def test_snn_of_a_set_against_itself_is_one_and_intdiv_of_one_molecule_is_zero():
    packed = M.fingerprints(DRUGS)
    assert M.snn(packed, packed, device="cpu") == pytest.approx(1.0)
    repeated = M.fingerprints(["CC(=O)Oc1ccccc1C(=O)O"] * 5)
    assert M.internal_diversity(repeated, device="cpu") == pytest.approx(0.0)
    assert M.internal_diversity(repeated, p=2, device="cpu") == pytest.approx(0.0)
    assert M.internal_diversity(packed, device="cpu") > 0.5


def test_chunked_similarity_matches_a_dense_computation(monkeypatch):
    rng = np.random.default_rng(0)
    gen = np.packbits(rng.random((50, 1024)) < 0.05, axis=1)
    ref = np.packbits(rng.random((70, 1024)) < 0.05, axis=1)
    gen[0] = ref[0] = 0  # empty fingerprints: MOSES counts two of them as identical
    dense = M.tanimoto_matrix(gen, ref)
    assert M.snn(gen, ref, device="cpu") == pytest.approx(dense.max(1).mean())
    p2 = np.sqrt((M.tanimoto_matrix(gen, gen) ** 2).mean(1)).mean()
    assert M.internal_diversity(gen, p=2, device="cpu") == pytest.approx(1 - p2)
    monkeypatch.setattr(M, "_matmul_dtype", lambda device: torch.float16)  # the GPU's arithmetic, on CPU
    assert M.snn(gen, ref, device="cpu") == pytest.approx(dense.max(1).mean())
    assert M.internal_diversity(gen, p=2, device="cpu") == pytest.approx(1 - p2)


def test_a_set_against_its_own_reference(drug_reference):
    metrics = M.evaluate_smiles(DRUGS, test=drug_reference, device="cpu", workers=1, k=(10,))
    assert metrics["SNN/Test"] == pytest.approx(1.0)
    assert metrics["Frag/Test"] == pytest.approx(1.0)
    assert metrics["Scaf/Test"] == pytest.approx(1.0)
    assert abs(metrics["FCD/Test"]) < 1e-3
    assert all(metrics[name] == pytest.approx(0.0, abs=1e-9) for name in M.PROPERTIES)
    other = M.evaluate_smiles(["CCCCCCCC", "CCCCCCO", "CCCCN"], test=drug_reference, device="cpu", workers=1,
                              k=(3,))
    assert other["FCD/Test"] > 5 and other["SNN/Test"] < 0.5
    assert math.isnan(other["Scaf/Test"])  # no ring scaffolds: undefined, as in MOSES


def test_cosine_similarity_of_count_vectors():
    assert M.cosine_similarity({"a": 1, "b": 1}, {"a": 2, "b": 2}) == pytest.approx(1.0)
    assert M.cosine_similarity({"a": 1}, {"b": 1}) == 0.0
    assert M.cosine_similarity({"a": 3, "b": 4}, {"a": 1}) == pytest.approx(0.6)


def test_filters_fail_pains_charges_and_foreign_atoms():
    # a 5-benzylidene rhodanine (PAINS ene_rhod), a quaternary ammonium, an iodide, and two clean molecules
    generated = ["S=C1SC(=Cc2ccccc2)C(=O)N1", "C[N+](C)(C)C", "CCI", "CC(=O)Nc1ccc(O)cc1", "CCOC(=O)c1ccccc1"]
    metrics = M.evaluate_smiles(generated, device="cpu", workers=1, k=(5,))
    assert metrics["Filters"] == pytest.approx(2 / 5)
    assert not M._passes_filters(Chem.MolFromSmiles("S=C1SC(=Cc2ccccc2)C(=O)N1"))
    assert M._passes_filters(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))


def test_worker_processes_give_the_same_metrics_as_in_process(monkeypatch):
    monkeypatch.setattr(M, "_CHUNK", 4)
    generated = DRUGS + ["bad", "", "CCO"]
    assert M.evaluate_smiles(generated, device="cpu", workers=2, k=(5,)) == \
        M.evaluate_smiles(generated, device="cpu", workers=1, k=(5,))


def test_reference_cache_round_trip(tmp_path, drug_reference):
    built = M.Reference.from_smiles(DRUGS[:6] + ["broken("], device="cpu", workers=1)
    files = list(M.cache_folder().glob("reference-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as data:
        assert data["fingerprints"].dtype == np.uint8 and data["fingerprints"].shape == (6, 128)
    cached = M.Reference.from_smiles(DRUGS[:6] + ["broken("], device="cpu", workers=1)
    for reference in (cached, M.Reference.load(files[0])):
        assert reference.smiles == built.smiles and reference.n_input == 7
        assert reference.fragments == built.fragments and reference.scaffolds == built.scaffolds
        np.testing.assert_array_equal(reference.fingerprints, built.fingerprints)
        np.testing.assert_array_equal(reference.fcd_sigma, built.fcd_sigma)
        np.testing.assert_array_equal(reference.properties["QED"], built.properties["QED"])
    drug_reference.save(tmp_path / "drugs.npz")
    assert M.Reference.load(tmp_path / "drugs.npz").scaffolds == drug_reference.scaffolds


def test_building_a_reference_shows_its_stages_once(capsys):
    M.Reference.from_smiles(DRUGS[:6], device="cpu", workers=1, progress=True, name="drugs")
    err = capsys.readouterr().err
    assert f"drugs: computing the statistics of 6 reference molecules (once: cached in {M.cache_folder()})" in err
    assert "drugs: RDKit" in err and "drugs: ChemNet" in err and "6/6" in err
    M.Reference.from_smiles(DRUGS[:6], device="cpu", workers=1, progress=True, name="drugs")
    assert capsys.readouterr().err == ""  # read from the cache: nothing to wait for


def test_bad_input_raises_user_errors(tmp_path):
    with pytest.raises(UserError, match="no generated SMILES"):
        M.evaluate_smiles([], device="cpu", workers=1)
    with pytest.raises(UserError, match="not one string"):
        M.evaluate_smiles("CCO", device="cpu", workers=1)
    with pytest.raises(UserError, match="unknown MOSES split 'valid'"):
        M.moses_smiles("valid")
    with pytest.raises(UserError, match="no valid SMILES"):
        M.Reference.from_smiles(["bad(", ""], device="cpu", workers=1, cache=False)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="junk.npz: not a readable reference file"):
        M.Reference.load(tmp_path / "junk.npz")


def test_missing_molsets_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "moses" else real(name, *a))
    with pytest.raises(UserError, match=r"pip install --no-deps molsets"):
        M.moses_smiles("test")


def test_format_table_lists_every_metric():
    table = M.format_table({"n": 3, "valid": 2 / 3, "FCD/Test": 0.5})
    assert table.splitlines()[3].split() == ["valid", "0.6667"]
    assert table.splitlines()[2].split() == ["n", "3"]
    assert table.splitlines()[4].split() == ["FCD/Test", "0.5000"]


def test_reference_from_a_smiles_file(tmp_path):
    path = tmp_path / "ref.smi"
    path.write_text("\n".join(DRUGS[:5]) + "\n")
    reference = M.reference_from(path, device="cpu", workers=1)
    assert reference.n_input == 5 and len(reference.fingerprints) == 5
    with pytest.raises(UserError, match="no MOSES reference for split 'valid'"):
        M.reference_from("moses:valid", device="cpu", workers=1)
