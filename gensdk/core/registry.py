"""Importing this module registers every model family of the core with ``gensdk.core.model.MODELS``."""

from gensdk.core import autoregressive, diffusion, gan, vae  # noqa: F401
