"""The characters plugin: enlarge character-image training sets for OCR.

Python API (the CLI calls the same functions)::

    from gensdk_plugins import characters
    characters.render_dataset("chars")                                  # fonts -> train/ test/ folders
    chars = characters.load_characters("chars/train")                   # or "sklearn-digits"
    gen = characters.train_generator("dagan", chars.images, chars.labels, chars.classes, "runs/dagan")
    characters.augment("chars/train", "chars-aug", factor=4, method="mix", model_dir="runs/dagan")
"""

from gensdk.plugins import Plugin

from .augment import augment
from .classic import ClassicAugmenter
from .classifier import Classifier, train_classifier
from .cli import app
from .cli import augment as augment_command
from .data import CharacterSet, load_characters
from .evaluate import low_data_benchmark
from .fonts import find_fonts, render_dataset
from .generative import CharacterGenerator, load_generator, train_generator
from .recipe import train_recipe

plugin = Plugin(
    name="characters",
    description="Character images for OCR: font rendering, classic and generative augmentation (gensdk augment).",
    app=app,
    commands={"augment": augment_command},
    train_recipe=train_recipe,
)

__all__ = ["plugin", "augment", "ClassicAugmenter", "Classifier", "train_classifier", "CharacterSet",
           "load_characters", "low_data_benchmark", "find_fonts", "render_dataset", "CharacterGenerator",
           "load_generator", "train_generator"]
