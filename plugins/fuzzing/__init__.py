"""The fuzzing plugin: a C corpus, a token-level Transformer over C on the engine, generated programs
made runnable, a sandboxed differential-testing harness over several compilers, and seed corpora and
dictionaries for AFL++ / libFuzzer."""

from gensdk.plugins import Plugin

from .cli import app
from .model import CodeModel  # registers the artifact "c-program-model"


def _load(source: str) -> list[str]:
    from pathlib import Path

    from .corpus import load_corpus

    return load_corpus(Path(source))


plugin = Plugin(name="fuzzing", description="Compiler fuzzing: generated C programs that test compilers and feed fuzzers.",
                app=app, load_data=_load, models=[])

__all__ = ["plugin", "CodeModel"]
