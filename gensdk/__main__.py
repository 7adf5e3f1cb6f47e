"""``python -m gensdk`` (and ``torchrun -m gensdk ...``) runs the CLI."""

from gensdk.cli import main

main()
