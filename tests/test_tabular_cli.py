"""gensdk tabular inspect: a real table in, its detected types out; bad files are one line, exit 2."""

import json

from helpers import assert_user_error, gensdk


def test_inspect_an_example_and_write_editable_metadata(tmp_path):
    out = tmp_path / "iris.json"
    result = gensdk("tabular", "inspect", "iris", "-o", out, check=True)
    assert "150 rows, 5 columns" in result.stdout and "categorical" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["target"] == "species" and saved["columns"]["species"]["type"] == "categorical"


def test_inspect_refuses_a_ragged_file_in_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    result = gensdk("tabular", "inspect", bad)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {bad}: ragged rows: line 3 has 3 fields, expected 2"]


def test_fit_sample_evaluate_round_trip_on_the_command_line(tmp_path):
    model, synthetic, metrics = tmp_path / "tvae", tmp_path / "synthetic.csv", tmp_path / "metrics.json"
    gensdk("tabular", "fit", "iris", model, "--model", "tvae", "--steps", "20", "--device", "cpu", "--quiet",
           check=True)
    gensdk("tabular", "sample", model, "-n", "120", "-o", synthetic, check=True)
    header, *rows = synthetic.read_text().splitlines()
    assert header.split(",")[-1] == "species" and len(rows) == 120
    gensdk("tabular", "evaluate", "iris", synthetic, "-o", metrics, check=True)
    results = json.loads(metrics.read_text())
    assert 0 < results["quality_score"] <= 1 and results["ml_task"] == "classification"
    bad = gensdk("tabular", "sample", model, "-n", "0", "-o", synthetic)
    assert bad.returncode == 2 and "-n must be positive" in bad.stderr


def test_tabddpm_trains_and_samples_with_its_step_count_and_refuses_impossible_options(tmp_path):
    model, synthetic = tmp_path / "tabddpm", tmp_path / "synthetic.csv"
    gensdk("tabular", "train", "iris", model, "--model", "tabddpm", "--steps", "10", "--device", "cpu", "--quiet",
           check=True)
    gensdk("tabular", "sample", model, "-n", "7", "-o", synthetic, "--option", "steps=4", "--option", "sampler=ddim",
           check=True)
    header, *rows = synthetic.read_text().splitlines()
    assert header.split(",")[-1] == "species" and len(rows) == 7
    for args, fragment in [
        (("train", "iris", tmp_path / "x", "--model", "tabdpm"), "unknown tabular model 'tabdpm'"),
        (("train", "iris", tmp_path / "x", "--model", "tabddpm", "--steps", "0"), "steps must be a positive integer"),
        (("sample", model, "-n", "5", "-o", synthetic, "--option", "steps=0"), "steps must be a positive integer, got 0"),
        (("sample", model, "-n", "5", "-o", synthetic, "--option", "guidance=2"), "takes no guidance scale"),
    ]:
        assert_user_error(gensdk("tabular", *args), fragment)
