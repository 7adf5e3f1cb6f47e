"""Training a codec on the core Trainer; the folders of trained codecs; the codec that ships with gensdk.

A codecs folder holds one run folder per fixed-rate model and quality, ``<model>-q<quality>/``, and
one per variable-rate model, ``<model>/`` (each with the Trainer's ``checkpoint.pt``, ``log.jsonl`` and
``model/``); ``model/`` is prepared for coding (integer decoder, tables) when training ends, so it is
what a file's header names.

The shipped codec (``shipped/`` beside this module) is a variable-rate model exported for coding only:
the encoder's float weights in fp16, the integer decoder and the tables as they are, and no float
decoder or training state (``export_codec``); its config.json records how it was trained.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from gensdk.core.artifact import artifact_folder
from gensdk.core.io import write_folder
from gensdk.core.model import half_state, load_model, read_model_config, save_model
from gensdk.core.trainer import Trainer, TrainConfig
from gensdk.errors import UserError
from gensdk_plugins.compression.models import CODECS, TransformCodec, VariableRateHyperprior, build_codec

CALIBRATION_CROPS = 32


def default_codecs_dir() -> Path:
    return Path(os.environ.get("GENSDK_CODECS", "codecs"))


def run_dir(codecs: Path, model: str, quality: int | None) -> Path:
    """A fixed-rate model's run folder is named by its quality; the variable-rate one codes at all."""
    return Path(codecs) / (model if variable_rate(model) else f"{model}-q{quality}")


def variable_rate(model: str) -> bool:
    return model in CODECS and issubclass(CODECS[model], VariableRateHyperprior)


def wallpapers_dir() -> Path:
    return Path(os.environ.get("GENSDK_CACHE", Path.home() / ".cache" / "gensdk")) / "wallpapers"


