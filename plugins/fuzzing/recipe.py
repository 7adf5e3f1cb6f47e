"""``gensdk train`` of a recipe that says ``plugin: fuzzing`` (recipes/fuzzing-c-transformer.yaml): what
``gensdk fuzzing train`` does, its settings in the recipe's sections."""

from __future__ import annotations

from pathlib import Path

from gensdk.errors import UserError

MODEL = {"size": "small", "max_len": 1024, "lr": None}
TRAIN = {"steps": None, "epochs": None, "minutes": None, "batch_size": 32, "validate_every": 250, "seed": 0,
         "device": "auto", "compile": False}


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: a corpus folder (`gensdk fuzzing corpus`) or any folder of .c files; ``model``:
    ``c-transformer`` with its ``size`` (tiny, small, base), ``max_len`` and ``lr``; ``train``: one
    budget of steps, epochs or minutes. Trains in the run folder ``out``."""
    from gensdk.api import recipe_section  # gensdk.api imports torch: here, not when the CLI is built

    from .model import train_model

    if recipe["model"]["name"] != "c-transformer":
        raise UserError(f"recipe model: the fuzzing plugin trains 'c-transformer', not {recipe['model']['name']!r}")
    recipe_section(recipe, "data", {})
    train_model(recipe["data"]["name"], out, **recipe_section(recipe, "model", MODEL),
                **recipe_section(recipe, "train", TRAIN), resume=resume, overwrite=overwrite, progress=progress)
    return Path(out)
