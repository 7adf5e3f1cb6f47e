"""The tabular plugin: synthetic tables (gensdk's own CTGAN, TVAE and TabDDPM-style diffusion on the engine, or SDV's
synthesizers as an optional backend, by "sdv-*" names), their evaluation, and families of synthetic
classification datasets for meta-learning (``family.py``, ``gensdk tabular family``)."""

from gensdk.extras import require
from gensdk.plugins import Plugin

require("pandas", "tabular")  # every module of the plugin works on pandas frames

from .cli import app  # noqa: E402
from .data import TableMetadata, detect_metadata, load_example, load_table, read_table  # noqa: E402
from .evaluate import evaluate_tables  # noqa: E402
from .models import TableSynthesizer, load_synthesizer, make_synthesizer  # noqa: E402 - registers "ctgan", "tvae", "tabddpm"
from .recipe import train_recipe  # noqa: E402
from .sdv_backend import SDVSynthesizer  # noqa: E402 - imports SDV only when used

plugin = Plugin(name="tabular", description="Tables: column types, synthetic copies, dataset families.",
                app=app, train_recipe=train_recipe)

__all__ = ["plugin", "TableMetadata", "detect_metadata", "load_example", "load_table", "read_table",
           "evaluate_tables", "TableSynthesizer", "SDVSynthesizer", "make_synthesizer", "load_synthesizer"]
