"""Dataset families: generators, meta-features, the genetic search, the family folder, coverage."""

import math

import numpy as np
import pandas as pd
import pytest
from helpers import gensdk

from gensdk.errors import UserError
from gensdk_plugins.tabular.data import load_example
from gensdk_plugins.tabular.family import (TARGET, FamilySpec, generate_family, make_dataset, random_table, read_family,
                                    scm_table, search_table)
from gensdk_plugins.tabular.metafeatures import classification_view, coverage, meta_features

FAST = {"groups": ["general", "statistical"], "summary": ["mean"]}  # meta-features in milliseconds


def spec(**kw) -> FamilySpec:
    return FamilySpec.from_dict({"rows": [40, 120], "features": [2, 6], "classes": [2, 3], **FAST, **kw})


@pytest.mark.parametrize("generator", [scm_table, random_table])
def test_generators_respect_the_spec_and_are_repeatable(generator):
    s = spec(categorical_share=[0.5, 0.5])
    for seed in range(5):
        table, metadata, info = generator(np.random.default_rng(seed), s)
        assert 40 <= len(table) <= 120 and 2 <= len(table.columns) - 1 <= 6
        assert table.columns[-1] == TARGET == metadata.target and metadata.names == list(table.columns)
        counts = table[TARGET].value_counts()
        assert 2 <= len(counts) <= 3 and counts.min() >= 5  # every class learnable by 5-fold landmarkers
        for column in metadata.columns[:-1]:
            assert column.type == ("numerical" if pd.api.types.is_numeric_dtype(table[column.name]) else "categorical")
        again, _, _ = generator(np.random.default_rng(seed), s)
        pd.testing.assert_frame_equal(table, again)
    if generator is scm_table:  # half the columns categorical, on average
        assert any(c.type == "categorical" for c in metadata.columns[:-1])


def test_meta_features_of_iris_are_the_known_values():
    df, metadata = load_example("iris")
    features = meta_features(df, "species", metadata)
    assert (features["nr_inst"], features["nr_attr"], features["nr_class"]) == (150, 4, 3)
    assert features["class_ent"] == pytest.approx(math.log2(3))  # three balanced classes
    assert features["freq_class.mean"] == pytest.approx(1 / 3)
    assert 0.9 < features["one_nn.mean"] <= 1.0  # iris is easy for a nearest neighbour
    assert len(features) > 100
    only = meta_features(df, "species", metadata, names=["nr_inst", "cor.mean", "mut_inf.mean"])
    assert list(only) == ["nr_inst", "cor.mean", "mut_inf.mean"] and only["cor.mean"] == pytest.approx(features["cor.mean"])


def test_classification_view_picks_a_target_and_caps_rows():
    df = pd.DataFrame({"a": np.arange(300.0), "id": np.arange(300), "rare": ["x"] * 297 + ["y"] * 3,
                       "label": ["p", "q", "r"] * 100})
    view = classification_view("t", df, max_rows=90)
    assert view.metadata.target == "label" and len(view.table) == 90
    assert view.table["label"].value_counts().tolist() == [30, 30, 30]  # stratified
    assert classification_view("t", df[["a"]]) is None  # nothing to classify


def test_search_moves_toward_its_target():
    s = spec(method="search", search={"targets": [{"class_ent": 0.5}], "population": 6, "generations": 4})
    rng = np.random.default_rng(0)
    for target in (0.5, 1.0):  # two classes: imbalanced, then balanced
        _, _, info = search_table(np.random.default_rng(1), s, {"nr_class": 2, "class_ent": target})
        history = info["distance_history"]
        assert history[-1] <= history[0] and info["distance"] < 0.5
    table, metadata, info = search_table(rng, s, {"nr_inst": 77, "nr_attr": 3, "nr_class": 2})
    assert len(table) == 77 and len(table.columns) == 4  # starts at the target's size


def test_family_folder_resume_and_workers(tmp_path):
    s = spec(seed=3)
    index = generate_family(s, 4, tmp_path / "fam", progress=False)
    assert list(index.index) == [f"ds-{i:05d}" for i in range(4)] and index.loc["ds-00002", "nr_attr"] >= 2
    for name in ("table.csv", "metadata.json", "meta_features.json"):
        assert (tmp_path / "fam" / "ds-00001" / name).is_file()
    before = (tmp_path / "fam" / "ds-00001" / "table.csv").read_bytes()
    (tmp_path / "fam" / "ds-00001" / "table.csv").unlink()
    (tmp_path / "fam" / "ds-00001" / "meta_features.json").unlink()
    generate_family(s, 4, tmp_path / "fam", resume=True, progress=False)
    assert (tmp_path / "fam" / "ds-00001" / "table.csv").read_bytes() == before  # remade identically
    parallel = generate_family(s, 4, tmp_path / "par", workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel, read_family(tmp_path / "fam"))
    with pytest.raises(UserError, match="pass --resume"):
        generate_family(s, 4, tmp_path / "fam", progress=False)
    with pytest.raises(UserError, match="another spec"):
        generate_family(spec(seed=4), 4, tmp_path / "fam", resume=True, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not a gensdk family folder"):
        generate_family(s, 2, tmp_path / "other", overwrite=True, progress=False)
    assert (tmp_path / "other" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("bad, message", [
    ({"method": "magic"}, "unknown method 'magic'"),
    ({"rows": [100, 10]}, "rows range"),
    ({"colour": 1}, "unknown key(s) colour"),
    ({"method": "search"}, "needs search.targets"),
    ({"groups": ["astrology"]}, "unknown meta-feature group(s) astrology"),
])
def test_bad_specs_are_refused(bad, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FamilySpec.from_dict(bad)


def test_coverage_is_zero_distance_for_a_copy_and_low_for_a_far_set():
    rng = np.random.default_rng(0)
    real = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    far = real + 50.0
    result = coverage(real, {"copy": real.copy(), "far": far})
    assert result["sets"]["copy"]["nn_distance_mean"] == pytest.approx(0.0)
    assert result["sets"]["copy"]["covered_within_radius"] == 1.0
    assert result["sets"]["far"]["covered_within_radius"] == 0.0


def test_family_on_the_command_line(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("method: random\nrows: [40, 80]\nfeatures: [2, 4]\nclasses: [2, 2]\n"
                         "groups: [general]\nsummary: [mean]\n")
    gensdk("tabular", "family", "--n", "3", "--spec", spec_file, "--out", tmp_path / "fam", "--quiet", check=True)
    index = pd.read_csv(tmp_path / "fam" / "meta_features.csv", index_col=0)
    assert len(index) == 3 and (index["nr_class"] == 2).all()
    spec_file.write_text("method: [oops\n")
    bad = gensdk("tabular", "family", "--n", "3", "--spec", spec_file, "--out", tmp_path / "fam2")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "not valid YAML" in bad.stderr
    assert not (tmp_path / "fam2").exists()
