"""gensdk: deep generative models (GANs, VAEs, autoregressive) for data augmentation and design.

The API is imported lazily, so ``import gensdk.core.gan`` does not pull in the whole SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "train": "gensdk.api", "sample": "gensdk.api", "evaluate": "gensdk.api", "load": "gensdk.api",
    "load_recipe": "gensdk.api",
    "GenerativeModel": "gensdk.core.model", "build_model": "gensdk.core.model", "load_model": "gensdk.core.model",
    "register_model": "gensdk.core.model", "save_model": "gensdk.core.model",
    "Trainer": "gensdk.core.trainer", "TrainConfig": "gensdk.core.trainer",
    "UserError": "gensdk.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gensdk' has no attribute {name!r}")
