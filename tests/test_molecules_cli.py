"""gensdk molecules data|fit|sample|optimize on the command line: real files in, real files out; user
errors are one line on stderr and exit code 2."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("rdkit")

from helpers import gensdk  # noqa: E402
from rdkit import Chem  # noqa: E402

# Small molecules: a 16-wide LSTM trained for 30 steps already writes some valid ones.
SMALL = """CCO CCN CCC CCCO CCCN CC(C)O CC(C)N CC(=O)O CC(N)=O CCOC COC CC=O CCC=O CC(C)C CCCC CCCCO
c1ccccc1 Cc1ccccc1 Oc1ccccc1 Nc1ccccc1 CCc1ccccc1 COc1ccccc1 Clc1ccccc1 Fc1ccccc1 OCc1ccccc1 NCc1ccccc1
c1ccncc1 Cc1ccncc1 C1CCCCC1 OC1CCCCC1 NC1CCCCC1 C1CCNCC1 C1COCCN1 CC1CCCCC1 O=C1CCCCC1 CC(=O)Nc1ccccc1
CC(=O)OC CCOC(C)=O OCCO NCCN""".split()


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def printed(result) -> str:
    """stdout with rich's line wrapping undone."""
    return " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny char-rnn trained through the CLI: (training file, run folder, fit's stdout)."""
    folder = tmp_path_factory.mktemp("molecules-cli")
    train = folder / "train.smi"
    train.write_text("\n".join(SMALL) + "\n")
    run = folder / "run"
    result = gensdk("molecules", "fit", train, run, "--model", "char-rnn", "--steps", "30", "--batch-size", "20",
                    "--option", "d_model=16", "--option", "layers=1", "--option", "lr=0.01", "--device", "cpu",
                    "--quiet", check=True)
    return train, run, printed(result)


def test_data_writes_canonical_smiles_and_reports_what_it_dropped(tmp_path):
    source = tmp_path / "mixed.csv"
    source.write_text("name,Smiles\naspirin,OC(=O)c1ccccc1OC(C)=O\nblank,\nbroken,C1CC\nsalt,CC(=O)[O-].[Na+]\n"
                      "ethanol,OCC\nethanol again,CCO\n")
    out = tmp_path / "clean.smi"
    result = gensdk("molecules", "data", source, "--out", out, "--unique", "--workers", "1", check=True)
    assert f"{source}: 3 of 6 kept; 1 empty; 1 invalid (e.g. 'C1CC'); 1 fragments" in printed(result)
    assert "1 duplicates (e.g. 'CCO')" in printed(result) and f"wrote 3 SMILES to {out}" in printed(result)
    assert out.read_text().splitlines() == ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)[O-]", "CCO"]


def test_fit_writes_a_run_folder_with_a_molecule_generator(trained):
    train, run, stdout = trained
    assert f"{train}: 40 of 40 kept" in stdout and "trained char-rnn on 40 molecules" in stdout
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["molecules"] == {"kind": "char-rnn", "representation": "smiles"}
    assert config["config"]["d_model"] == 16 and config["config"]["layers"] == 1 and config["train"]["steps"] == 30
    assert len((run / "log.jsonl").read_text().splitlines()) >= 1 and (run / "checkpoint.pt").is_file()
    assert "hint" not in stdout  # a size was given


def test_fit_of_the_default_transformer_on_a_cpu_hints_at_a_small_one(tmp_path):
    train = tmp_path / "train.smi"
    train.write_text("\n".join(SMALL[:8]) + "\n")
    result = gensdk("molecules", "fit", train, tmp_path / "run", "--model", "transformer", "--steps", "1",
                    "--batch-size", "2", "--device", "cpu", "--quiet", check=True)
    hints = [line for line in result.stdout.replace("\n", " ").split("hint: ")[1:]]
    assert len(hints) == 1, result.stdout
    assert "default transformer has 25.3M parameters" in printed(result)
    assert "--option d_model=256 --option layers=4" in printed(result)


