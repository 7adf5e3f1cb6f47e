"""``gensdk train`` of a recipe that says ``plugin: molecules`` (recipes/molecules-transformer.yaml):
what ``gensdk molecules train`` does, its settings in the recipe's sections."""

from __future__ import annotations

from pathlib import Path

DATA = {"column": None, "randomize": 0}
TRAIN = {"steps": None, "epochs": None, "minutes": None, "batch_size": 256, "seed": 0, "device": "auto"}


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: SMILES (a file or moses:train), its ``column`` and ``randomize`` K; ``model``: char-rnn,
    transformer, vae or graph, with ``representation`` and its options (``d_model``, ``lr``, ...);
    ``train``: one budget of steps, epochs or minutes. Trains in the run folder ``out``."""
    from gensdk.api import recipe_section  # gensdk.api imports torch: here, not when the CLI is built

    from .models import train_generator

    data, train = recipe_section(recipe, "data", DATA), recipe_section(recipe, "train", TRAIN)
    options = recipe_section(recipe, "model")
    representation = options.pop("representation", "smiles")
    train_generator(recipe["data"]["name"], out, recipe["model"]["name"], representation, options=options,
                    **data, **train, resume=resume, overwrite=overwrite, progress=progress,
                    say=print)
    return Path(out)
