"""What every benchmark records next to its figures: date, device, command, commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{len(names)} x {names[0]}, torch {torch.__version__}, Python {platform.python_version()}"
    return (f"CPU ({platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def provenance() -> dict[str, Any]:
    # the device machine's copy of the tree may carry a stale .git: the caller's GENSDK_COMMIT wins there
    commit = os.environ.get("GENSDK_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "device": device_description(),
            "command": "python " + " ".join(sys.argv), "commit": commit or "unknown"}


def write_results(path: str | Path, record: dict[str, Any], table: list[str]) -> None:
    """``path``.json holds everything; ``path``.md a human summary headed by the provenance."""
    from gensdk.core.io import atomic_write

    path = Path(path)
    head = [f"- {key}: {record[key]}" for key in ("date", "device", "command", "commit") if key in record]
    texts = {".json": json.dumps(record, indent=2) + "\n",
             ".md": "\n".join([f"# {record.get('title', path.stem)}", "", *head, "", *table]) + "\n"}
    for suffix, text in texts.items():  # each file whole or not at all
        atomic_write(path.with_suffix(suffix), lambda tmp, text=text: Path(tmp).write_text(text))
