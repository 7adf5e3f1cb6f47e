"""``gensdk train`` of a recipe that says ``plugin: architectures`` (recipes/architectures-digits-cnn.yaml):
what ``gensdk architectures train`` does, its settings in the recipe's sections.

The domain's generators (the grammar-constrained LM, the D-VAE) learn inside a search, from the
architectures that its evaluator scores (``gensdk architectures search``), not from a fixed data set, so
they have no recipe of their own; a recipe trains a described network as a classifier, the model that
this plugin's ``train`` makes and that its searches' real-training evaluator trains."""

from __future__ import annotations

from pathlib import Path

from gensdk.errors import UserError

TRAIN = {"steps": 500, "batch_size": 128, "seed": 0, "device": "auto"}


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: sklearn-digits or an image folder, with its ``test`` folder; ``model``: arch-classifier
    with its ``description`` (a .arch file) and ``lr``; ``train``: ``steps`` (the fixed budget)."""
    from gensdk.api import recipe_section  # gensdk.api and the trainer import torch: here, not when the CLI is built
    from gensdk.core.trainer import MODEL_DIR

    from .language import read_description
    from .training import train_and_score

    if recipe["model"]["name"] != "arch-classifier":
        raise UserError(f"recipe model: the architectures plugin trains 'arch-classifier', not {recipe['model']['name']!r}")
    model = recipe_section(recipe, "model", {"description": None, "lr": 1e-3})
    data, train = recipe_section(recipe, "data", {"test": None}), recipe_section(recipe, "train", TRAIN)
    if not model["description"]:
        raise UserError("recipe model: arch-classifier needs its 'description', a .arch file")
    if resume:  # the budget is a few hundred steps, trained in one go like a search's candidates
        raise UserError("recipe: a described network trains in one go; there is nothing to --resume")
    if (Path(out) / MODEL_DIR).exists() and not overwrite:
        raise UserError(f"{Path(out) / MODEL_DIR}: a trained model is already there; pass --overwrite to replace it")
    train_and_score(read_description(Path(model["description"])), data=recipe["data"]["name"], lr=model["lr"],
                    out_dir=str(out), test=data["test"], **train)
    return Path(out)