def training_crops(source: str, n: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """uint8 crops (n, size, size, 3) for training: ``wallpapers`` (Debian's packages, fetched once
    into the cache), an image folder (random crops of its photos), or a .npy of crops."""
    from gensdk_plugins.compression.data import fetch_wallpapers, image_files, load_crops, random_crops

    if source == "wallpapers":
        return random_crops(fetch_wallpapers(wallpapers_dir()), n, size, seed)
    path = Path(source)
    if path.suffix == ".npy":
        return load_crops(path)
    return random_crops(image_files(path), n, size, seed)


def train_codec(model_name: str, quality: int | None, crops: np.ndarray, codecs: Path, steps: int,
                batch_size: int = 16, lr: float = 1e-4, distortion: str = "mse", device: str = "auto", seed: int = 0,
                resume: bool = False, overwrite: bool = False, progress: bool = True, checkpoint_every: int = 1000,
                minutes: float | None = None, cuda_graph: bool = True, compile: bool = False,
                **sizes: int) -> TransformCodec:
    """Train ``model_name`` at ``quality`` (the variable-rate model: at every quality) on uint8 crops
    (n, H, W, 3), then prepare it for coding with the first crops as calibration, and save it to
    ``run_dir(codecs, model_name, quality)/model``. On a GPU the step runs as one CUDA graph
    (``cuda_graph``) or through torch.compile (``compile``).

    ``minutes`` replaces ``steps`` by a time budget: the Trainer measures the step rate in the run's
    first steps and plans the schedule for the steps that fit (kept in the checkpoint, so that
    ``resume`` follows the same schedule)."""
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise UserError(f"training crops must be uint8 (n, H, W, 3), got {crops.dtype} {crops.shape}")
    torch.manual_seed(seed)  # the initial weights too: one seed, one run
    model = build_codec(model_name, quality, distortion=distortion, lr=lr, **sizes)
    data = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous()
    out = run_dir(codecs, model_name, quality)
    if torch.cuda.is_available() and device != "cpu":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: let cuDNN pick the fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    config = TrainConfig(steps=steps, minutes=minutes, batch_size=batch_size, seed=seed, device=device, bf16=False,
                         cuda_graph=cuda_graph, compile=compile, lr_schedule="cosine",
                         warmup_steps=500 if minutes is not None else min(500, steps // 20),
                         checkpoint_every=checkpoint_every if minutes is not None else min(checkpoint_every, steps),
                         log_every=100 if minutes is not None else min(100, steps), progress=progress)
    trainer = Trainer(model, data, config, out_dir=out)
    trainer.fit(resume=resume, overwrite=overwrite)
    model = trainer.model
    calibration = [data[i:i + 1].float().div(255) for i in range(min(CALIBRATION_CROPS, len(data)))]
    model.prepare_codec(calibration)
    save_model(model, out / "model")
    return model


def load_codec(codecs: Path, model_name: str, quality: int, device: str = "cpu") -> TransformCodec:
    """The prepared model of ``model_name`` that codes at ``quality``, from a codecs folder."""
    if model_name not in CODECS:
        raise UserError(f"unknown codec model {model_name!r}; known: {', '.join(CODECS)}")
    folder = run_dir(codecs, model_name, quality) / "model"
    if not folder.is_dir():
        have = [f"{n}-q{q}" for n, q in trained_codecs(codecs)] if Path(codecs).is_dir() else []
        raise UserError(f"{codecs}: no trained {model_name} at quality {quality} (expected {folder}); "
                        f"trained here: {', '.join(have) or 'none'} (train one with `gensdk compression train`)")
    model = open_codec(folder, device)
    model.rate_index(quality)  # a variable-rate model trained on a shorter ladder
    return model


def open_codec(folder: Path, device: str = "cpu") -> TransformCodec:
    """A prepared codec from a model folder, a training run's folder (its ``model/``), or an exported
    one (``export_codec``)."""
    folder = artifact_folder(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such codec folder")
    exported = read_model_config(folder).get("exported_for_coding", False)
    model = load_model(folder, device, may_lack=training_only if exported else None)
    if not isinstance(model, TransformCodec):
        raise UserError(f"{folder}: not a codec model")
    model.coding_only = exported  # its float decoder and density models were left out: it cannot train
    model.require_codec()
    return model


def trained_codecs(codecs: Path) -> list[tuple[str, int]]:
    """(model, quality) of every coding point of the prepared codecs in a folder, sorted."""
    found = []
    for path in sorted(Path(codecs).iterdir()) if Path(codecs).is_dir() else []:
        name, _, quality = path.name.rpartition("-q")
        if not (path / "model" / "config.json").is_file():
            continue
        if name in CODECS and quality.isdigit():
            found.append((name, int(quality)))
        elif variable_rate(path.name):
            ladder = read_model_config(path / "model")["config"].get("ladder", 8)
            found += [(path.name, q) for q in range(1, ladder + 1)]
    return sorted(found)


# --- the codec that ships with the package ---------------------------------------------------------
SHIPPED = Path(__file__).parent / "shipped"


def training_only(key: str) -> bool:
    """Weights that coding never reads: the float decoders and context networks (their integer twins
    run on both sides), the density
    models' parameters (their tables code), the quantiles and the inverse gains (integer twins too)."""
    return key.startswith(("g_s.", "h_s.", "context.", "log_inverse_gain")) or (
        key.split(".")[0] in ("z_prior", "y_prior") and not key.split(".")[1].startswith("table"))


def export_codec(model: TransformCodec, folder: Path, record: dict) -> Path:
    """Save a prepared codec for coding only, in fp16 where the encoder's float weights are, with
    ``record`` (how it was trained) in its config.json."""
    model.require_codec()
    state = half_state({k: v.detach().cpu() for k, v in model.state_dict().items() if not training_only(k)},
                       keep_exact=_exact)

    def weights(path: Path) -> None:
        from safetensors.torch import save_file

        save_file(state, str(path))

    config = {"model": model.model_name, "config": model.config, "exported_for_coding": True, "training": record}
    return write_folder(folder, {"config.json": lambda path: path.write_text(json.dumps(config, indent=2) + "\n"),
                                 "model.safetensors": weights})


def _exact(key: str) -> bool:
    """Numbers the decoder reads (integer decoder, tables, calibration state): kept bit for bit,
    since the file fingerprint covers them."""
    return key.startswith("int_") or ".table" in key or key.startswith(("y_conditional.", "codec_ready"))


def shipped_codec(device: str = "cpu") -> TransformCodec:
    """The codec that comes with gensdk; a missing or damaged one is reported, never replaced."""
    if not (SHIPPED / "config.json").is_file():
        raise UserError(f"{SHIPPED}: the shipped codec is missing from this installation (reinstall gensdk, or "
                        "pass --model with a codec you trained)")
    return open_codec(SHIPPED, device)