def test_fit_on_randomized_smiles(tmp_path):
    train = tmp_path / "train.smi"
    train.write_text("\n".join(SMALL) + "\n")
    result = gensdk("molecules", "fit", train, tmp_path / "run", "--model", "char-rnn", "--steps", "3",
                    "--batch-size", "8", "--option", "d_model=8", "--option", "layers=1", "--randomize", "2",
                    "--device", "cpu", "--quiet", check=True)
    assert "trained char-rnn on 80 random SMILES (2 of each molecule)" in printed(result)
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_fit_randomize_refuses_the_graph_model(tmp_path):
    train = tmp_path / "train.smi"
    train.write_text("\n".join(SMALL) + "\n")
    result = gensdk("molecules", "fit", train, tmp_path / "run", "--model", "graph", "--randomize", "2")
    assert result.returncode == 2 and "--randomize K needs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_sample_writes_n_lines(trained, tmp_path):
    _, run, _ = trained
    out = tmp_path / "raw.smi"
    result = gensdk("molecules", "sample", run, "-n", "20", "--out", out, "--device", "cpu", "--quiet", check=True)
    lines = out.read_text().splitlines()
    assert len(lines) == 20 and f"wrote {out}" in printed(result)
    valid = sum(1 for s in lines if s and Chem.MolFromSmiles(s) is not None)
    assert f"20 generated: {valid} valid ({valid / 20:.1%})" in printed(result)


def test_optimize_writes_a_ranked_csv(trained, tmp_path):
    _, run, _ = trained
    out = tmp_path / "ranked.csv"
    result = gensdk("molecules", "optimize", run, "--objective", "qed", "--method", "random", "--budget", "64",
                    "--out", out, "--device", "cpu", "--quiet", "--workers", "1", check=True)
    assert "random:" in printed(result) and f"wrote {out}" in printed(result)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["rank", "smiles", "score", "qed", "qed desirability", "scored_at"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert len({r["smiles"] for r in rows}) == len(rows) and all(int(r["scored_at"]) <= 64 for r in rows)


def test_optimize_with_fewer_than_10_valid_molecules_says_so(trained, tmp_path):
    _, run, _ = trained
    result = gensdk("molecules", "optimize", run, "--objective", "qed", "--method", "random", "--budget", "5",
                    "--out", tmp_path / "ranked.csv", "--device", "cpu", "--quiet", "--workers", "1", check=True)
    with (tmp_path / "ranked.csv").open() as f:
        valid = len(list(csv.DictReader(f)))
    assert "nan" not in result.stdout
    assert f"n/a (only {valid} unique valid)" in printed(result)


def test_evaluate_shows_progress_unless_quiet(tmp_path):
    generated = tmp_path / "gen.smi"
    generated.write_text("\n".join(SMALL) + "\n")
    no_references = ("--train", "", "--test", "", "--test-scaffolds", "", "--workers", "1", "--device", "cpu")
    shown = gensdk("molecules", "evaluate", generated, *no_references, check=True)
    assert "generated: RDKit" in shown.stderr and "40/40" in shown.stderr
    quiet = gensdk("molecules", "evaluate", generated, *no_references, "--quiet", check=True)
    assert "RDKit" not in quiet.stderr and "IntDiv" in quiet.stdout


def test_user_errors_are_one_line_and_exit_2(tmp_path):
    train = tmp_path / "train.smi"
    train.write_text("\n".join(SMALL) + "\n")
    missing, run, out = tmp_path / "missing.smi", tmp_path / "run", tmp_path / "out"
    cases = {
        f"{missing}: no such file": ("data", missing),
        "unknown molecule model 'gpt' (known: char-rnn, transformer, vae, graph)":
            ("fit", train, run, "--model", "gpt", "--device", "cpu", "--quiet"),
        "--n must be positive, got 0": ("sample", run, "--n", "0", "--out", out),
        "give at least one --objective (e.g. --objective qed) or a --spec file":
            ("optimize", run, "--method", "random", "--out", out),
    }
    with ThreadPoolExecutor(len(cases)) as pool:  # each run is mostly interpreter start-up: overlap them
        results = dict(zip(cases, pool.map(lambda args: gensdk("molecules", *args), cases.values())))
    for message, result in results.items():
        assert result.returncode == 2, (message, result.stderr)
        assert result.stderr.strip().splitlines() == [f"error: {message}"], result.stderr
    assert not run.exists() and not out.exists()
