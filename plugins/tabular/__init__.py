"""The tabular plugin: synthetic tables and dataset families (work in progress: table reading with
type detection, and the fast CTGAN/TVAE transformer, so far)."""

from gensdk.plugins import Plugin

from .cli import app
from .data import TableMetadata, detect_metadata, load_example, load_table, read_table

plugin = Plugin(name="tabular", description="Tables: column types, synthetic copies, dataset families.",
                app=app, load_data=load_table)

__all__ = ["plugin", "TableMetadata", "detect_metadata", "load_example", "load_table", "read_table"]
