"""The fuzzing plugin: a C corpus, a token-level Transformer over C on the engine, generated programs
made runnable, a sandboxed differential-testing harness over several compilers, and seed corpora and
dictionaries for AFL++ / libFuzzer."""

from gensdk.plugins import Plugin

from .cli import app
from .model import CodeModel  # registers the artifact "c-program-model"
from .recipe import train_recipe

plugin = Plugin(name="fuzzing", description="Compiler fuzzing: generated C programs that test compilers and feed fuzzers.",
                app=app, train_recipe=train_recipe)

__all__ = ["plugin", "CodeModel"]
