"""The tabular plugin: synthetic tables (gensdk's own CTGAN, TVAE and TabDDPM-style diffusion on the engine, or SDV's
synthesizers as an optional backend, by "sdv-*" names), their evaluation, and families of synthetic
classification datasets for meta-learning (``family.py``, ``gensdk tabular family``)."""

from gensdk.extras import require_installed
from gensdk.plugins import Plugin, lazy_exports

require_installed("pandas", "tabular")  # every module of the plugin works on pandas frames

from .cli import app  # noqa: E402
from .recipe import train_recipe  # noqa: E402

plugin = Plugin(name="tabular", description="Tables: column types, synthetic copies, dataset families.",
                app=app, train_recipe=train_recipe,
                registers=(f"{__name__}.models",))  # "ctgan", "tvae", "tabddpm" (imported by models) and the artifact

# the API imports pandas and torch: on first use, not when the CLI is built (see gensdk.plugins)
API = {
    **dict.fromkeys(["TableMetadata", "detect_metadata", "load_example", "load_table", "read_table"], "data"),
    "evaluate_tables": "evaluate", "SDVSynthesizer": "sdv_backend",  # sdv_backend imports SDV only when used
    **dict.fromkeys(["TableSynthesizer", "load_synthesizer", "make_synthesizer"], "models")}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
