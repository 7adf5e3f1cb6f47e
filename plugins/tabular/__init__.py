"""The tabular plugin: synthetic tables (gensdk's own CTGAN and TVAE on the engine, or SDV's
synthesizers as an optional backend, by "sdv-*" names) and their evaluation; dataset families are still
to come."""

from gensdk.plugins import Plugin

from .cli import app
from .data import TableMetadata, detect_metadata, load_example, load_table, read_table
from .evaluate import evaluate_tables
from .models import TableSynthesizer, load_synthesizer, make_synthesizer  # registers "ctgan" and "tvae"
from .sdv_backend import SDVSynthesizer  # imports SDV only when used

plugin = Plugin(name="tabular", description="Tables: column types, synthetic copies, dataset families.",
                app=app, load_data=load_table, models=["ctgan", "tvae"])

__all__ = ["plugin", "TableMetadata", "detect_metadata", "load_example", "load_table", "read_table",
           "evaluate_tables", "TableSynthesizer", "SDVSynthesizer", "make_synthesizer", "load_synthesizer"]
