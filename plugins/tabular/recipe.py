"""``gensdk train`` of a recipe that says ``plugin: tabular`` (recipes/tabular-tvae.yaml): what
``gensdk tabular train`` does, its settings in the recipe's sections."""

from __future__ import annotations

from pathlib import Path

from gensdk.errors import UserError

TRAIN = {"epochs": None, "steps": None, "minutes": None, "batch_size": 500, "seed": 0, "device": "auto"}


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: a table (file or example name) and ``metadata`` (a types file); ``model``: ctgan, tvae
    or sdv-*, with its options; ``train``: one budget of epochs, steps or minutes. Writes ``out/model``."""
    from gensdk.api import recipe_section  # gensdk.api and the trainer import torch: here, not when the CLI is built
    from gensdk.core.trainer import MODEL_DIR

    from .data import load_table
    from .models import make_synthesizer

    data = recipe_section(recipe, "data", {"metadata": None})
    train = {k: v for k, v in recipe_section(recipe, "train", TRAIN).items() if v is not None}  # unset: the model's default
    if resume:  # a synthesizer is fitted in one go, with no checkpoint to continue from
        raise UserError("recipe: a tabular synthesizer trains in one go; there is nothing to --resume")
    folder = Path(out) / MODEL_DIR
    if folder.exists() and not overwrite:
        raise UserError(f"{folder}: a trained model is already there; pass --overwrite to replace it")
    synthesizer = make_synthesizer(recipe["model"]["name"], **train, **recipe_section(recipe, "model"))
    df, meta = load_table(recipe["data"]["name"], data["metadata"])
    synthesizer.fit(df, meta, progress=progress)
    synthesizer.save(folder)
    return folder
