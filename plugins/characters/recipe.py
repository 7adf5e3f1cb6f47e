"""``gensdk train`` of a recipe that says ``plugin: characters`` (recipes/characters-cvae.yaml): what
``gensdk characters train`` does, its settings in the recipe's sections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gensdk.errors import UserError


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: an image folder (a subfolder per class) or sklearn-digits, and the image ``size``;
    ``model``: cgan, cvae, dagan, diffusion or style with its options, and ``classifier``: settings of the filtering
    classifier trained with it; ``train``: one budget of steps, epochs or minutes, ``seed``,
    ``device``, and the Trainer's settings (batch_size, ...). Trains in the run folder ``out``."""
    from gensdk.api import recipe_section  # gensdk.api imports torch: here, not when the CLI is built

    from .classifier import ClassifierRecipe
    from .data import load_characters, style_groups
    from .generative import FILTER_RECIPE, train_generator

    data = recipe_section(recipe, "data", {"size": 32})
    model = recipe_section(recipe, "model")
    classifier = model.pop("classifier", None) or {}
    known = {f.name for f in dataclasses.fields(ClassifierRecipe)}
    if not isinstance(classifier, dict) or set(classifier) - known:
        raise UserError(f"recipe model.classifier: a mapping of {', '.join(sorted(known))}")
    train = recipe_section(recipe, "train")
    budget = {k: train.pop(k, None) for k in ("steps", "epochs", "minutes")}
    chars = load_characters(recipe["data"]["name"], size=data["size"])
    train_generator(recipe["model"]["name"], chars.images, chars.labels, chars.classes, out, **budget,
                    seed=train.pop("seed", 0), device=train.pop("device", "auto"), model_options=model,
                    train_options=train, classifier_recipe=dataclasses.replace(FILTER_RECIPE, **classifier),
                    resume=resume, overwrite=overwrite, progress=progress, groups=style_groups(chars))
    return Path(out)
