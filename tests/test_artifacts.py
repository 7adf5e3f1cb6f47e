"""Trained artifacts (gensdk/core/artifact.py): one save, one load, gensdk.load opening any plugin's folder,
`gensdk sample` / `gensdk evaluate` on them, and folders written before artifacts existed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import gensdk
import gensdk.core.vae  # noqa: F401 - registers "vae"
from gensdk.core.artifact import ARTIFACTS, Artifact, register_artifact
from gensdk.core.model import build_model, save_model
from gensdk.errors import UserError
from helpers import assert_user_error, gensdk as run_cli


@register_artifact("test-points", plugin="tests")
class Points(Artifact):
    """A core VAE with a fitted shift: the smallest artifact there is."""

    def __init__(self, model, shift: float):
        self.model, self.shift = model, shift

    def state(self):
        return {"shift": self.shift}

    def files(self):
        return {"shift.txt": lambda path: path.write_text(str(self.shift))}

    @classmethod
    def restore(cls, folder, state, model, device):
        assert (folder / "shift.txt").read_text() == str(state["shift"])
        return cls(model, state["shift"])

    def write_samples(self, n, out, seed=0):
        torch.manual_seed(seed)
        np.save(out, self.model.sample(n).numpy() + self.shift)
        return out


def points(shift=2.5) -> Points:
    torch.manual_seed(0)
    return Points(build_model("vae", data_shape=[2], hidden=[8], latent_dim=2), shift)


def test_one_save_one_load_and_gensdk_load_finds_the_class(tmp_path):
    folder = points().save(tmp_path / "points", record={"train": {"steps": 3}})
    meta = json.loads((folder / "config.json").read_text())
    assert meta["artifact"] == "test-points" and meta["plugin"] == "tests" and meta["state"] == {"shift": 2.5}
    assert meta["model"] == "vae" and meta["train"] == {"steps": 3}
    loaded = gensdk.load(folder)
    assert isinstance(loaded, Points) and loaded.shift == 2.5 and loaded.record == {"train": {"steps": 3}}
    out = gensdk.sample(loaded, 4, tmp_path / "x.npy")
    assert np.load(out).shape == (4, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points", "x.npy"]  # no temporary left


def test_a_folder_naming_no_artifact_loads_as_a_core_model(tmp_path):
    folder = save_model(points().model, tmp_path / "plain")
    assert not isinstance(gensdk.load(folder), Artifact)


@pytest.mark.parametrize("edit, message", [
    ({"artifact": "no-such-thing", "plugin": "tabular"}, "unknown artifact 'no-such-thing'"),
    ({"artifact": "telescope", "plugin": "astronomy"}, "(a 'telescope' folder): plugin 'astronomy' is not installed"),
])
def test_unknown_artifact_or_plugin_is_one_clear_line(tmp_path, edit, message):
    folder = points().save(tmp_path / "points")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, **edit}))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gensdk.load(folder)
    assert_user_error(run_cli("sample", folder, "-n", "2", "-o", tmp_path / "x.npy"), message)


# --- tabular ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris_tvae(tmp_path_factory):
    from gensdk_plugins.tabular.models import TableSynthesizer

    folder = tmp_path_factory.mktemp("tabular") / "tvae"
    run_cli("tabular", "train", "iris", folder, "--model", "tvae", "--steps", "20", "--device", "cpu", "--quiet",
            check=True)
    return folder, TableSynthesizer


def test_tabular_train_sample_evaluate_through_the_core_verbs(iris_tvae, tmp_path):
    folder, TableSynthesizer = iris_tvae
    assert isinstance(gensdk.load(folder), TableSynthesizer)
    rows = tmp_path / "rows.csv"
    run_cli("sample", folder, "-n", "30", "-o", rows, check=True)
    assert len(pd.read_csv(rows)) == 30 and list(pd.read_csv(rows).columns)[-1] == "species"
    assert_user_error(run_cli("sample", folder, "-n", "3", "-o", tmp_path / "rows.smi"), "must end in .csv or .parquet")
    metrics = tmp_path / "metrics.json"
    run_cli("evaluate", folder, "--data", "iris", "-o", metrics, check=True)
    assert 0 < json.loads(metrics.read_text())["quality_score"] <= 1
    assert_user_error(run_cli("evaluate", folder), "pass --data")


def test_tabular_folder_written_before_artifacts_still_loads(iris_tvae, tmp_path):
    """The layout the pre-artifact TableSynthesizer.save wrote: no "artifact"/"plugin" keys."""
    folder, TableSynthesizer = iris_tvae
    synth = TableSynthesizer.load(folder, device="cpu")
    settings = {"model": synth.model_name, "epochs": synth.epochs, "steps": synth.steps,
                "batch_size": synth.batch_size, "seed": synth.seed, "model_options": synth.model_options,
                "columns": synth.columns}
    old = save_model(synth.model, tmp_path / "old", extra={"synthesizer": settings},
                     files={"transformer.json": lambda p: p.write_text((folder / "transformer.json").read_text()),
                            "metadata.json": synth.metadata.save})
    pd.testing.assert_frame_equal(TableSynthesizer.load(old, device="cpu").sample(20, seed=1), synth.sample(20, seed=1))
    assert not isinstance(gensdk.load(old), Artifact)  # no key: a core model, as before


def test_registry_refuses_a_name_taken_by_another_class():
    with pytest.raises(ValueError, match="already registered"):
        register_artifact("test-points", plugin="tests")(type("Other", (Artifact,), {}))
    assert ARTIFACTS["test-points"] is Points


# --- molecules -------------------------------------------------------------------------------------
def test_molecule_generator_is_an_artifact_and_old_folders_load(tmp_path):
    pytest.importorskip("rdkit")
    from helpers import DRUG_SMILES
    from gensdk_plugins.molecules.models import MoleculeGenerator, load_generator

    torch.manual_seed(0)
    generator = MoleculeGenerator.create("char-rnn", DRUG_SMILES, d_model=16, layers=1)
    folder = generator.save(tmp_path / "run" / "model")
    assert isinstance(gensdk.load(tmp_path / "run"), MoleculeGenerator)  # a run folder: its model/
    out = run_cli("sample", tmp_path / "run", "-n", "7", "-o", tmp_path / "mols.smi", check=True)
    assert "wrote 7 samples" in out.stdout and len((tmp_path / "mols.smi").read_text().splitlines()) == 7
    metrics = tmp_path / "metrics.json"
    run_cli("evaluate", folder, "-n", "20", "-o", metrics, check=True)
    assert 0 <= json.loads(metrics.read_text())["valid"] <= 1
    # the layout the pre-artifact MoleculeGenerator.save wrote: the state under "molecules", no "artifact" key
    old = save_model(generator.model, tmp_path / "old", extra={"molecules": {"kind": "char-rnn", "representation": "smiles"}})
    assert load_generator(old, "cpu").sample(5, seed=1) == generator.sample(5, seed=1)


# --- fuzzing ---------------------------------------------------------------------------------------
def test_c_program_model_samples_a_folder_of_c_files_and_evaluates(tmp_path):
    from gensdk_plugins.fuzzing.model import CodeModel

    torch.manual_seed(0)
    model = CodeModel.create(["int x;", "int f(void) { return 1; }", "int y = 2;"], size="tiny", max_len=32,
                             min_count=1)
    folder = model.save(tmp_path / "c")
    assert isinstance(gensdk.load(folder), CodeModel)
    run_cli("sample", folder, "-n", "3", "-o", tmp_path / "progs", check=True)
    assert sorted(p.name for p in (tmp_path / "progs").iterdir()) == [f"prog-0000{i}.c" for i in range(3)]
    assert_user_error(run_cli("sample", folder, "-n", "3", "-o", tmp_path / "progs"), "new or empty folder")
    results = gensdk.evaluate(gensdk.load(folder), None, n_samples=4)
    assert results["programs"] == 4 and 0 <= results["compiles"] <= 1


# --- compression -----------------------------------------------------------------------------------
def test_gensdk_load_opens_codec_folders_and_sample_says_codecs_do_not_sample(tmp_path):
    from gensdk_plugins.compression.training import export_codec, train_codec

    crops = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    trained = train_codec("factorized-prior", 2, crops, tmp_path / "codecs", steps=2, batch_size=2, device="cpu",
                          progress=False, N=16, M=24)
    export_codec(trained, tmp_path / "exported", {"steps": 2})
    run = tmp_path / "codecs" / "factorized-prior-q2"
    assert not gensdk.load(run).coding_only  # a run folder: its model/
    assert gensdk.load(tmp_path / "exported").coding_only  # lacks the training-only weights: open_codec opens it
    assert_user_error(run_cli("sample", tmp_path / "exported", "-n", "1", "-o", tmp_path / "x.npy"),
                      "a codec compresses images; it does not sample them")


# --- characters ------------------------------------------------------------------------------------
def test_character_generator_is_an_artifact_and_old_folders_load(tmp_path):
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.data import load_characters
    from gensdk_plugins.characters.generative import CharacterGenerator, is_trained, load_generator, train_generator

    chars = load_characters("sklearn-digits", size=8)
    generator = train_generator("cvae", chars.images[:200], chars.labels[:200], chars.classes, tmp_path / "run",
                                steps=3, device="cpu", model_options={"hidden": [32], "latent_dim": 4},
                                classifier_recipe=ClassifierRecipe(steps=3, width=8), progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "model").iterdir()) == ["classifier", "config.json",
                                                                              "model.safetensors"]
    loaded = gensdk.load(tmp_path / "run")
    assert isinstance(loaded, CharacterGenerator) and loaded.classifier is not None and is_trained(tmp_path / "run")
    run_cli("sample", tmp_path / "run", "-n", "12", "-o", tmp_path / "images", check=True)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == chars.classes
    assert len(list((tmp_path / "images").rglob("*.png"))) == 12
    metrics = tmp_path / "metrics.json"
    run_cli("evaluate", tmp_path / "run", "--data", "sklearn-digits", "-n", "40", "-o", metrics, check=True)
    assert {"fd", "precision"} <= set(json.loads(metrics.read_text()))
    # the layout written before artifacts: characters.json and classifier/ beside the run's model/
    old = tmp_path / "old"
    save_model(generator.model, old / "model")
    (old / "characters.json").write_text(json.dumps(generator.info))
    generator.classifier.save(old / "classifier")
    again = load_generator(old)
    labels = torch.tensor([0, 1, 2])
    assert torch.equal(again.generate(labels, noise_seeds=[1, 2, 3]), generator.generate(labels, noise_seeds=[1, 2, 3]))
    assert again.classifier is not None and is_trained(old)
