"""gensdk's own domain plugins; each registers itself through the ``gensdk.plugins`` entry point group."""
