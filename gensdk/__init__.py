"""gensdk: deep generative models (GANs, VAEs, autoregressive) for data augmentation and design."""

__version__ = "0.1.0"

from gensdk.api import evaluate, load, load_recipe, sample, train  # noqa: E402
from gensdk.core.model import GenerativeModel, build_model, load_model, register_model, save_model  # noqa: E402
from gensdk.core.trainer import Trainer, TrainConfig  # noqa: E402
from gensdk.errors import UserError  # noqa: E402

__all__ = ["GenerativeModel", "TrainConfig", "Trainer", "UserError", "build_model", "evaluate", "load",
           "load_model", "load_recipe", "register_model", "sample", "save_model", "train"]
