"""Training a codec on the core Trainer, and the folder of trained codecs that compress/decompress use.

A codecs folder holds one run folder per model and quality, ``<model>-q<quality>/`` (the Trainer's
``checkpoint.pt``, ``log.jsonl`` and ``model/``); ``model/`` is prepared for coding (integer decoder,
tables) when training ends, so it is what a file's header names.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from gensdk.core.io import write_json
from gensdk.core.model import load_model, save_model
from gensdk.core.trainer import Trainer, TrainConfig
from gensdk.errors import UserError
from plugins.compression.models import CODECS, TransformCodec, build_codec

CALIBRATION_CROPS = 32


def default_codecs_dir() -> Path:
    return Path(os.environ.get("GENSDK_CODECS", "codecs"))


def run_dir(codecs: Path, model: str, quality: int) -> Path:
    return Path(codecs) / f"{model}-q{quality}"


def wallpapers_dir() -> Path:
    return Path(os.environ.get("GENSDK_CACHE", Path.home() / ".cache" / "gensdk")) / "wallpapers"


def training_crops(source: str, n: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """uint8 crops (n, size, size, 3) for training: ``wallpapers`` (Debian's packages, fetched once
    into the cache), an image folder (random crops of its photos), or a .npy of crops."""
    from plugins.compression.data import fetch_wallpapers, image_files, load_crops, random_crops

    if source == "wallpapers":
        return random_crops(fetch_wallpapers(wallpapers_dir()), n, size, seed)
    path = Path(source)
    if path.suffix == ".npy":
        return load_crops(path)
    return random_crops(image_files(path), n, size, seed)


def train_codec(model_name: str, quality: int, crops: np.ndarray, codecs: Path, steps: int, batch_size: int = 16,
                lr: float = 1e-4, distortion: str = "mse", device: str = "auto", seed: int = 0, resume: bool = False,
                overwrite: bool = False, progress: bool = True, checkpoint_every: int = 1000,
                minutes: float | None = None, **sizes: int) -> TransformCodec:
    """Train ``model_name`` at ``quality`` on uint8 crops (n, H, W, 3), then prepare it for coding
    with the first crops as calibration, and save it to ``codecs/<model>-q<quality>/model``.

    ``minutes`` replaces ``steps`` by a time budget: a short probe measures the step rate (under
    whatever else shares the device) and the schedule is laid out for the steps that fit; the number
    is kept in the run folder's ``plan.json`` so that ``resume`` follows the same schedule."""
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise UserError(f"training crops must be uint8 (n, H, W, 3), got {crops.dtype} {crops.shape}")
    torch.manual_seed(seed)  # the initial weights too: one seed, one run
    model = build_codec(model_name, quality, distortion=distortion, lr=lr, **sizes)
    data = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous()
    out = run_dir(codecs, model_name, quality)
    if torch.cuda.is_available() and device != "cpu":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: let cuDNN pick the fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if minutes is not None:
        steps = planned_steps(model, data, out, minutes, batch_size, device, resume)

    config = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, device=device, bf16=False,
                         lr_schedule="cosine", warmup_steps=min(500, steps // 20),
                         checkpoint_every=min(checkpoint_every, steps), log_every=min(100, steps), progress=progress)
    trainer = Trainer(model, data, config, out_dir=out)
    trainer.fit(resume=resume, overwrite=overwrite)
    model = trainer.model
    calibration = [data[i:i + 1].float().div(255) for i in range(min(CALIBRATION_CROPS, len(data)))]
    model.prepare_codec(calibration)
    save_model(model, out / "model")
    return model


PROBE_STEPS = 60


def planned_steps(model: TransformCodec, data: torch.Tensor, out: Path, minutes: float, batch_size: int,
                  device: str, resume: bool) -> int:
    plan = out / "plan.json"
    if resume and plan.is_file():
        return int(json.loads(plan.read_text())["steps"])
    start = time.perf_counter()
    probe = copy.deepcopy(model)
    config = TrainConfig(steps=PROBE_STEPS, batch_size=batch_size, device=device, bf16=False, progress=False,
                         log_every=PROBE_STEPS // 2)
    trainer = Trainer(probe, data, config)
    trainer.fit()
    rate = trainer.throughput / batch_size if trainer.throughput else PROBE_STEPS / (time.perf_counter() - start)
    left = minutes * 60 - (time.perf_counter() - start)
    steps = max(PROBE_STEPS, int(rate * left * 0.97))  # 3% for checkpoints and the codec's preparation
    write_json(plan, {"steps": steps, "probe_steps_per_s": rate, "minutes": minutes})
    return steps


def load_codec(codecs: Path, model_name: str, quality: int, device: str = "cpu") -> TransformCodec:
    """The prepared model of ``model_name`` at ``quality`` from a codecs folder."""
    if model_name not in CODECS:
        raise UserError(f"unknown codec model {model_name!r}; known: {', '.join(CODECS)}")
    folder = run_dir(codecs, model_name, quality) / "model"
    if not folder.is_dir():
        have = sorted(p.name for p in Path(codecs).glob("*-q*") if (p / "model").is_dir()) if Path(codecs).is_dir() else []
        raise UserError(f"{codecs}: no trained {model_name} at quality {quality} (expected {folder}); "
                        f"trained here: {', '.join(have) or 'none'} (train one with `gensdk compression train`)")
    model = load_model(folder, device)
    if not isinstance(model, TransformCodec):
        raise UserError(f"{folder}: not a codec model")
    model.require_codec()
    return model


def trained_codecs(codecs: Path) -> list[tuple[str, int]]:
    """(model, quality) of every prepared codec in a folder, sorted."""
    found = []
    for path in sorted(Path(codecs).glob("*-q*")):
        name, _, quality = path.name.rpartition("-q")
        if name in CODECS and quality.isdigit() and (path / "model" / "config.json").is_file():
            found.append((name, int(quality)))
    return sorted(found)
