"""Task functions that the Ray test's workers import (tests/ is on the cluster's PYTHONPATH)."""

import os
from pathlib import Path


def loaded(name: str) -> str:
    """An actor's setup: what a model load would return."""
    return f"{name} in {os.getpid()}"


def die_once(marker: str, state: str, task: int) -> tuple[str, int, int]:
    """Task 3 kills its worker process the first time it runs (as a node's death would), then succeeds."""
    if task == 3 and not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return state, task, os.getpid()


def no_model() -> None:
    """An actor's setup that fails as a missing model folder would."""
    from gensdk.errors import UserError

    raise UserError("nothing/: not a saved model")
