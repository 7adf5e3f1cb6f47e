"""Baselines that gensdk's generated programs are compared against: Csmith's random C programs.

Csmith programs include ``csmith.h`` (Debian's libcsmith-dev puts it in ``CSMITH_INCLUDE``), so every
compiler that builds them needs ``-I`` that folder. They are free of undefined behaviour by
construction and print ``checksum = <hex>`` of their globals, which is what differential testing
compares.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from gensdk.core.io import atomic_write
from gensdk.errors import UserError

CSMITH_INCLUDE = Path("/usr/include/csmith")


def csmith_programs(n: int, out_dir: Path, seed: int = 0, timeout: float = 10,
                    options: Sequence[str] = ()) -> list[Path]:
    """Write ``out_dir/csmith-<s>.c`` for seeds ``seed .. seed+n-1`` and return their paths.

    Csmith's own defaults are kept: they are what the compiler-testing literature calls "Csmith".
    ``options`` adds Csmith flags; ``("--no-packed-struct",)`` suits tcc 0.9.27, which rejects the
    ``#pragma pack(push)`` that a third of default programs open with.
    Files already there are kept (a killed run resumes where it stopped). A seed on which Csmith
    runs past ``timeout`` seconds or fails is skipped with a note, so fewer than ``n`` paths may come
    back.
    """
    csmith = shutil.which("csmith")
    if csmith is None or not (CSMITH_INCLUDE / "csmith.h").is_file():
        raise UserError("csmith: not installed; install Debian's csmith and libcsmith-dev "
                        "(apt-get install csmith libcsmith-dev)")
    out_dir = Path(out_dir).resolve()  # absolute: Csmith runs in another folder
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    # Csmith writes platform.info into its working folder: give it a scratch one
    with tempfile.TemporaryDirectory(prefix="csmith-") as scratch:
        for s in range(seed, seed + n):
            path = out_dir / f"csmith-{s}.c"
            if not path.exists():
                try:
                    atomic_write(path, lambda tmp: subprocess.run(
                        [csmith, *options, "--seed", str(s), "--output", tmp], check=True, timeout=timeout,
                        cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as err:
                    print(f"csmith: seed {s} skipped ({type(err).__name__})")
                    continue
            paths.append(path)
    return paths
