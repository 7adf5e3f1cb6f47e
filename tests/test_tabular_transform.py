"""The tabular data transformer: batched GMM fitting, reversible encoding, state without pickle."""

import json
import time

import numpy as np
import pandas as pd
import pytest
import torch

from gensdk_plugins.tabular.transform import TableTransformer, fit_gmms

TRUE_MODES = [[0.0], [-3.0, 4.0], [-5.0, 0.0, 5.0], [-9.0, -3.0, 3.0, 9.0]]


def _mixture(n: int, seed: int = 0) -> torch.Tensor:
    """Column j mixes Gaussians (std 0.5) at TRUE_MODES[j] with equal weights."""
    g = torch.Generator().manual_seed(seed)
    cols = []
    for modes in TRUE_MODES:
        pick = torch.randint(len(modes), (n,), generator=g)
        cols.append(
            torch.tensor(modes, dtype=torch.float64)[pick]
            + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
        )
    return torch.stack(cols, 1)


def _mode_clusters(means, weights, true_modes):
    """Weight-averaged fitted mean and total weight of the active modes nearest each true mode."""
    active = weights > 0
    m, w = means[active].numpy(), weights[active].numpy()
    nearest = np.abs(m[:, None] - np.asarray(true_modes)[None, :]).argmin(1)
    return [
        (np.average(m[nearest == i], weights=w[nearest == i]), w[nearest == i].sum())
        for i in range(len(true_modes))
    ]


def test_fit_gmms_recovers_modes_of_all_columns_at_once():
    means, stds, weights = fit_gmms(_mixture(20_000))
    assert means.shape == stds.shape == weights.shape == (4, 10)
    for j, true_modes in enumerate(TRUE_MODES):
        for (mean, weight), true in zip(
            _mode_clusters(means[j], weights[j], true_modes), true_modes
        ):
            assert abs(mean - true) < 0.1
            assert abs(weight - 1 / len(true_modes)) < 0.03
    torch.testing.assert_close(weights.sum(1), torch.ones(4, dtype=torch.float64))


def test_fit_gmms_prunes_light_modes_to_zero_weight():
    x = _mixture(20_000)
    # Column 0 is 99.8% one spike plus a few outliers: the outliers' modes weigh < 0.005.
    x[:, 0] = torch.where(torch.arange(len(x)) % 500 == 0, 100.0, 1.0)
    means, stds, weights = fit_gmms(x, max_modes=5)
    active = weights > 0
    assert active.sum(1).min() >= 1
    assert (weights[~active] == 0).all()
    assert active[0].sum() == 1  # the spike; the 0.2% outliers are pruned
    assert abs(means[0][active[0]].item() - 1.0) < 0.01
    assert (stds > 0).all()


def test_fit_gmms_ignores_missing_values():
    x = _mixture(20_000)
    x[::3, 2] = float("nan")
    x[:, 1] = float("nan")  # nothing observed: one placeholder mode, no NaN out
    means, stds, weights = fit_gmms(x)
    assert not (means.isnan().any() or stds.isnan().any() or weights.isnan().any())
    assert (weights[1] > 0).sum() == 1
    for (mean, _), true in zip(
        _mode_clusters(means[2], weights[2], TRUE_MODES[2]), TRUE_MODES[2]
    ):
        assert abs(mean - true) < 0.1


def _mixed_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = np.where(
        rng.random(n) < 0.5, rng.normal(30_000, 2_000, n), rng.normal(90_000, 5_000, n)
    )
    income[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(18, 90, n),
            "city": rng.choice(
                ["paris", "oslo", "lima", None], n, p=[0.5, 0.3, 0.15, 0.05]
            ),
            "member": rng.random(n) < 0.3,
            # Values beyond ~4 std of their mode lose detail to alpha's clip (as in CTGAN): none here.
            "score": rng.normal(0.0, 1.0, n).clip(-3, 3).astype(np.float32),
        }
    )


METADATA = [
    ("income", "continuous"),
    ("age", "continuous"),
    ("city", "discrete"),
    ("member", "discrete"),
    ("score", "continuous"),
]


def test_round_trip_of_a_mixed_frame():
    df = _mixed_frame()
    tt = TableTransformer().fit(df, METADATA)
    data = tt.transform(df)
    assert data.dtype == np.float32
    assert data.shape == (len(df), tt.output_dimensions)
    info = tt.output_info
    assert sum(s.width for s in info) == data.shape[1]
    assert [s.start for s in info] == list(
        np.cumsum([0] + [s.width for s in info[:-1]])
    )
    for span in info:  # every softmax span is one-hot
        if span.activation == "softmax":
            np.testing.assert_array_equal(
                data[:, span.start : span.start + span.width].sum(1), 1.0
            )

    back = tt.inverse_transform(data)
    assert list(back.columns) == list(df.columns)
    assert (back.dtypes == df.dtypes).all()
    np.testing.assert_array_equal(back["income"].isna(), df["income"].isna())
    np.testing.assert_allclose(back["income"], df["income"], rtol=1e-3)
    np.testing.assert_array_equal(back["age"], df["age"])  # integers come back exactly
    np.testing.assert_allclose(back["score"], df["score"], rtol=1e-3, atol=1e-5)
    pd.testing.assert_series_equal(back["city"], df["city"])
    pd.testing.assert_series_equal(back["member"], df["member"])

    indices = [i for i, _ in tt.discrete_spans]
    assert indices == [2, 3]
    freqs = tt.discrete_frequencies()
    assert [len(f) for f in freqs] == [s.width for _, s in tt.discrete_spans] == [4, 2]
    assert freqs[0][0] == np.log1p((df["city"] == "paris").sum())  # most frequent first


