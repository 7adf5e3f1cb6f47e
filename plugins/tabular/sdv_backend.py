"""SDV as an optional backend: ``SDVSynthesizer("sdv-gaussiancopula" | "sdv-ctgan" | "sdv-tvae")`` with
the shape of ``TableSynthesizer`` (``fit(df)``, ``sample(n)``, ``save``, ``load``).

SDV is under the Business Source License, so it is imported only when one of these is used. It saves a
synthesizer only as a cloudpickle, which runs code when loaded: ``load`` refuses one unless
``allow_pickle=True``. SDV's own seed is private (``_set_random_state``); sampling sets it per call so
that the same seed gives the same rows, as gensdk's models do.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gensdk.core.device import resolve_device
from gensdk.core.io import write_folder, write_json
from gensdk.core.model import read_model_config
from gensdk.errors import UserError
from gensdk_plugins.tabular.data import METADATA_FILE, TableMetadata, checked_metadata

SDV_MODELS = {"sdv-gaussiancopula": "GaussianCopulaSynthesizer", "sdv-ctgan": "CTGANSynthesizer",
              "sdv-tvae": "TVAESynthesizer"}
EPOCH_MODELS = ("sdv-ctgan", "sdv-tvae")  # neural nets: epochs, batch size, GPU
SYNTHESIZER_FILE = "sdv_synthesizer.pkl"
TABLE = "table"  # SDV 2 takes and returns {table name: frame}
SET_BY_GENSDK = ("metadata", "epochs", "batch_size", "enable_gpu", "verbose")


def _sdv_class(name: str) -> type:
    if name not in SDV_MODELS:
        raise UserError(f"unknown SDV model {name!r}; choices: {', '.join(SDV_MODELS)}")
    try:
        import sdv.single_table
    except ImportError:
        raise UserError("sdv is not installed: pip install 'gensdk[tabular]' (SDV is under the Business "
                        "Source License; gensdk's own ctgan/tvae need no SDV)") from None
    for logger in ("sdv", "rdt", "copulas", "ctgan", "SingleTableSynthesizer"):
        if logging.getLogger(logger).level == logging.NOTSET:  # SDV logs every fit/sample at INFO
            logging.getLogger(logger).setLevel(logging.WARNING)
    return getattr(sdv.single_table, SDV_MODELS[name])


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators, which SDV draws from, for one call; the
    caller's states come back after."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if device.type == "cuda" else []):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """SDV's warnings are advice on its own internals, which a gensdk user cannot act on; errors still raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _one_line(err: BaseException) -> str:
    # SDV wraps sampling errors in a generic "Sampling terminated" one; the cause says what happened.
    return " ".join(str(err.__cause__ or err).split())


