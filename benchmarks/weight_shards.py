"""Carry a trained model off the GPU machine, whose returned files are capped at 16 MiB each: write
its weights as bf16 safetensors shards (``split``), and put them back together here (``join``).

    python benchmarks/weight_shards.py split runs/moses/transformer/model OUT_DIR [PREFIX]
    python benchmarks/weight_shards.py join SHARD_DIR runs/moses/transformer/model [PREFIX]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

LIMIT = 15 * 2**20  # bytes of tensor data per shard


def split(model_dir: Path, out: Path, prefix: str = "weights") -> None:
    out.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(model_dir / "model.safetensors"))
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        tensor = tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
        nbytes = tensor.numel() * tensor.element_size()
        if size + nbytes > LIMIT and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = tensor.contiguous()
        size += nbytes
    for i, shard in enumerate(shards):
        save_file(shard, str(out / f"{prefix}-{i}.safetensors"))
    shutil.copy(model_dir / "config.json", out / f"{prefix}.config.json")
    print(f"{len(shards)} shards in {out}")


def join(shard_dir: Path, model_dir: Path, prefix: str = "weights") -> None:
    config = json.loads((shard_dir / f"{prefix}.config.json").read_text())
    tensors = {}
    for path in sorted(shard_dir.glob(f"{prefix}-*.safetensors")):
        tensors.update({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()})
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model_dir / "model.safetensors"))
    (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    print(f"{len(tensors)} tensors -> {model_dir}")


if __name__ == "__main__":
    {"split": split, "join": join}[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:])
