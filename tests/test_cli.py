"""The CLI end to end on tiny recipes, and every user error as one line with exit code 2."""

import json

import numpy as np
import pytest
from PIL import Image

from helpers import assert_user_error, gensdk, write_recipe

TINY = """
data: {name: ring, n: 2048}
model: {name: gan, z_dim: 4, hidden: [16, 16], loss: nonsaturating}
train: {steps: 40, batch_size: 64, log_every: 20, checkpoint_every: 20}
evaluate: {samples: 500}
"""



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    recipe = write_recipe(folder / "tiny.yaml", TINY)
    result = gensdk("train", recipe, "--out", folder / "run", "--quiet", check=True)
    assert "modes" in result.stdout  # the metrics table
    return folder


def test_train_writes_run_folder(trained):
    run = trained / "run"
    assert {p.name for p in run.iterdir()} >= {"checkpoint.pt", "log.jsonl", "model", "metrics.json", "recipe.json"}
    meta = json.loads((run / "model" / "config.json").read_text())
    assert meta["model"] == "gan" and meta["config"]["hidden"] == [16, 16] and meta["steps_done"] == 40
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["total_modes"] == 8 and 0 <= metrics["high_quality"] <= 1
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [20, 40]
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*"))


def test_sample_writes_npy_csv_png(trained):
    run = trained / "run"
    gensdk("sample", run, "-n", 10, "-o", trained / "s.npy", check=True)
    assert np.load(trained / "s.npy").shape == (10, 2)
    gensdk("sample", run, "-n", 7, "-o", trained / "s.csv", check=True)
    assert np.loadtxt(trained / "s.csv", delimiter=",").shape == (7, 2)
    gensdk("sample", run / "model", "-n", 50, "-o", trained / "s.png", check=True)
    assert Image.open(trained / "s.png").size[0] > 100
    again = trained / "again.npy"
    gensdk("sample", run, "-n", 10, "-o", again, check=True)
    assert np.array_equal(np.load(again), np.load(trained / "s.npy"))  # same seed, same samples


def test_evaluate_uses_the_saved_recipe(trained):
    result = gensdk("evaluate", trained / "run", "-o", trained / "m.json", check=True)
    assert "high_quality" in result.stdout
    assert json.loads((trained / "m.json").read_text())["total_modes"] == 8


def test_toy_draws_a_picture(tmp_path):
    result = gensdk("toy", "--loss", "hinge", "--steps", 30, "--out", tmp_path / "toy", "--quiet", check=True)
    assert "modes" in result.stdout
    assert Image.open(tmp_path / "toy" / "toy.png").size == (512, 512)


@pytest.mark.parametrize("recipe_text, fragments", [
    ("data: {name: ring}\nmodel: {name: gan, loss: bogus}\n", ["model 'gan'", "unknown GAN loss 'bogus'"]),
    ("data: {name: ring}\nmodel: {name: nosuchmodel}\n", ["unknown model 'nosuchmodel'", "known models"]),
    ("data: {name: ring}\nmodel: {name: gan, hiden: [8]}\n", ["model 'gan' has no option 'hiden'"]),
    ("data: {name: ring}\nmodle: {name: gan}\n", ["unknown key 'modle'"]),
    ("data: {name: nosuchdata}\nmodel: {name: gan}\n", ["unknown data set 'nosuchdata'"]),
    ("data: {name: ring, std: -1}\nmodel: {name: gan}\n", ["data set 'ring'", "std > 0"]),
    ("data: {name: ring}\nmodel: {name: gan}\ntrain: {steps: -3}\n", ["train.steps must be a positive integer"]),
    ("data: {name: ring}\nmodel: {name: gan}\ntrain: {stepz: 3}\n", ["train: unknown option 'stepz'"]),
    ("data: {name: ring\nmodel: [\n", ["not valid YAML"]),
    ("- just\n- a list\n", ["a recipe is a mapping"]),
    ("data: {name: ring}\n", ["'model' must be a mapping with a 'name'"]),
])
def test_bad_recipes_are_one_line_exit_2(tmp_path, recipe_text, fragments):
    recipe = write_recipe(tmp_path / "bad.yaml", recipe_text)
    result = gensdk("train", recipe, "--out", tmp_path / "run", "--quiet")
    assert_user_error(result, *fragments)
    assert not (tmp_path / "run" / "model").exists()


def test_an_image_given_as_recipe_is_one_line_exit_2(tmp_path):
    picture = tmp_path / "some.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(picture)
    result = gensdk("train", picture, "--out", tmp_path / "run", "--quiet")
    assert_user_error(result, "some.png: not a YAML recipe")
    assert not (tmp_path / "run").exists()


def test_bad_command_line_values(tmp_path, trained):
    assert_user_error(gensdk("train", tmp_path / "missing.yaml"), "missing.yaml: recipe file not found")
    recipe = write_recipe(tmp_path / "tiny.yaml", TINY)
    assert_user_error(gensdk("train", recipe, "--set", "train.steps"), "expected key.path=value")
    assert_user_error(gensdk("sample", tmp_path / "nowhere", "-o", tmp_path / "x.npy"), "no such model folder")
    assert_user_error(gensdk("sample", trained / "run", "-o", tmp_path / "x.gif"), "must end in .npy, .csv or .png")
    assert_user_error(gensdk("sample", tmp_path, "-o", tmp_path / "x.npy"), "not a saved model (no config.json)")


def test_damaged_saved_models_are_refused_and_left_alone(tmp_path, trained):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained / "run" / "model", model)
    weights = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(weights[:100])
    assert_user_error(gensdk("sample", model, "-o", tmp_path / "x.npy"), "cannot load weights")
    assert (model / "model.safetensors").read_bytes() == weights[:100]
    (model / "model.safetensors").write_bytes(weights)
    config = json.loads((model / "config.json").read_text())
    config["config"]["hidden"] = [32, 32]
    (model / "config.json").write_text(json.dumps(config))
    assert_user_error(gensdk("sample", model, "-o", tmp_path / "x.npy"), "model.safetensors")
    (model / "config.json").write_text("{not json")
    assert_user_error(gensdk("sample", model, "-o", tmp_path / "x.npy"), "malformed model config")
    assert not (tmp_path / "x.npy").exists()


def test_a_new_run_never_overwrites_an_existing_one_by_mistake(trained):
    run = trained / "run"
    before = (run / "checkpoint.pt").read_bytes()
    result = gensdk("train", run / "recipe.json", "--out", run, "--quiet")
    assert_user_error(result, "holds a run already", "--resume", "--overwrite")
    assert (run / "checkpoint.pt").read_bytes() == before


def test_recipe_evaluation_of_an_image_likelihood_model(tmp_path):
    """A VAE recipe end to end: held-out NLL (importance weighted) and sample-quality metrics."""
    recipe = write_recipe(tmp_path / "vae.yaml", """
data: {name: digits, split: train}
model: {name: vae, latent_dim: 4, hidden: [32]}
train: {steps: 60, batch_size: 64, log_every: 30}
evaluate: {samples: 200, data: {split: test}, nll: {k: 10}}
""")
    gensdk("train", recipe, "--out", tmp_path / "run", "--quiet", check=True)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 10 < metrics["nll_nats"] < 64 * 0.7  # better than independent fair coins (44.4 nats)
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll_nats"] / (64 * np.log(2)))
    assert metrics["fd_cnn"] > 0 and 0 <= metrics["precision"] <= 1 and metrics["is_cnn"] >= 1