def test_high_cardinality_column_is_bounded():
    n = 200_000
    rng = np.random.default_rng(0)
    common = rng.choice([f"c{i}" for i in range(50)], n)
    unique = np.array([f"id{i}" for i in range(n)], dtype=object)
    df = pd.DataFrame(
        {"key": np.where(rng.random(n) < 0.5, common, unique), "x": rng.normal(size=n)}
    )
    tt = TableTransformer(max_categories=100).fit(
        df, [("key", "discrete"), ("x", "continuous")]
    )
    data = tt.transform(df)
    ((_, span),) = tt.discrete_spans
    assert span.width == 100
    assert data.nbytes == n * tt.output_dimensions * 4
    assert len(tt.to_state()["columns"][0]["other_values"]) <= tt.max_other_values
    back = tt.inverse_transform(data)
    assert back["key"].isin(set(df["key"])).all()
    assert back["key"].str.startswith("c").mean() == pytest.approx(0.5, abs=0.01)


def test_state_round_trip_gives_the_same_transform():
    df = _mixed_frame()
    tt = TableTransformer(seed=7).fit(df, METADATA)
    again = TableTransformer.from_state(json.loads(json.dumps(tt.to_state())))
    np.testing.assert_array_equal(tt.transform(df), again.transform(df))
    np.testing.assert_array_equal(tt.transform(df, seed=3), again.transform(df, seed=3))
    assert not np.array_equal(tt.transform(df, seed=3), tt.transform(df, seed=4))
    pd.testing.assert_frame_equal(
        tt.inverse_transform(tt.transform(df)),
        again.inverse_transform(again.transform(df)),
    )


def test_fit_time_on_a_million_rows():
    x = (
        torch.randn(1_000_000, 10, dtype=torch.float64) * 3
        + torch.randint(0, 3, (1_000_000, 10)) * 10
    )
    start = time.perf_counter()
    fit_gmms(x)
    seconds = time.perf_counter() - start
    print(f"fit_gmms 1M x 10: {seconds:.2f} s")
    assert seconds < 10


def test_quantile_encoding_round_trips_and_maps_noise_back_into_each_columns_shape():
    df = _mixed_frame()
    rng = np.random.default_rng(1)
    df["spike"] = np.where(rng.random(len(df)) < 0.7, 0.0, rng.exponential(3.0, len(df)))
    df["step"] = rng.choice([17.5, 22.0, 27.0, 32.0], len(df))  # few values, not whole numbers
    metadata = METADATA + [("spike", "continuous"), ("step", "continuous")]
    tt = TableTransformer(continuous="quantile").fit(df, metadata)
    assert [(s.column, s.width, s.activation) for s in tt.output_info if s.activation != "softmax"] == [
        ("income", 1, "normal"), ("age", 1, "normal"), ("score", 1, "normal"), ("spike", 1, "normal"),
        ("step", 1, "normal")]
    data = tt.transform(df)
    score = data[:, next(s.start for s in tt.output_info if s.column == "score")]
    assert abs(score.mean()) < 0.02 and abs(score.std() - 1) < 0.02  # any shape in, N(0, 1) out

    back = tt.inverse_transform(data)
    assert (back.dtypes == df.dtypes).all()
    np.testing.assert_array_equal(back["income"].isna(), df["income"].isna())
    np.testing.assert_allclose(back["income"], df["income"], rtol=1e-3)
    np.testing.assert_array_equal(back["age"], df["age"])
    np.testing.assert_allclose(back["score"], df["score"], rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(back["step"], df["step"])
    pd.testing.assert_series_equal(back["city"], df["city"])

    # standard-normal draws in every value slot come back with each column's own shape
    noise = data.copy()
    for span in tt.output_info:
        if span.activation == "normal":
            noise[:, span.start] = rng.normal(size=len(df))
    drawn = tt.inverse_transform(noise)
    assert abs((drawn["spike"] == 0).mean() - 0.7) < 0.03  # the spike survives as one value
    assert set(drawn["step"]) == {17.5, 22.0, 27.0, 32.0}
    assert drawn["age"].between(18, 89).all() and (drawn["age"] == drawn["age"].round()).all()
    assert abs((drawn["income"] > 60_000).mean() - (df["income"] > 60_000).mean()) < 0.03  # both modes

    again = TableTransformer.from_state(json.loads(json.dumps(tt.to_state())))
    assert again.continuous == "quantile"
    np.testing.assert_array_equal(again.transform(df), data)
