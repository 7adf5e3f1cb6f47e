"""The molecules plugin: SMILES data, generators on the engine (SMILES LSTM, GPT-style Transformer,
SMILES VAE, a torch-geometric graph model), the MOSES metrics, and property-driven search."""

from gensdk.extras import require
from gensdk.plugins import Plugin

require("rdkit", "molecules")  # every command reads or checks molecules with RDKit

from .cli import app  # noqa: E402
from .data import MoleculeReport, clean_smiles, load_smiles, read_smiles  # noqa: E402
from . import graph, vae  # noqa: E402,F401 - register "mol-graph" and "smiles-vae" (gensdk plugins lists them)
from .models import MoleculeGenerator, load_generator, train_generator  # noqa: E402
from .recipe import train_recipe  # noqa: E402

plugin = Plugin(name="molecules", description="Molecules: SMILES generators, MOSES metrics, property-driven search.",
                app=app, train_recipe=train_recipe)

__all__ = ["plugin", "MoleculeReport", "clean_smiles", "load_smiles", "read_smiles", "MoleculeGenerator",
           "load_generator", "train_generator"]
