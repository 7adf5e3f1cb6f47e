"""The fuzzing plugin: a C corpus, a token-level Transformer over C on the engine, generated programs
made runnable, a sandboxed differential-testing harness over several compilers, and seed corpora and
dictionaries for AFL++ / libFuzzer."""

from gensdk.plugins import Plugin, lazy_exports

from .cli import app
from .recipe import train_recipe

plugin = Plugin(name="fuzzing", description="Compiler fuzzing: generated C programs that test compilers and feed fuzzers.",
                app=app, train_recipe=train_recipe, registers=(f"{__name__}.model",))  # the artifact "c-program-model"

# the model imports torch: on first use, not when the CLI is built or cvise runs the harness (see gensdk.plugins)
API = {"CodeModel": "model"}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
