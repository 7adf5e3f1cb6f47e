"""Real-training evaluation: a described CNN learns scikit-learn's digits on the core Trainer, saves
and loads as a gensdk model folder, and descriptions that cannot be classifiers are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gensdk.core.model import load_model
from gensdk.errors import UserError
from helpers import gensdk
from gensdk_plugins.architectures import ArchitectureClassifier, parse, read_description, to_json, train_and_score

DIGITS_CNN = Path(__file__).resolve().parents[1] / "plugins" / "architectures" / "examples" / "digits-cnn.arch"


def test_a_described_cnn_learns_digits_and_its_model_folder_round_trips(tmp_path):
    result = train_and_score(read_description(DIGITS_CNN), steps=150, device="cpu", out_dir=str(tmp_path))
    assert result["test_accuracy"] > 0.8 and result["valid_accuracy"] > 0.8  # chance is 0.1
    assert result["parameters"] == 9930
    again = load_model(tmp_path / "model")
    assert isinstance(again, ArchitectureClassifier)
    x = torch.rand(4, 1, 8, 8)
    trained = ArchitectureClassifier(description=to_json(read_description(DIGITS_CNN)))
    trained.load_state_dict(again.state_dict())
    assert torch.equal(again.eval()(x), trained.eval()(x))


def test_the_same_seed_gives_the_same_accuracy():
    one = train_and_score(read_description(DIGITS_CNN), steps=20, device="cpu", seed=4)
    two = train_and_score(read_description(DIGITS_CNN), steps=20, device="cpu", seed=4)
    assert one["test_accuracy"] == two["test_accuracy"]


@pytest.mark.parametrize("text, message", [
    ("input x: vector(64)\ny = linear(x, out=10)\noutput y", "one image input"),
    ("input x: image(1, 8, 8)\ny = conv(x, out=10)\noutput y", "must be a vector of class scores"),
    ("input x: image(1, 8, 8)\nf = gap(x)\ny = linear(f, out=3)\noutput y", "scores 3 classes, the data have 10"),
])
def test_descriptions_that_cannot_classify_the_data_are_refused(text, message):
    with pytest.raises(UserError, match=message):
        train_and_score(parse(text), steps=1, device="cpu")


def test_cli_train_writes_the_result(tmp_path):
    result = gensdk("architectures", "train", DIGITS_CNN, "--steps", "30", "--device", "cpu", "--out", tmp_path / "run",
                    check=True)
    record = json.loads((tmp_path / "run" / "result.json").read_text())
    assert f"test accuracy {record['test_accuracy']:.4f}" in " ".join(result.stdout.split())
    assert record["steps"] == 30 and record["data"] == "sklearn-digits"


def test_an_image_folder_loads_through_the_core(tmp_path):
    from PIL import Image

    from gensdk_plugins.architectures.training import load_images

    for label, value in (("dark", 30), ("light", 220)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (10, 12), value + i).save(tmp_path / label / f"{i}.png")
    data = load_images(str(tmp_path), (3, 8, 8), "all")
    assert data.x.shape == (6, 3, 8, 8) and data.y.tolist() == [0, 0, 0, 1, 1, 1] and data.classes == 2


def test_a_folder_of_descriptions_is_scored_into_a_csv_that_resumes(tmp_path):
    """`evaluate FOLDER --evaluator train`: a row per description (a bad one gets its error), --resume trains
    none twice. The same code runs each description as a task of a Ray cluster (tests/test_ray_backend.py)."""
    import csv
    import shutil

    from gensdk_plugins.architectures.evaluation import evaluate_files

    folder = tmp_path / "archs"
    folder.mkdir()
    shutil.copy(DIGITS_CNN, folder / "a.arch")
    (folder / "b.arch").write_text("input x: image(1, 8, 8)\ny = nonsense(x)\noutput y\n")
    out = tmp_path / "results.csv"
    rows = evaluate_files(sorted(folder.iterdir()), out, steps=2, device="cpu", progress=False)
    assert [r["description"] for r in rows] == ["a.arch", "b.arch"]
    assert rows[0]["error"] == "" and 0 <= rows[0]["valid_accuracy"] <= 1 and "nonsense" in rows[1]["error"]
    written = out.read_text()
    with pytest.raises(UserError, match="--resume"):
        evaluate_files(sorted(folder.iterdir()), out, steps=2, device="cpu", progress=False)
    again = evaluate_files(sorted(folder.iterdir()), out, steps=2, device="cpu", progress=False, resume=True)
    assert out.read_text() == written and [r["description"] for r in again] == ["a.arch", "b.arch"]  # no retraining
    assert list(csv.DictReader(out.open()))[0]["parameters"] == str(rows[0]["parameters"])
