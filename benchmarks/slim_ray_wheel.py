"""A ray wheel without what gensdk's use of it never loads, small enough to carry to the GPU machine.

The GPU machine has no network, and a run there carries at most 64 MiB; ray's wheel is 75.6 MiB, of which 32 MB
are the Java workers' jar. This writes a copy without ``ray/jars/`` (Java workers), the dashboard's web client
(``ray/dashboard/client/``) and the libraries gensdk does not use (RLlib, Tune, Train, Serve, Data, LLM), with
its RECORD rewritten to match: about 40 MiB.

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux2014_x86_64 -d /tmp/wheels ray==2.60.0
    python benchmarks/slim_ray_wheel.py /tmp/wheels/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl .whl/
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

DROPPED = ("ray/jars/", "ray/dashboard/client/", "ray/rllib/", "ray/tune/", "ray/train/", "ray/serve/", "ray/data/",
           "ray/llm/")


def slim(wheel: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as slimmed:
        for info in source.infolist():
            if info.filename.startswith(DROPPED):
                continue
            data = source.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True)
                                if not line.decode().startswith(DROPPED))
            slimmed.writestr(info, data)
    return target


if __name__ == "__main__":
    made = slim(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{made}: {made.stat().st_size / 2**20:.1f} MiB")
