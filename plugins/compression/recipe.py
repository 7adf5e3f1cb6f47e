"""``gensdk train`` of a recipe that says ``plugin: compression`` (recipes/compression-channel-context.yaml):
what ``gensdk compression train`` does for one model, its settings in the recipe's sections."""

from __future__ import annotations

from pathlib import Path

from gensdk.errors import UserError

DATA = {"crops": 20000, "size": 256}
TRAIN = {"steps": 100000, "minutes": None, "batch_size": 16, "lr": 1e-4, "seed": 0, "device": "auto"}


def train_recipe(recipe: dict, out: Path, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """``data``: wallpapers, an image folder or a .npy of crops, with ``crops`` and their ``size``;
    ``model``: a codec architecture with its ``quality`` (fixed-rate models), ``distortion`` and sizes;
    ``train``: ``steps`` or ``minutes``. ``out`` is a codecs folder (as --codecs): the model trains in
    ``out/<arch>[-q<quality>]``, which ``gensdk compress --model`` and ``gensdk compression evaluate
    --codecs out`` take."""
    from gensdk.api import recipe_section  # gensdk.api imports torch: here, not when the CLI is built

    from .models import CODECS
    from .training import run_dir, train_codec, training_crops, variable_rate

    if recipe["evaluate"]:  # before hours of training, not after
        raise UserError("recipe: a codec's rate-distortion is measured by `gensdk compression evaluate --codecs "
                        "FOLDER`; leave 'evaluate' out of a compression recipe")
    data, train = recipe_section(recipe, "data", DATA), recipe_section(recipe, "train", TRAIN)
    model = recipe_section(recipe, "model", None)
    name, quality = recipe["model"]["name"], model.pop("quality", 3)
    if name not in CODECS:  # before the crops are cut
        raise UserError(f"recipe model: unknown codec {name!r}; known: {', '.join(CODECS)}")
    quality = None if variable_rate(name) else quality  # the variable-rate model learns every quality
    images = training_crops(recipe["data"]["name"], data["crops"], data["size"], train["seed"])
    train_codec(name, quality, images, Path(out), train.pop("steps"), **train, **model, resume=resume,
                overwrite=overwrite, progress=progress)
    return run_dir(Path(out), name, quality)