class SDVSynthesizer:
    """``SDVSynthesizer("sdv-ctgan", epochs=..., ...).fit(df).sample(n)``; ``options`` go to SDV's
    synthesizer (e.g. ``embedding_dim``, ``default_distribution``). ``epochs``, ``batch_size`` and the
    device matter to sdv-ctgan and sdv-tvae only; SDV trains on its default GPU when the device is CUDA."""

    def __init__(self, name: str, *, epochs: int | None = None, batch_size: int = 500, device: str = "auto",
                 seed: int = 0, **options: Any):
        params = [p for p in inspect.signature(_sdv_class(name)).parameters if p not in SET_BY_GENSDK]
        for budget in ("steps", "minutes"):  # TableSynthesizer's alternatives to epochs, which SDV lacks
            if budget in options:
                raise UserError(f"{name}: SDV trains by epochs; {budget} are for gensdk's own models")
        unknown = [k for k in options if k not in params]
        if unknown:
            raise UserError(f"model {name!r} has no option {unknown[0]!r}; its options: {', '.join(params)}")
        if name == "sdv-ctgan":  # CTGAN needs an even number of whole pac groups: rounded down, as gensdk's ctgan
            group = 2 * options.get("pac", 10)
            batch_size = max(group, batch_size // group * group)
        self.name, self.epochs, self.batch_size, self.seed, self.options = name, epochs, batch_size, seed, options
        self.device = resolve_device(device)
        self.synthesizer: Any = None  # the fitted SDV synthesizer
        self.metadata: TableMetadata | None = None
        self.columns: list[str] = []  # the original column order

    def fit(self, df: pd.DataFrame, metadata: TableMetadata | None = None, out_dir: str | os.PathLike | None = None,
            progress: bool = False) -> SDVSynthesizer:
        """Fit to ``df``; ``out_dir`` is accepted for TableSynthesizer's shape (SDV keeps no checkpoints)."""
        from sdv.errors import InvalidDataError, InvalidDataTypeError, SynthesizerInputError
        from sdv.metadata.errors import InvalidMetadataError

        self.metadata = checked_metadata(df, metadata, "SDVSynthesizer.fit")
        self.columns = [str(c) for c in df.columns]
        table = df.set_axis(self.columns, axis=1)  # a new frame: SDV never touches the caller's
        options = dict(self.options)
        if self.name in EPOCH_MODELS:
            options.update(batch_size=self.batch_size, enable_gpu=self.device.type == "cuda", verbose=progress)
            if self.epochs is not None:
                options["epochs"] = self.epochs
        with _seeded(self.seed, self.device), _quiet():
            try:
                self.synthesizer = _sdv_class(self.name)(_sdv_metadata(self.metadata, table), **options)
                self.synthesizer.fit({TABLE: table})
            except (InvalidDataError, InvalidDataTypeError, InvalidMetadataError, SynthesizerInputError,
                    ValueError) as err:
                raise UserError(f"{self.name}: {_one_line(err)}") from None
        return self

    def sample(self, n: int, seed: int | None = None, condition: dict[str, Any] | None = None,
               **options: Any) -> pd.DataFrame:
        """Exactly ``n`` rows with the original columns in order; ``condition`` = {column: value} makes
        every row carry those values (SDV's ``sample_from_conditions``: CTGAN and TVAE by rejection).
        ``options``: none (TableSynthesizer's shape, where a model may take sampling options)."""
        from sdv.errors import SamplingError
        from sdv.sampling import Condition

        if options:
            raise UserError(f"{self.name} has no sampling option {next(iter(options))!r}")
        if self.synthesizer is None:
            raise UserError("SDVSynthesizer: call fit (or load) before sample")
        if n < 1:
            raise UserError(f"SDVSynthesizer.sample: n must be positive, got {n}")
        seed = self.seed if seed is None else seed
        with _seeded(seed, self.device), _quiet():
            self.synthesizer.reset_sampling()  # back to the state right after fitting, then our seed
            self.synthesizer._set_random_state(seed)
            for i, transformer in enumerate(self.synthesizer.get_transformers().values()):
                if transformer is not None:  # RDT's own generators (e.g. where values go missing)
                    transformer.set_random_state(np.random.RandomState([seed, i]), "reverse_transform")
            try:
                if condition:  # SDV draws a progress bar here, unasked
                    with contextlib.redirect_stderr(io.StringIO()):
                        frame = self.synthesizer.sample_from_conditions([Condition(condition, num_rows=n)])[TABLE]
                else:
                    frame = self.synthesizer.sample(n)[TABLE]
            except (ValueError, SamplingError) as err:
                raise UserError(f"{self.name}: cannot sample{f' with {condition}' if condition else ''}: "
                                f"{_one_line(err)}") from None
        if len(frame) != n:  # rejection sampling can fall short: never hand back fewer rows silently
            raise UserError(f"{self.name}: SDV made {len(frame)} of {n} rows"
                            + (f" with {condition} (the model rarely makes such rows)" if condition else ""))
        return frame[self.columns].reset_index(drop=True)

    def save(self, folder: str | os.PathLike) -> Path:
        """One folder, written in one atomic rename: config.json, SDV's pickle, metadata.json."""
        if self.synthesizer is None or self.metadata is None:
            raise UserError("SDVSynthesizer: call fit before save")
        import sdv

        config = {"backend": "sdv", "model": self.name, "sdv_version": sdv.__version__, "columns": self.columns,
                  "config": {"epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed,
                             "options": self.options}}
        return write_folder(folder, {"config.json": lambda path: write_json(path, config),
                                     SYNTHESIZER_FILE: lambda path: self.synthesizer.save(str(path)),
                                     METADATA_FILE: self.metadata.save})

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str = "auto", allow_pickle: bool = False) -> SDVSynthesizer:
        folder = Path(folder)
        meta = read_model_config(folder)
        if meta.get("backend") != "sdv":
            raise UserError(f"{folder}: not a saved SDV synthesizer (no \"backend\": \"sdv\" in config.json)")
        if not allow_pickle:
            raise UserError(f"{folder}: SDV models are pickles, which run code when loaded; load only folders "
                            "you trust, with allow_pickle=True (--allow-pickle on the command line)")
        config = meta["config"]
        synth = cls(meta["model"], epochs=config["epochs"], batch_size=config["batch_size"], device=device,
                    seed=config["seed"], **config["options"])
        from sdv.utils import load_synthesizer

        path = folder / SYNTHESIZER_FILE
        if not path.is_file():
            raise UserError(f"{folder}: no {SYNTHESIZER_FILE}")
        try:
            with _quiet():
                synth.synthesizer = load_synthesizer(str(path))
        except Exception as err:  # unpickling fails in many ways; each means the file is unusable
            raise UserError(f"{path}: cannot load ({err.__class__.__name__}: {_one_line(err)})") from None
        if type(synth.synthesizer).__name__ != SDV_MODELS[synth.name]:
            raise UserError(f"{path}: holds a {type(synth.synthesizer).__name__}, config.json says {synth.name}")
        if hasattr(synth.synthesizer._model, "set_device"):  # CTGAN/TVAE unpickle onto CUDA when present
            synth.synthesizer._model.set_device(synth.device)
        synth.columns, synth.metadata = meta["columns"], TableMetadata.load(folder / METADATA_FILE)
        return synth


def _sdv_metadata(metadata: TableMetadata, table: pd.DataFrame) -> Any:
    """SDV's Metadata for one table named ``TABLE``. Types map 1:1, except that SDV's boolean takes only
    True/False, so a 0/1 or yes/no pair is categorical there (to a synthesizer it is the same). SDV 2 has
    no computer_representation: an integer column is ``decimal_places=0``. The first id column is the
    primary key and any others alternate keys, so that SDV makes fresh unique ids, not copies."""
    from sdv.metadata import Metadata

    columns = {}
    for spec in metadata.columns:
        column: dict[str, Any] = {"sdtype": spec.type}
        if spec.type == "boolean" and not pd.api.types.is_bool_dtype(table[spec.name]):
            column["sdtype"] = "categorical"
        if spec.subtype == "integer":
            column["decimal_places"] = 0
        if spec.datetime_format:
            column["datetime_format"] = spec.datetime_format
        columns[spec.name] = column
    description: dict[str, Any] = {"columns": columns}
    ids = [spec.name for spec in metadata.columns if spec.type == "id"]
    if ids:
        description["primary_key"], description["alternate_keys"] = ids[0], ids[1:]
    return Metadata.load_from_dict({"tables": {TABLE: description}})
