"""CTGAN, TVAE, TabDDPM and TableSynthesizer on a tiny mixed table: shapes, types, save/load, behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import gensdk
from gensdk.core.model import build_model, load_model
from gensdk.core.trainer import TrainConfig, Trainer
from gensdk.errors import UserError
from gensdk_plugins.tabular.data import ColumnSpec, TableMetadata
from gensdk_plugins.tabular.models import TableSynthesizer

TINY = {"embedding_dim": 16}
TINY_CTGAN = {**TINY, "generator_dims": (32, 32), "discriminator_dims": (32, 32)}
TINY_TVAE = {**TINY, "compress_dims": (32, 32), "decompress_dims": (32, 32)}
TINY_TABDDPM = {"width": 32, "depth": 1, "timesteps": 50, "sample_steps": 10}


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


@pytest.mark.parametrize("model, options", [("ctgan", TINY_CTGAN), ("tvae", TINY_TVAE), ("tabddpm", TINY_TABDDPM)])
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
    pd.testing.assert_frame_equal(gensdk.load(folder, device="cpu").sample(50, seed=3), sampled)


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


# --- tabddpm -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_modes() -> tuple[pd.DataFrame, TableMetadata]:
    """A numeric column with two modes and a colour that mostly says which mode a row is in."""
    rng = np.random.default_rng(0)
    n = 1000
    upper = rng.random(n) < 0.3
    df = pd.DataFrame({"x": np.where(upper, rng.normal(10, 1, n), rng.normal(-5, 0.5, n)),
                       "colour": np.where(upper == (rng.random(n) < 0.9), "red", "blue")})
    return df, TableMetadata(columns=[ColumnSpec("x", "numerical", "float"), ColumnSpec("colour", "categorical")])


def test_tabddpm_learns_a_numeric_marginal_and_its_tie_to_a_category(two_modes):
    """The quantile encoding alone would give the marginal back from any N(0, 1) output, so the check
    reads both the marginal and the category each mode carries (90% red above, 10% below): a model
    that learned the columns apart gives about 38% red in each."""
    df, metadata = two_modes
    synth = TableSynthesizer("tabddpm", steps=600, batch_size=250, width=64, depth=2, timesteps=100,
                             device="cpu").fit(df, metadata)
    fake = synth.sample(2000, seed=1)
    assert fake["x"].between(df["x"].min(), df["x"].max()).all()
    upper = fake["x"] > 2.5
    assert abs(upper.mean() - 0.3) < 0.05
    assert (fake["x"].between(-7, -3) | fake["x"].between(6, 14)).mean() > 0.97  # little between the modes
    assert (fake.loc[upper, "colour"] == "red").mean() > 0.75  # 30 steps: 0.71
    assert (fake.loc[~upper, "colour"] == "red").mean() < 0.2


def test_tabddpm_sampling_options_and_their_mistakes(two_modes):
    df, metadata = two_modes
    synth = TableSynthesizer("tabddpm", steps=5, batch_size=250, device="cpu", **TINY_TABDDPM).fit(df, metadata)
    fast = synth.sample(30, seed=0, steps=3, sampler="ddim")
    assert len(fast) == 30 and set(fast["colour"]) <= {"red", "blue"}
    assert not fast.equals(synth.sample(30, seed=0))  # the step count is the sampling call's choice
    for options, fragment in [({"steps": 0}, "steps must be a positive integer, got 0"),
                              ({"steps": 51}, "at most the model's 50 diffusion steps"),
                              ({"sampler": "heun"}, "unknown sampler 'heun' for model 'tabddpm'"),
                              ({"guidance": 2.0}, "unconditional: it takes no guidance scale"),
                              ({"temperature": 1}, "has no sampling option 'temperature'")]:
        with pytest.raises(UserError, match=fragment):
            synth.sample(5, **options)
    tvae = TableSynthesizer("tvae", steps=2, batch_size=250, **TINY_TVAE).fit(df, metadata)
    with pytest.raises(UserError, match="model 'tvae' has no sampling option 'steps'"):
        tvae.sample(5, steps=10)


def test_tabddpm_training_stopped_and_resumed_gives_bit_identical_weights(tmp_path):
    """The corruption of each step (times, noise, masks) depends on (seed, step) alone."""
    rng = np.random.default_rng(0)
    x = torch.cat([torch.from_numpy(rng.normal(size=(64, 2))).float(),
                   torch.nn.functional.one_hot(torch.from_numpy(rng.integers(0, 3, 64)), 3).float()], 1)
    info = [[0, 1, "normal"], [1, 1, "normal"], [2, 3, "softmax"]]
    config = dict(steps=6, batch_size=16, ema_decay=0.9, lr_schedule="linear", checkpoint_every=100, progress=False)

    def make():
        torch.manual_seed(0)
        return build_model("tabddpm", output_info=info, data_dim=5, width=16, depth=1, timesteps=20)

    unbroken = Trainer(make(), x, TrainConfig(**config), tmp_path / "a").fit()
    first = Trainer(make(), x, TrainConfig(**config), tmp_path / "b")
    first.fit(stop_after=0.0)
    assert first.step == 1 and not first.finished
    Trainer(make(), x, TrainConfig(**config), tmp_path / "b").fit(resume=True)
    a, b = unbroken.state_dict(), load_model(tmp_path / "b" / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("options, fragment", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"steps": -1}, "steps must be a positive integer, got -1"),
    ({"minutes": 0}, "minutes must be a positive number, got 0"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
])
def test_impossible_budgets_are_one_clear_error(options, fragment):
    with pytest.raises(UserError, match=fragment):
        TableSynthesizer("tabddpm", **options)
