"""Atomic writes: whole files only, with the mode a plain open() would give them."""

import os
import stat
from pathlib import Path

import numpy as np
import torch
import pytest

from gensdk.core.io import atomic_write, write_folder, write_json


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path, umask):
    umask(0o022)
    write_json(tmp_path / "a.json", {"x": 1})
    atomic_write(tmp_path / "b.npy", lambda tmp: np.save(tmp, np.zeros(3)))
    from safetensors.torch import save_file

    folder = write_folder(tmp_path / "model", {"config.json": lambda p: write_json(p, {}),
                                               "notes.txt": lambda p: p.write_text("hi"),
                                               "w.safetensors": lambda p: save_file({"w": torch.zeros(2)}, str(p))})
    assert mode(tmp_path / "a.json") == 0o644
    assert mode(tmp_path / "b.npy") == 0o644
    assert mode(folder) == 0o755
    assert mode(folder / "config.json") == 0o644 and mode(folder / "notes.txt") == 0o644
    assert mode(folder / "w.safetensors") == 0o644  # safetensors itself makes 0600 files
    umask(0o077)  # a stricter umask is followed too
    write_json(tmp_path / "private.json", {})
    assert mode(tmp_path / "private.json") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.npy", "model", "private.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "out.txt", fail)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("config, message", [
    # found by tests/test_reader_properties.py: each escaped as another exception, or did not name the file
    (b"\xb7x\x15\xea", "malformed model config (UnicodeDecodeError"),
    (b"[" * 100_000, "malformed model config (RecursionError"),
    (b'{"model": ["gan"], "config": {}}', "'model' must be a name and 'config' a mapping"),  # was unhashable
    (b'{"model": "gan", "config": [1]}', "'model' must be a name and 'config' a mapping"),  # ** of a list
    (b'{"model": "gan", "config": {"data_shape": [2], "hidden": [-3]}}', "model 'gan': Trying to create tensor"),
    (b'{"model": "gan", "config": {"data_shape": [2], "opt": 1}}', "model 'gan' has no option 'opt'"),
    (b'{"model": "nope", "config": {}}', "unknown model 'nope'"),
])
def test_damaged_model_configs_get_one_line_naming_the_file(tmp_path, config, message):
    from gensdk.core import registry  # noqa: F401  (registers the core models)
    from gensdk.core.model import build_model, load_model
    from gensdk.errors import UserError

    folder = build_model("gan", data_shape=[2], z_dim=2, hidden=[4]).save(tmp_path / "model")
    (folder / "config.json").write_bytes(config)
    with pytest.raises(UserError) as error:
        load_model(folder)
    text = str(error.value)
    assert text.startswith(str(folder / "config.json")) and message in text and "\n" not in text
