"""The molecules plugin: SMILES data, generators on the engine (SMILES LSTM, GPT-style Transformer,
SMILES VAE, a torch-geometric graph model), the MOSES metrics, and property-driven search."""

from gensdk.extras import require
from gensdk.plugins import Plugin

require("rdkit", "molecules")  # every command reads or checks molecules with RDKit

from .cli import app  # noqa: E402
from .data import MoleculeReport, clean_smiles, load_smiles, read_smiles  # noqa: E402
from .models import MoleculeGenerator, load_generator  # noqa: E402


def _load(source: str) -> list[str]:
    return load_smiles(source)[0]


def _evaluate(real, generated) -> dict[str, float]:
    from .metrics import Reference, evaluate_smiles

    return evaluate_smiles(list(generated), train=None, test=Reference.from_smiles(list(real)), test_scaffolds=None)


plugin = Plugin(name="molecules", description="Molecules: SMILES generators, MOSES metrics, property-driven search.",
                app=app, load_data=_load, evaluate=_evaluate, models=["token-lm", "smiles-vae", "mol-graph"])

__all__ = ["plugin", "MoleculeReport", "clean_smiles", "load_smiles", "read_smiles", "MoleculeGenerator",
           "load_generator"]
