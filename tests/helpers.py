"""Shared test helpers: run the CLI in a subprocess and read saved weights."""

import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def gensdk(*args, check=False, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "gensdk", *map(str, args)], capture_output=True, text=True,
                            env=ENV, **kw)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
