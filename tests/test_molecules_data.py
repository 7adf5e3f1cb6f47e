"""Molecule data: SMILES files in every supported shape, RDKit canonicalization with a report of what
was dropped and why, and the SELFIES round trip."""

from __future__ import annotations

import gzip

import pytest

pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402

from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.molecules import data  # noqa: E402
from gensdk_plugins.molecules.data import clean_smiles, load_smiles, read_smiles, to_smiles, to_text  # noqa: E402

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"  # RDKit's canonical form
# Written non-canonically on purpose: the reader must hand back RDKit's canonical form.
DRUGS = ["OC(=O)c1ccccc1OC(C)=O", "CN1C=NC2=C1C(=O)N(C)C(=O)N2C", "c1ccccc1CCN", "OCC", "C1CCCCC1O",
         "Clc1ccc(cc1)C(=O)N", "N#Cc1ccncc1", "CC(C)Cc1ccc(cc1)C(C)C(O)=O"]


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


# --- read_smiles: file shapes ------------------------------------------------------------------------
def test_smi_with_header_and_extra_columns(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("smiles name\nCCO ethanol 12\n\nc1ccccc1\tbenzene\n  CC(=O)O  acetic\n")
    assert read_smiles(path) == ["CCO", "", "c1ccccc1", "CC(=O)O"]  # the empty line is kept, to be counted


def test_smi_without_header_keeps_the_first_line(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("CCO\nCCN\n")
    assert read_smiles(path) == ["CCO", "CCN"]


def test_csv_finds_the_smiles_column_in_any_case(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text('id,Smiles,logp\n1,CCO,-0.1\n2,"C(Cl)Cl",1.2\n3,,0\n')
    assert read_smiles(path) == ["CCO", "C(Cl)Cl", ""]


def test_csv_with_a_byte_order_mark_and_upper_case_header(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffSMILES,name\nCCO,ethanol\n".encode())
    assert read_smiles(path) == ["CCO"]


def test_csv_column_argument_picks_the_column(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("reactant,product\nCCO,CC=O\nCCN,CC#N\n")
    assert read_smiles(path, column="product") == ["CC=O", "CC#N"]
    assert read_smiles(path) == ["CCO", "CCN"]  # no SMILES column: the first one


def test_tsv_and_gzip(tmp_path):
    tsv = tmp_path / "mols.tsv"
    tsv.write_text("name\tsmiles\nethanol\tCCO\nbenzene\tc1ccccc1\n")
    assert read_smiles(tsv) == ["CCO", "c1ccccc1"]
    smi_gz = tmp_path / "mols.smi.gz"
    smi_gz.write_bytes(gzip.compress(b"CCO\nCCN x\n"))
    assert read_smiles(smi_gz) == ["CCO", "CCN"]
    csv_gz = tmp_path / "mols.CSV.GZ"
    csv_gz.write_bytes(gzip.compress(b"smiles,y\nCCO,1\n"))
    assert read_smiles(csv_gz) == ["CCO"]


# --- read_smiles: errors name the file and the fault ------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "absent.smi"
    with pytest.raises(UserError, match="absent.smi: no such file"):
        read_smiles(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.smi"
    path.write_bytes(b"CCO\nC\xe9\n")
    with pytest.raises(UserError, match=r"latin1\.smi: not UTF-8 text \(byte 5\)"):
        read_smiles(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "mols.sdf"
    path.write_text("CCO\n")
    with pytest.raises(UserError, match=r"mols\.sdf: unknown SMILES file type '\.sdf'"):
        read_smiles(path)


def test_missing_column_names_the_column_and_the_columns(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("smiles,y\nCCO,1\n")
    with pytest.raises(UserError, match=r"mols\.csv: no column 'SMILES' \(columns: smiles, y\)"):
        read_smiles(path, column="SMILES")


def test_csv_line_endings_and_field_limit(tmp_path):
    # found by tests/test_reader_properties.py: the csv module's errors escaped as csv.Error
    path = tmp_path / "mac.csv"
    path.write_bytes(b"id,smiles\r1,CCO\r2,c1ccccc1\r")  # lines ended by CR alone
    assert read_smiles(path) == ["CCO", "c1ccccc1"]
    path.write_bytes(b"smiles\n" + b"C" * 140_000 + b"\n")
    with pytest.raises(UserError, match=f"{path}: not a readable table .*field larger than field limit"):
        read_smiles(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.smi.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match=r"broken\.smi\.gz: cannot read"):
        read_smiles(path)


# --- clean_smiles / load_smiles ----------------------------------------------------------------------
BAD_BATCH = ["CCO", "", "C1CC", "xyz", "C(C)(C)(C)(C)C", "CC(=O)[O-].[Na+]", "OCC", "c1ccccc1"]


def test_clean_counts_every_fault_and_keeps_the_largest_fragment():
    kept, report = clean_smiles(BAD_BATCH, workers=1)
    assert kept == ["CCO", "CC(=O)[O-]", "CCO", "c1ccccc1"]
    assert (report.total, report.kept, report.empty, report.invalid, report.fragments, report.duplicates) == \
        (8, 4, 1, 3, 1, 0)
    assert report.examples["invalid"] == ["C1CC", "xyz", "C(C)(C)(C)(C)C"]  # valence 5 carbon: unsanitizable
    assert report.examples["fragments"] == ["CC(=O)[O-].[Na+]"]
    summary = report.summary()
    assert summary.startswith("4 of 8 kept; 1 empty; 3 invalid (e.g. 'C1CC'); 1 fragments")


def test_reject_drops_multi_fragment_entries_and_keep_keeps_them_whole():
    kept, report = clean_smiles(BAD_BATCH, fragments="reject", workers=1)
    assert kept == ["CCO", "CCO", "c1ccccc1"] and report.fragments == 1 and report.kept == 3
    kept, _ = clean_smiles(["CC(=O)[O-].[Na+]"], fragments="keep", workers=1)
    assert kept == [canonical("CC(=O)[O-].[Na+]")]
    with pytest.raises(UserError, match="fragments must be one of largest, reject, keep, got 'all'"):
        clean_smiles(["CCO"], fragments="all", workers=1)


def test_unique_counts_duplicates_of_the_same_molecule_written_differently():
    kept, report = clean_smiles(BAD_BATCH, unique=True, workers=1)
    assert kept == ["CCO", "CC(=O)[O-]", "c1ccccc1"]
    assert report.duplicates == 1 and report.examples["duplicates"] == ["OCC"] and report.kept == 3


def test_output_is_rdkits_canonical_smiles():
    kept, report = clean_smiles(DRUGS, workers=1)
    assert kept == [canonical(s) for s in DRUGS] and report.kept == len(DRUGS)
    assert kept[0] == ASPIRIN and kept[1] == CAFFEINE


def test_worker_processes_give_the_same_result(monkeypatch):
    monkeypatch.setattr(data, "CHUNK", 3)  # several chunks, so the pool really runs
    batch = BAD_BATCH + DRUGS
    assert clean_smiles(batch, unique=True, workers=2) == clean_smiles(batch, unique=True, workers=1)


def test_load_smiles_reads_cleans_and_reports(tmp_path):
    path = tmp_path / "mixed.smi"
    path.write_text("smiles\n" + "\n".join(BAD_BATCH) + "\n")
    kept, report = load_smiles(path, unique=True, workers=1)
    assert kept == ["CCO", "CC(=O)[O-]", "c1ccccc1"]
    assert (report.total, report.empty, report.invalid, report.duplicates) == (8, 1, 3, 1)


def test_load_smiles_without_canonicalizing_only_drops_empty_lines(tmp_path):
    path = tmp_path / "trusted.smi"
    path.write_text("OCC\n\nxyz\n")
    kept, report = load_smiles(path, canonicalize=False)
    assert kept == ["OCC", "xyz"] and (report.total, report.kept, report.empty) == (3, 2, 1)


def test_a_file_with_nothing_valid_is_a_user_error(tmp_path):
    path = tmp_path / "junk.smi"
    path.write_text("xyz\nC1CC\n\n")
    with pytest.raises(UserError, match=r"junk\.smi: no valid molecule \(0 of 3 kept; 1 empty; 2 invalid"):
        load_smiles(path, workers=1)


# --- representations ---------------------------------------------------------------------------------
def test_selfies_round_trip():
    pytest.importorskip("selfies")
    molecules = [ASPIRIN, CAFFEINE, "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "N#Cc1ccncc1"]
    texts = to_text(molecules, "selfies")
    assert all(t.startswith("[") and t.endswith("]") for t in texts)
    assert [canonical(s) for s in to_smiles(texts, "selfies")] == [canonical(s) for s in molecules]
    assert to_text(molecules, "smiles") == molecules and to_smiles(molecules, "smiles") == molecules


def test_unknown_representation():
    with pytest.raises(UserError, match="unknown representation 'inchi' \\(known: smiles, selfies\\)"):
        to_text(["CCO"], "inchi")


# --- the MOSES splits shipped by molsets ---------------------------------------------------------------
def test_moses_test_scaffolds_split_is_read_by_path():
    import importlib.util

    if importlib.util.find_spec("moses") is None:
        pytest.skip("molsets is not installed")
    smiles = read_smiles("moses:test_scaffolds")
    assert len(smiles) == 176_225 and smiles[0] == "O=C(C1CCCCC1)N1CC(=O)N2CCCc3ccccc3C2C1"
    assert canonical(smiles[1]) == smiles[1]  # MOSES ships canonical RDKit SMILES


def test_unknown_moses_split():
    with pytest.raises(UserError, match="unknown MOSES split 'valid' \\(known: train, test, test_scaffolds\\)"):
        read_smiles("moses:valid")


# --- randomized SMILES (SMILES enumeration) ------------------------------------------------------------
def test_randomized_forms_are_the_same_molecules_written_in_other_atom_orders():
    forms = data.randomized_smiles(DRUGS, copies=3, seed=0, workers=1)
    assert len(forms) == 3 * len(DRUGS)
    for i, form in enumerate(forms):
        assert canonical(form) == canonical(DRUGS[i // 3])
    # ibuprofen has 15 heavy atoms: three random orders give three different strings, none canonical
    ibuprofen = forms[-3:]
    assert len(set(ibuprofen)) == 3 and canonical(DRUGS[-1]) not in ibuprofen


def test_randomized_is_repeatable_for_a_seed_whatever_the_workers(monkeypatch):
    monkeypatch.setattr(data, "CHUNK", 3)  # several chunks, so the pool really runs
    one = data.randomized_smiles(DRUGS, copies=2, seed=7, workers=1)
    assert data.randomized_smiles(DRUGS, copies=2, seed=7, workers=2) == one
    assert data.randomized_smiles(DRUGS, copies=2, seed=8, workers=1) != one


def test_randomized_passes_unparsable_entries_through_and_checks_copies():
    assert data.randomized_smiles(["C1CC", "CCO"], copies=2, workers=1)[:2] == ["C1CC", "C1CC"]
    with pytest.raises(UserError, match="copies must be >= 1"):
        data.randomized_smiles(DRUGS, copies=0)
