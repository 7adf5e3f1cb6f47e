"""Every domain's main model trains from its recipe in recipes/ (``plugin: NAME``), here with a tiny budget and
small data set by ``--set``-style overrides; the recipe's own model, options and verbs are what run. Then
gensdk.load, gensdk sample and the recipe's evaluation work on what it trained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import gensdk
from gensdk.api import load_recipe
from gensdk.errors import UserError
from gensdk.plugins import discover, owned
from helpers import DRUG_SMILES, assert_user_error, gensdk as run_cli

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
PLUGIN_RECIPES = {"tabular-tvae": "tabular", "molecules-transformer": "molecules", "characters-cvae": "characters",
                  "fuzzing-c-transformer": "fuzzing", "architectures-digits-cnn": "architectures",
                  "compression-channel-context": "compression"}


def train(name: str, out: Path, *overrides: str):
    return gensdk.train(RECIPES / f"{name}.yaml", overrides=["train.device=cpu", *overrides], out=out, progress=False)


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_each_domain_has_a_recipe_for_its_main_model():
    domains = {load_recipe(path).get("plugin") for path in RECIPES.glob("*.yaml")} - {None}
    assert domains == set(PLUGIN_RECIPES.values()) == {"characters", "tabular", "molecules", "architectures",
                                                        "compression", "fuzzing"}
    for name, plugin in PLUGIN_RECIPES.items():
        assert load_recipe(RECIPES / f"{name}.yaml")["plugin"] == plugin
    assert all(plugin.train_recipe is not None for plugin in discover()[0].values())


def test_tabular_tvae_recipe(tmp_path):
    pytest.importorskip("pandas")
    from gensdk_plugins.tabular.models import TableSynthesizer, load_synthesizer

    out = tmp_path / "run"
    trained = train("tabular-tvae", out, "data.name=iris", "evaluate.data=iris", "train.epochs=null", "train.steps=5")
    assert isinstance(trained, TableSynthesizer) and trained.model_name == "tvae"
    assert isinstance(gensdk.load(out), TableSynthesizer)
    assert json.loads((out / "recipe.json").read_text())["plugin"] == "tabular"
    assert 0 < metrics(out)["quality_score"] <= 1
    assert len(load_synthesizer(out).sample(7)) == 7  # `tabular sample` takes the run folder
    run_cli("tabular", "evaluate", "iris", out, "-o", tmp_path / "m.json", check=True)  # a model folder's samples
    assert json.loads((tmp_path / "m.json").read_text()) == metrics(out)  # 150 rows of seed 0 both times


def test_molecules_transformer_recipe(tmp_path):
    pytest.importorskip("rdkit")
    from gensdk_plugins.molecules.models import MoleculeGenerator

    smiles = tmp_path / "train.smi"
    smiles.write_text("\n".join(DRUG_SMILES) + "\n")
    out = tmp_path / "run"
    trained = train("molecules-transformer", out, f"data.name={smiles}", "data.randomize=2", "model.d_model=16",
                    "model.layers=1", "model.heads=2", "train.steps=3", "train.batch_size=8", "evaluate.data=null",
                    "evaluate.samples=10")
    assert isinstance(trained, MoleculeGenerator) and trained.kind == "transformer"
    assert metrics(out)["valid"] >= 0
    gensdk.sample(gensdk.load(out), 5, tmp_path / "mols.smi")
    assert len((tmp_path / "mols.smi").read_text().splitlines()) == 5
    scored = run_cli("molecules", "evaluate", out, "-n", "10", "--train", "", "--test", "", "--test-scaffolds", "",
                     "--device", "cpu", "-o", tmp_path / "m.json", check=True)  # a model folder's samples
    assert json.loads((tmp_path / "m.json").read_text())["valid"] == metrics(out)["valid"], scored.stdout


def test_characters_cvae_recipe(tmp_path):
    from gensdk_plugins.characters.generative import CharacterGenerator

    out = tmp_path / "run"
    trained = train("characters-cvae", out, "data.name=sklearn-digits", "data.size=8", "model.hidden=[32]",
                    "model.latent_dim=4", "model.classifier={steps: 3, width: 8}", "train.steps=3",
                    "evaluate.data=sklearn-digits", "evaluate.samples=40")
    assert isinstance(trained, CharacterGenerator) and trained.method == "cvae"
    assert trained.classifier.recipe.steps == 3 and trained.classifier.recipe.label_smoothing == 0.0  # over the filter's
    assert {"fd", "precision"} <= set(metrics(out))
    gensdk.sample(gensdk.load(out), 10, tmp_path / "images")
    assert len(list((tmp_path / "images").rglob("*.png"))) == 10
    scored = run_cli("characters", "evaluate", out, "sklearn-digits", "--device", "cpu", check=True)  # a model folder
    assert "precision" in scored.stdout


def test_fuzzing_c_transformer_recipe(tmp_path):
    from gensdk_plugins.fuzzing.model import CodeModel

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"p{i}.c").write_text(f"int x{i};\nint f{i}(void) {{ return {i}; }}\nint main(void) {{ return f{i}(); }}\n")
    out = tmp_path / "run"
    trained = train("fuzzing-c-transformer", out, f"data.name={corpus}", "model.size=tiny", "model.max_len=64",
                    "train.steps=3", "train.batch_size=2", "train.validate_every=0", "evaluate.samples=2")
    assert isinstance(trained, CodeModel)
    assert metrics(out)["programs"] == 2
    gensdk.sample(gensdk.load(out), 2, tmp_path / "progs")
    assert len(list((tmp_path / "progs").glob("*.c"))) == 2


def test_architectures_digits_cnn_recipe(tmp_path):
    from gensdk_plugins.architectures.training import TrainedNetwork

    out = tmp_path / "run"
    trained = train("architectures-digits-cnn", out, "train.steps=5")
    assert isinstance(trained, TrainedNetwork) and trained.data == "sklearn-digits"
    assert 0 <= metrics(out)["test_accuracy"] <= 1
    scored = run_cli("architectures", "evaluate", out, "--device", "cpu", check=True)  # the domain's verb on the folder
    assert "test_accuracy" in scored.stdout
    assert_user_error(run_cli("sample", out, "-n", "2", "-o", tmp_path / "x"), "draws no samples")


def test_compression_channel_context_recipe(tmp_path):
    pytest.importorskip("constriction")
    from gensdk_plugins.compression.models import TransformCodec

    crops = tmp_path / "crops.npy"
    np.save(crops, np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))  # 64: the hyper-latent's stride
    out = tmp_path / "codecs"
    trained = train("compression-channel-context", out, f"data.name={crops}", "model.N=16", "model.M=24",
                    "train.steps=2", "train.batch_size=2")
    assert isinstance(trained, TransformCodec) and trained.model_name == "channel-context-hyperprior"
    folder = out / "channel-context-hyperprior"
    assert (folder / "model" / "config.json").is_file() and not (out / "metrics.json").exists()
    assert_user_error(run_cli("evaluate", folder), "evaluate it with `gensdk compression evaluate`")


@pytest.mark.parametrize("text, message", [
    ("plugin: astronomy\ndata: {name: x}\nmodel: {name: y}\n", "plugin 'astronomy' is not installed"),
    ("plugin: architectures\ndata: {name: sklearn-digits}\nmodel: {name: arch-classifier, description: x.arch}\n"
     "train: {epochs: 3}\n", "recipe train: unknown option 'epochs' for plugin 'architectures'"),
    ("plugin: tabular\ndata: {name: iris}\nmodel: {name: tvae}\nvalid: {split: x}\n", "no 'valid' section"),
    ("plugin: tabular\ndata: {name: iris}\nmodel: {name: tvae}\nevaluate: {nll: {}}\n", "evaluate: unknown option 'nll'"),
    ("plugin: fuzzing\ndata: {name: corpus}\nmodel: {name: gpt}\n", "trains 'c-transformer', not 'gpt'"),
    ("plugin: compression\ndata: {name: none.npy}\nmodel: {name: factorized-prior}\nevaluate: {samples: 3}\n",
     "gensdk compression evaluate --codecs"),
])
def test_plugin_recipe_mistakes_are_one_line_before_any_training(tmp_path, text, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        gensdk.train(recipe, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_plugin_recipe_mistake_on_the_command_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("plugin: tabular\ndata: {name: iris}\nmodel: {name: tvae}\ntrain: {epoch: 3}\n")
    assert_user_error(run_cli("train", recipe, "--out", tmp_path / "run"), "unknown option 'epoch' for plugin 'tabular'")


def test_plugins_list_only_their_own_models_from_the_registries():
    found = discover()[0]
    for plugin in found.values():
        names = owned(plugin)
        assert "token-lm" not in names["models"]  # a core model that molecules and fuzzing train is the core's
    assert owned(found["tabular"]) == {"models": ["ctgan", "tabddpm", "tvae"], "artifacts": ["table-synthesizer"]}
    assert owned(found["fuzzing"]) == {"models": [], "artifacts": ["c-program-model"]}
    if "molecules" in found:
        assert owned(found["molecules"]) == {"models": ["mol-graph", "smiles-vae"], "artifacts": ["molecule-generator"]}
    listed = run_cli("plugins", check=True).stdout
    molecules_row = next((line for line in listed.splitlines() if "molecules" in line), "")
    assert "token-lm" not in listed and ("molecule-generator" in molecules_row or "molecules" not in found)
