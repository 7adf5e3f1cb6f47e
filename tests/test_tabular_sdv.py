"""The SDV backend on a tiny mixed table: shapes, repeatable seeds, save/load behind allow_pickle, errors, CLI."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from helpers import gensdk

from gensdk.errors import UserError
from gensdk_plugins.tabular.data import ColumnSpec, TableMetadata
from gensdk_plugins.tabular.models import load_synthesizer, make_synthesizer
from gensdk_plugins.tabular.sdv_backend import SDV_MODELS, SDVSynthesizer

TINY = {"sdv-gaussiancopula": {}, "sdv-ctgan": {"epochs": 2, "embedding_dim": 16, "generator_dim": (32,),
                                                "discriminator_dim": (32,), "batch_size": 60},
        "sdv-tvae": {"epochs": 2, "embedding_dim": 16, "compress_dims": (32,), "decompress_dims": (32,),
                     "batch_size": 60}}


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, TableMetadata]:
    rng = np.random.default_rng(0)
    n = 120
    amount = rng.normal(10, 2, n)
    amount[rng.random(n) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]).astype(object)
    colour[rng.random(n) < 0.1] = None
    df = pd.DataFrame({
        "user": [f"u{i}" for i in range(n)],
        "amount": amount,
        "count": rng.integers(0, 50, n),
        "colour": colour,
        "member": rng.random(n) < 0.3,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "day": [f"2021-03-{d:02d}" for d in rng.integers(1, 29, n)],
    })
    metadata = TableMetadata(columns=[
        ColumnSpec("user", "id"), ColumnSpec("amount", "numerical", "float"),
        ColumnSpec("count", "numerical", "integer"), ColumnSpec("colour", "categorical"),
        ColumnSpec("member", "boolean"), ColumnSpec("joined", "datetime"),
        ColumnSpec("day", "datetime", datetime_format="%Y-%m-%d"),
    ])
    return df, metadata


@pytest.mark.parametrize("model", list(SDV_MODELS))
def test_fit_sample_seed_save_load(table, tmp_path, model):
    df, metadata = table
    before = df.copy()
    synth = make_synthesizer(model, device="cpu", seed=4, **TINY[model]).fit(df, metadata)
    pd.testing.assert_frame_equal(df, before)  # the input is not modified

    sampled = synth.sample(40, seed=1)
    assert len(sampled) == 40 and list(sampled.columns) == list(df.columns)
    assert sampled["user"].is_unique and not set(sampled["user"]) & set(df["user"])  # fresh ids, not copies
    assert set(sampled["colour"].dropna()) <= set(df["colour"].dropna())
    assert sampled["member"].dtype == bool and pd.api.types.is_datetime64_any_dtype(sampled["joined"])
    assert pd.api.types.is_integer_dtype(sampled["count"])
    assert pd.to_datetime(sampled["day"], format="%Y-%m-%d").notna().all()

    np.random.seed(5)
    pd.testing.assert_frame_equal(synth.sample(40, seed=1), sampled)  # same seed, same rows
    assert np.random.random() == np.random.RandomState(5).random_sample()  # the caller's RNG is left alone
    assert not synth.sample(40, seed=2).equals(sampled)
    refit = make_synthesizer(model, device="cpu", seed=4, **TINY[model]).fit(df, metadata)
    pd.testing.assert_frame_equal(refit.sample(40, seed=1), sampled)  # fit is repeatable too

    red = synth.sample(10, seed=1, condition={"colour": "red"})
    assert len(red) == 10 and (red["colour"] == "red").all() and list(red.columns) == list(df.columns)

    folder = synth.save(tmp_path / "synth")
    assert {p.name for p in folder.iterdir()} == {"config.json", "sdv_synthesizer.pkl", "metadata.json"}
    with pytest.raises(UserError, match="pickles, which run code when loaded.*--allow-pickle"):
        load_synthesizer(folder)
    loaded = load_synthesizer(folder, device="cpu", allow_pickle=True)
    assert isinstance(loaded, SDVSynthesizer) and loaded.metadata.names == metadata.names
    pd.testing.assert_frame_equal(loaded.sample(40, seed=1), sampled)
    synth.save(folder)  # overwriting a saved folder keeps it whole
    pd.testing.assert_frame_equal(load_synthesizer(folder, allow_pickle=True).sample(40, seed=1), sampled)


def test_errors(table, monkeypatch):
    df, metadata = table
    with pytest.raises(UserError, match="unknown tabular model 'sdv-nope'; choices: ctgan, tvae, tabddpm, sdv-gaussiancopula"):
        make_synthesizer("sdv-nope")
    with pytest.raises(UserError, match="choices: sdv-gaussiancopula, sdv-ctgan, sdv-tvae"):
        SDVSynthesizer("nope")
    with pytest.raises(UserError, match="sdv-tvae: SDV trains by epochs"):
        make_synthesizer("sdv-tvae", steps=10)
    with pytest.raises(UserError, match="has no option 'depth'; its options: enforce_min_max_values"):
        make_synthesizer("sdv-tvae", depth=3)
    with pytest.raises(UserError, match="call fit"):
        SDVSynthesizer("sdv-gaussiancopula").sample(3)

    synth = SDVSynthesizer("sdv-gaussiancopula").fit(df, metadata)
    with pytest.raises(UserError, match="Unexpected column name 'size'"):
        synth.sample(5, condition={"size": 3})
    short = synth.synthesizer.sample
    monkeypatch.setattr(synth.synthesizer, "sample", lambda n: {"table": short(n)["table"].head(n - 1)})
    with pytest.raises(UserError, match="made 19 of 20 rows"):  # never fewer rows than asked, silently
        synth.sample(20)

    monkeypatch.setitem(sys.modules, "sdv.single_table", None)  # as if SDV were not installed
    with pytest.raises(UserError, match=r"sdv is not installed: pip install 'gensdk\[tabular\]'"):
        make_synthesizer("sdv-ctgan")


def test_fit_and_sample_on_the_command_line(tmp_path):
    model, synthetic = tmp_path / "copula", tmp_path / "synthetic.csv"
    gensdk("tabular", "fit", "iris", model, "--model", "sdv-gaussiancopula", "--quiet", check=True)
    refused = gensdk("tabular", "sample", model, "-n", "30", "-o", synthetic)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "--allow-pickle" in refused.stderr and not synthetic.exists()
    gensdk("tabular", "sample", model, "-n", "30", "-o", synthetic, "--allow-pickle", check=True)
    header, *rows = synthetic.read_text().splitlines()
    assert header.split(",")[-1] == "species" and len(rows) == 30
