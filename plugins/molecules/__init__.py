"""The molecules plugin: SMILES data, generators on the engine (SMILES LSTM, GPT-style Transformer,
SMILES VAE, a torch-geometric graph model), the MOSES metrics, and property-driven search."""

from gensdk.extras import require_installed
from gensdk.plugins import Plugin, lazy_exports

require_installed("rdkit", "molecules")  # every command reads or checks molecules with RDKit

from .cli import app  # noqa: E402
from .recipe import train_recipe  # noqa: E402

# graph and vae register "mol-graph" and "smiles-vae" (gensdk plugins lists them), models the artifact
plugin = Plugin(name="molecules", description="Molecules: SMILES generators, MOSES metrics, property-driven search.",
                app=app, train_recipe=train_recipe,
                registers=(f"{__name__}.graph", f"{__name__}.vae", f"{__name__}.models"))

# the API imports torch and RDKit: on first use, not when the CLI is built (see gensdk.plugins)
API = {
    **dict.fromkeys(["MoleculeReport", "clean_smiles", "load_smiles", "read_smiles"], "data"),
    **dict.fromkeys(["MoleculeGenerator", "load_generator", "train_generator"], "models")}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
