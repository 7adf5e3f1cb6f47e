"""Atomic file writes: every output goes to a temporary name in the same folder and is renamed into
place when complete, so a killed run never leaves a half-written file (or folder) that looks whole.

With GENSDK_BULK_LOG set to a file, each completed write (and each task attempt of a bulk job, see
``executor``) appends a line there: how a fault test counts outputs written twice and tasks retried."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def _umask() -> int:
    """The process umask. Linux shows it in /proc (reading it does not change it); elsewhere it can only
    be read by setting it, which is briefly visible to other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def bulk_log(record: dict[str, Any]) -> None:
    """Append ``record`` as a JSON line to GENSDK_BULK_LOG, when set. One short write with O_APPEND: lines
    of concurrent processes (of every node, on shared storage) do not interleave."""
    path = os.environ.get("GENSDK_BULK_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp made the file 0600: give it the mode open() would (0644 under umask 022)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    bulk_log({"event": "write", "path": str(path.resolve())})


def write_folder(folder: str | os.PathLike, files: dict[str, Callable[[Path], Any]]) -> Path:
    """Write a folder atomically: each ``files[name](path)`` writes one file into a temporary folder
    next to ``folder``, which is renamed into place when all are written. A folder already there is
    replaced only once the new one is complete, and put back if the rename fails."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; give it the mode mkdir() would
        for name, write in files.items():
            write(tmp / name)
            if (tmp / name).is_file():  # some writers (safetensors) make their files 0600 whatever the umask
                os.chmod(tmp / name, 0o666 & ~_umask())
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            try:
                os.replace(tmp, folder)
            except OSError:
                os.replace(old, folder)  # rather the previous folder than none
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    bulk_log({"event": "write", "path": str(folder.resolve())})
    return folder


def write_png(path: str | os.PathLike, image: Any) -> None:
    """A Pillow image, or a uint8 array ((H, W) gray or (H, W, 3) RGB), as a PNG file, atomically."""
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def write_json(path: str | os.PathLike, value: Any) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n"))
