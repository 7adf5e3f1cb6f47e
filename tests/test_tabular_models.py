"""CTGAN, TVAE and TableSynthesizer on a tiny mixed table: shapes, types, save/load, behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gensdk.errors import UserError
from gensdk_plugins.tabular.data import ColumnSpec, TableMetadata
from gensdk_plugins.tabular.models import TableSynthesizer

TINY = {"embedding_dim": 16}
TINY_CTGAN = {**TINY, "generator_dims": (32, 32), "discriminator_dims": (32, 32)}
TINY_TVAE = {**TINY, "compress_dims": (32, 32), "decompress_dims": (32, 32)}


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, TableMetadata]:
    rng = np.random.default_rng(0)
    n = 300
    amount = np.where(rng.random(n) < 0.5, rng.normal(-5, 1, n), rng.normal(10, 2, n))
    amount[rng.random(n) < 0.05] = np.nan
    colour = rng.choice(["red", "green", "blue"], n, p=[0.6, 0.3, 0.1]).astype(object)
    colour[rng.random(n) < 0.05] = None
    df = pd.DataFrame({
        "user": [f"u{i}" for i in range(n)],
        "amount": amount,
        "count": rng.integers(0, 100, n),
        "colour": colour,
        "member": rng.random(n) < 0.3,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
    })
    metadata = TableMetadata(columns=[
        ColumnSpec("user", "id"), ColumnSpec("amount", "numerical", "float"),
        ColumnSpec("count", "numerical", "integer"), ColumnSpec("colour", "categorical"),
        ColumnSpec("member", "boolean"), ColumnSpec("joined", "datetime"),
    ])
    return df, metadata


def check_rows(sampled: pd.DataFrame, df: pd.DataFrame, n: int) -> None:
    assert len(sampled) == n
    assert list(sampled.columns) == list(df.columns)
    assert sampled["user"].is_unique
    assert set(sampled["colour"].dropna()) <= set(df["colour"].dropna())
    assert sampled["member"].dtype == bool
    assert pd.api.types.is_datetime64_any_dtype(sampled["joined"])
    assert pd.api.types.is_float_dtype(sampled["amount"])
    assert pd.api.types.is_integer_dtype(sampled["count"])
    assert sampled["count"].between(df["count"].min(), df["count"].max()).all()


@pytest.mark.parametrize("model, options", [("ctgan", TINY_CTGAN), ("tvae", TINY_TVAE)])
def test_fit_sample_save_load(table, tmp_path, model, options):
    df, metadata = table
    synth = TableSynthesizer(model, steps=30, batch_size=100, **options).fit(df, metadata)
    sampled = synth.sample(50, seed=3)
    check_rows(sampled, df, 50)
    pd.testing.assert_frame_equal(sampled, synth.sample(50, seed=3))

    folder = synth.save(tmp_path / "synth")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "transformer.json",
                                                 "metadata.json"}
    loaded = TableSynthesizer.load(folder, device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), sampled)
    synth.save(folder)  # overwriting a saved folder keeps it whole
    pd.testing.assert_frame_equal(TableSynthesizer.load(folder).sample(50, seed=3), sampled)


def test_tvae_learns_category_frequencies(table):
    df, metadata = table
    synth = TableSynthesizer("tvae", steps=300, batch_size=100, **TINY_TVAE).fit(df, metadata)
    real = df["colour"].value_counts(normalize=True, dropna=False)
    fake = synth.sample(1000).value_counts(subset=["colour"], normalize=True, dropna=False)
    fake.index = [i[0] for i in fake.index]
    for value, share in real.items():
        assert abs(fake.get(value, 0.0) - share) < 0.15, (value, share, fake.to_dict())


def test_ctgan_condition(table):
    df, metadata = table
    synth = TableSynthesizer("ctgan", steps=30, batch_size=100, **TINY_CTGAN).fit(df, metadata)
    assert (synth.sample(40, condition={"colour": "red"})["colour"] == "red").all()
    with pytest.raises(UserError):
        synth.sample(5, condition={"colour": "purple"})


def test_text_dates_detected_metadata_and_batch_rounding():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"day": [f"2021-03-{d:02d}" for d in rng.integers(1, 29, 45)],
                       "kind": rng.choice(["a", "b"], 45), "x": rng.normal(size=45)})
    synth = TableSynthesizer("ctgan", steps=3, batch_size=33, **TINY_CTGAN).fit(df)  # batch 33 -> 30
    sampled = synth.sample(7)
    assert list(sampled.columns) == ["day", "kind", "x"] and len(sampled) == 7
    assert pd.to_datetime(sampled["day"], format="%Y-%m-%d").notna().all()


def test_errors(table):
    df, metadata = table
    with pytest.raises(UserError):
        TableSynthesizer("tvae").sample(3)
    with pytest.raises(UserError):
        TableSynthesizer("tvae", steps=1, no_such_option=1).fit(df, metadata)
    with pytest.raises(UserError):
        TableSynthesizer("nope", steps=1).fit(df, metadata)
    with pytest.raises(UserError):
        TableSynthesizer("tvae", steps=1).fit(df[["amount"]], metadata)
