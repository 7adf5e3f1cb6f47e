"""The characters plugin: enlarge character-image training sets for OCR.

Python API (the CLI calls the same functions)::

    from gensdk_plugins import characters
    characters.render_dataset("chars")                                  # fonts -> train/ test/ folders
    chars = characters.load_characters("chars/train")                   # or "sklearn-digits"
    gen = characters.train_generator("dagan", chars.images, chars.labels, chars.classes, "runs/dagan")
    characters.augment("chars/train", "chars-aug", factor=4, method="mix", model_dir="runs/dagan")
"""

from gensdk.plugins import Plugin, lazy_exports

from .cli import app
from .cli import augment as augment_command
from .recipe import train_recipe

plugin = Plugin(
    name="characters",
    description="Character images for OCR: font rendering, classic and generative augmentation (gensdk augment).",
    app=app,
    commands={"augment": augment_command},
    train_recipe=train_recipe,
    registers=(f"{__name__}.data", f"{__name__}.dagan", f"{__name__}.style", f"{__name__}.generative"),
)

# the API below imports torch: on first use, not when the CLI is built (see gensdk.plugins)
API = {
    "augment": "augmentation", "ClassicAugmenter": "classic", "Classifier": "classifier", "train_classifier": "classifier",
    "CharacterSet": "data", "load_characters": "data", "low_data_benchmark": "evaluate", "find_fonts": "fonts",
    "render_dataset": "fonts", "CharacterGenerator": "generative", "load_generator": "generative",
    "train_generator": "generative"}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
