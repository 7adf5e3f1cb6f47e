"""Carry a trained model off the GPU machine, whose returned files are capped at 16 MiB each: write
its weights as bf16 safetensors shards (``split``), and put them back together here (``join``).
A Trainer checkpoint (weights, optimizer state, step) travels the same way, to be resumed in a later
session (``split-checkpoint`` / ``join-checkpoint``): weights and step counters stay fp32, Adam's
moments go to bf16, which halves the carry (the device takes 64 MiB a call) at the price of a
rounding of the moments, so a resumed run is close to, not bit-identical with, an unbroken one.

    python benchmarks/weight_shards.py split runs/moses/transformer/model OUT_DIR [PREFIX]
    python benchmarks/weight_shards.py join SHARD_DIR runs/moses/transformer/model [PREFIX]
    python benchmarks/weight_shards.py split-checkpoint RUN/checkpoint.pt OUT_DIR [PREFIX]
    python benchmarks/weight_shards.py join-checkpoint SHARD_DIR RUN/checkpoint.pt [PREFIX]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

LIMIT = 15 * 2**20  # bytes of tensor data per shard


def write_shards(tensors: dict[str, torch.Tensor], out: Path, prefix: str) -> int:
    """safetensors files of at most LIMIT bytes of tensor data each (a larger tensor is cut into
    pieces "NAME@i", which ``read_shards`` joins); returns how many files."""
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        if "@" in name:
            raise ValueError(f"tensor name {name!r}: '@' marks the pieces of a cut tensor")
        per_piece = max(1, LIMIT // tensor.element_size())
        flat = tensor.contiguous().reshape(-1)
        pieces = ({name: tensor.contiguous()} if tensor.numel() <= per_piece else
                  {f"{name}@{i}": flat[start:start + per_piece].clone()
                   for i, start in enumerate(range(0, flat.numel(), per_piece))})
        for key, piece in pieces.items():
            nbytes = piece.numel() * piece.element_size()
            if size + nbytes > LIMIT and shards[-1]:
                shards.append({})
                size = 0
            shards[-1][key] = piece
            size += nbytes
        if len(pieces) > 1:  # the shape to restore, kept beside the first piece
            shards[-1][f"{name}@shape"] = torch.tensor(tensor.shape, dtype=torch.int64)
    for i, shard in enumerate(shards):
        save_file(shard, str(out / f"{prefix}-{i}.safetensors"))
    return len(shards)


def read_shards(shard_dir: Path, prefix: str) -> dict[str, torch.Tensor]:
    stored: dict[str, torch.Tensor] = {}
    for path in sorted(shard_dir.glob(f"{prefix}-*.safetensors")):
        stored.update(load_file(str(path)))
    tensors = {k: v for k, v in stored.items() if "@" not in k}
    for key in [k for k in stored if k.endswith("@shape")]:
        name = key[:-len("@shape")]
        count = sum(1 for k in stored if k.startswith(name + "@") and k[len(name) + 1:].isdigit())
        tensors[name] = torch.cat([stored[f"{name}@{i}"] for i in range(count)]).reshape(stored[key].tolist())
    return tensors


def split(model_dir: Path, out: Path, prefix: str = "weights") -> None:
    tensors = load_file(str(model_dir / "model.safetensors"))
    count = write_shards({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()},
                         out, prefix)
    shutil.copy(model_dir / "config.json", out / f"{prefix}.config.json")
    print(f"{count} shards in {out}")


def join(shard_dir: Path, model_dir: Path, prefix: str = "weights") -> None:
    config = json.loads((shard_dir / f"{prefix}.config.json").read_text())
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in read_shards(shard_dir, prefix).items()}
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model_dir / "model.safetensors"))
    (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    print(f"{len(tensors)} tensors -> {model_dir}")


MOMENTS = ("exp_avg", "exp_avg_sq")  # Adam's: carried in bf16


def split_checkpoint(checkpoint: Path, out: Path, prefix: str = "checkpoint") -> None:
    """Every tensor of the checkpoint into shards, named by its path in the nested state; the rest
    (step, seed, configs, param groups with their learning rates as numbers) into PREFIX.json."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    tensors: dict[str, torch.Tensor] = {}

    def strip(value, path):
        if isinstance(value, torch.Tensor):
            if path.endswith(tuple("/" + m for m in MOMENTS)):
                value = value.to(torch.bfloat16)
            tensors[path] = value
            return {"tensor": path}
        if isinstance(value, dict):
            return {"dict": [[k, strip(v, f"{path}/{k}")] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            kind = "tuple" if isinstance(value, tuple) else "list"  # Adam's betas are a tuple
            return {kind: [strip(v, f"{path}/{i}") for i, v in enumerate(value)]}
        return {"value": value}

    skeleton = strip(state, "")
    count = write_shards(tensors, out, prefix)
    (out / f"{prefix}.json").write_text(json.dumps(skeleton))
    print(f"{len(tensors)} tensors in {count} shards in {out}")


def join_checkpoint(shard_dir: Path, checkpoint: Path, prefix: str = "checkpoint") -> None:
    tensors = read_shards(shard_dir, prefix)

    def build(node):
        if "tensor" in node:
            tensor = tensors[node["tensor"]]
            return tensor.float() if tensor.dtype == torch.bfloat16 else tensor
        if "dict" in node:
            return {k: build(v) for k, v in node["dict"]}
        if "list" in node:
            return [build(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(build(v) for v in node["tuple"])
        return node["value"]

    state = build(json.loads((shard_dir / f"{prefix}.json").read_text()))
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, checkpoint)
    print(f"step {state['step']} -> {checkpoint}")


if __name__ == "__main__":
    commands = {"split": split, "join": join, "split-checkpoint": split_checkpoint, "join-checkpoint": join_checkpoint}
    commands[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:])
