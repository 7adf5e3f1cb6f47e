import dataclasses

import numpy as np
import pandas as pd
import pytest

from gensdk.errors import UserError
from gensdk_plugins.tabular.data import TableMetadata, detect_metadata, load_example
from gensdk_plugins.tabular.evaluate import (
    distance_to_closest_record,
    evaluate_tables,
    ml_efficacy,
    quality_score,
    sdmetrics_metadata,
)


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, TableMetadata]:
    return load_example("wine")


def independent(df: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Each column shuffled on its own: the same marginals, no relations between columns."""
    rng = np.random.default_rng(seed)
    return df.apply(lambda column: rng.permutation(column.to_numpy()))


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = df.sample(frac=0.3, random_state=0)
    return df.drop(index=test.index), test


def mixed_table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "user": [f"u{i}" for i in range(n)],
        "x": x,
        "y": 2 * x + rng.normal(scale=0.3, size=n),
        "flag": np.where(x > 0, "yes", "no"),
        "when": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")).strftime("%Y-%m-%d"),
        "kind": rng.choice(["a", "b", "c"], n),
    })


def test_sdmetrics_metadata_maps_types_and_date_formats():
    meta = detect_metadata(mixed_table())
    assert sdmetrics_metadata(meta) == {"columns": {
        "user": {"sdtype": "id"}, "x": {"sdtype": "numerical"}, "y": {"sdtype": "numerical"},
        "flag": {"sdtype": "boolean"}, "when": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"},
        "kind": {"sdtype": "categorical"}}}


def test_quality_of_a_table_against_itself_and_against_independent_columns(wine):
    df, meta = wine
    same = quality_score(df, df.copy(), meta)
    assert same == pytest.approx({"quality_score": 1.0, "column_shapes": 1.0, "column_pair_trends": 1.0})
    shuffled = quality_score(df, independent(df), meta)
    assert shuffled["column_shapes"] == pytest.approx(1.0)  # marginals untouched
    assert shuffled["column_pair_trends"] < 0.8
    assert shuffled["quality_score"] < 0.9


def test_ml_efficacy_of_a_copy_and_of_random_labels(wine):
    df, meta = wine
    train, test = split(df)
    copy = ml_efficacy(train, test, train.copy(), meta)
    assert copy["task"] == "classification" and copy["metric"] == "accuracy"
    assert copy["real"] > 0.8 and copy["ratio"] == pytest.approx(1.0)
    assert copy["synthetic_f1_macro"] == pytest.approx(copy["real_f1_macro"])
    noise = train.assign(cultivar=np.random.default_rng(0).permutation(train["cultivar"].to_numpy()))
    assert ml_efficacy(train, test, noise, meta)["ratio"] < 0.7


def test_ml_efficacy_regresses_a_numerical_target():
    df = mixed_table(300)
    meta = detect_metadata(df)
    train, test = split(df)
    result = ml_efficacy(train, test, train.copy(), meta, target="y")
    assert result["task"] == "regression" and result["metric"] == "r2"
    assert result["real"] > 0.8 and result["ratio"] == pytest.approx(1.0)


def test_ml_efficacy_without_a_target_is_a_user_error():
    df = mixed_table()
    meta = detect_metadata(df)
    with pytest.raises(UserError, match="no target column; pass --target"):
        ml_efficacy(df, df, df, meta)


def test_dcr_of_copies_and_of_noisy_copies(wine):
    df, meta = wine
    copy = distance_to_closest_record(df, df.copy(), meta)
    assert copy["dcr_exact_copy_share"] == 1.0 and copy["dcr_median"] == 0.0 and copy["dcr_p5"] == 0.0
    assert copy["baseline_dcr_median"] > 0 and copy["baseline_dcr_exact_copy_share"] == 0.0
    numbers = df.select_dtypes("number").columns
    noisy = df.copy()
    noisy[numbers] += np.random.default_rng(0).normal(scale=0.5 * df[numbers].std(), size=df[numbers].shape)
    result = distance_to_closest_record(df, noisy, meta)
    assert result["dcr_exact_copy_share"] == 0.0
    assert result["dcr_median"] > 0.5 * copy["baseline_dcr_median"]


def test_dcr_counts_a_category_mismatch_as_one():
    real = pd.DataFrame({"kind": ["a", "b", None], "x": [0.0, 0.0, 0.0]})
    meta = detect_metadata(pd.DataFrame({"kind": list("ab") * 20, "x": np.arange(40.0)}))
    result = distance_to_closest_record(real.iloc[:1], real.iloc[1:], meta)
    assert result["dcr_median"] == pytest.approx(1.0)  # "b" vs "a", and missing vs "a"


def test_id_columns_are_ignored_everywhere():
    df = mixed_table(300)
    meta = detect_metadata(df)
    synthetic = independent(df).assign(user=[f"other{i}" for i in range(len(df))])
    without = dataclasses.replace(meta, columns=[c for c in meta.columns if c.type != "id"])
    with_ids = evaluate_tables(df, synthetic, meta, target="kind")
    no_ids = evaluate_tables(df.drop(columns="user"), synthetic.drop(columns="user"), without, target="kind")
    assert with_ids == pytest.approx(no_ids, nan_ok=True)


def test_evaluate_tables_is_one_flat_dict(wine):
    df, meta = wine
    result = evaluate_tables(df, df.copy(), meta)
    assert {"quality_score", "column_shapes", "column_pair_trends", "ml_task", "ml_metric", "ml_real",
            "ml_synthetic", "ml_ratio", "dcr_median", "dcr_p5", "dcr_exact_copy_share",
            "baseline_dcr_median"} <= set(result)
    assert all(not isinstance(v, dict) for v in result.values())
    no_target = dataclasses.replace(meta, target=None)
    assert not any(k.startswith("ml_") for k in evaluate_tables(df, df.copy(), no_target))


def test_a_missing_column_is_a_user_error(wine):
    df, meta = wine
    with pytest.raises(UserError, match="synthetic table lacks column"):
        quality_score(df, df.drop(columns="alcohol"), meta)
