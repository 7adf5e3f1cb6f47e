"""Generative augmentation: train a character generator on the engine and draw labelled images.

Three methods, each a core model with settings suited to 32x32 characters:
- ``cgan``: class-conditional DCGAN (projection discriminator, hinge loss, spectral norm,
  minibatch std, generator EMA);
- ``cvae``: conditional VAE (Bernoulli decoder on [0, 1] ink);
- ``dagan``: image-conditioned GAN (``dagan.py``) that draws variants of one given image.

A trained generator is a folder: the trainer's run (``checkpoint.pt``, ``log.jsonl``, ``model/``),
plus ``characters.json`` (method, classes, image size, the data it was trained on) and, for sample
filtering, ``classifier/``: the CNN trained on the same real images.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gensdk.core.device import resolve_device
from gensdk.core.io import write_json
from gensdk.core.model import build_model, load_model
from gensdk.core.trainer import MODEL_DIR, Trainer, TrainConfig
from gensdk.errors import UserError

import gensdk.core.gan  # noqa: F401  (importing a model family registers its models)
import gensdk.core.vae  # noqa: F401

from . import dagan as _dagan  # noqa: F401
from .classifier import Classifier, ClassifierRecipe, confident_mistakes, train_classifier
from .dagan import same_class_pairs

METHODS = ("cgan", "cvae", "dagan")
INFO = "characters.json"
CLASSIFIER_DIR = "classifier"

# Model and training settings per method; a user's --set style overrides go on top.
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cgan": {"model": {"name": "gan", "arch": "dcgan", "loss": "hinge", "spectral_norm": True, "minibatch_std": True,
                       "width": 32, "z_dim": 64, "lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.0, 0.9],
                       "diffaugment": "translation,cutout", "diversity": 0.3},
             "train": {"steps": 3000, "batch_size": 64, "ema_decay": 0.999}},
    "cvae": {"model": {"name": "vae", "hidden": [512, 256], "latent_dim": 32, "likelihood": "bernoulli", "lr": 1e-3},
             "train": {"steps": 3000, "batch_size": 128}},
    "dagan": {"model": {"name": "dagan", "width": 32, "z_dim": 64},
              "train": {"steps": 3000, "batch_size": 64, "ema_decay": 0.999}},
}
MAX_PAIRS = 50_000
# The filtering classifier by default: small enough to train in a minute on a CPU.
# No label smoothing: it caps the top probability near 0.9, below the filter's confidence threshold.
FILTER_RECIPE = ClassifierRecipe(steps=600, width=16, label_smoothing=0.0)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"unknown generative method {method!r}; known: {', '.join(METHODS)}")
    return method


def data_digest(images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> str:
    """A short fingerprint of a training set, so a saved generator is reused only for its own data."""
    h = hashlib.sha256()
    h.update(json.dumps(classes).encode())
    h.update((images.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes())
    h.update(labels.numpy().astype("int64").tobytes())
    return h.hexdigest()[:16]


@dataclass
class CharacterGenerator:
    """A trained generator with its classes: draws images in [0, 1] (ink bright) of given classes."""

    method: str
    model: Any
    classes: list[str]
    image_size: int
    info: dict[str, Any]
    classifier: Classifier | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, sources: torch.Tensor | None = None,
                 noise_seeds: list[int] | None = None) -> torch.Tensor:
        """One image per label. ``sources`` ([N, 1, S, S] in [0, 1]) are the images that a DAGAN
        varies; ``noise_seeds`` (one per image) make each image reproducible on its own."""
        self.model.eval()
        n = len(labels)
        if self.method == "dagan":
            if sources is None:
                raise ValueError("dagan generates variants of given images: pass sources")
            z = self._noise(n, self.model.z_dim, noise_seeds)
            return (self.model.generate(sources.to(self.device) * 2 - 1, z) + 1) / 2
        y = labels.to(self.device)
        if self.method == "cgan":
            z = self._noise(n, self.model.z_dim, noise_seeds)
            return ((self.model.generator(z, y).float() + 1) / 2).clamp(0, 1)
        z = self._noise(n, self.model.latent_dim, noise_seeds)
        return self.model.decode(z, self.model.one_hot(y, n)).sigmoid().view(n, 1, self.image_size, self.image_size)

    def _noise(self, n: int, dim: int, seeds: list[int] | None) -> torch.Tensor:
        if seeds is None:
            return torch.randn(n, dim, device=self.device)
        rows = [torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(rows).to(self.device)

    def filtered(self, images: torch.Tensor, labels: torch.Tensor, confidence: float) -> torch.Tensor:
        """Mask of images to drop (confidently put in another class by the real-data classifier)."""
        if self.classifier is None:
            return torch.zeros(len(images), dtype=torch.bool)
        return confident_mistakes(self.classifier, images, labels, confidence)


def _model_and_data(method: str, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    model_options: dict[str, Any], seed: int) -> tuple[Any, tuple[torch.Tensor, ...]]:
    options = {k: v for k, v in {**DEFAULTS[method]["model"], **model_options}.items() if k != "name"}
    size = images.shape[-1]
    if method == "cgan":
        model = build_model("gan", data_shape=list(images.shape[1:]), num_classes=num_classes, **options)
        return model, (images * 2 - 1, labels)
    if method == "cvae":
        model = build_model("vae", data_shape=list(images.shape[1:]), num_classes=num_classes, **options)
        return model, (images, labels)
    model = build_model("dagan", image_size=size, channels=images.shape[1], num_classes=num_classes, **options)
    i, j = same_class_pairs(labels, MAX_PAIRS, seed)
    scaled = images * 2 - 1
    return model, (scaled[i], scaled[j], labels[i])


def train_generator(method: str, images: torch.Tensor, labels: torch.Tensor, classes: list[str],
                    out_dir: str | os.PathLike, *, steps: int | None = None, seed: int = 0, device: str = "auto",
                    model_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None,
                    classifier_recipe: ClassifierRecipe | None = None, resume: bool = False,
                    overwrite: bool = False, progress: bool = True) -> CharacterGenerator:
    """Train ``method`` on images in [0, 1] ([N, 1, S, S], ink bright) into ``out_dir``; also fit the
    filtering classifier on the same images. Resumable (``resume=True``) like any engine run."""
    check_method(method)
    if len(images) == 0:
        raise UserError("no training images")
    out_dir = Path(out_dir)
    train = {**DEFAULTS[method]["train"], **(train_options or {}), "seed": seed, "device": device,
             "progress": progress}
    if steps is not None:
        train["steps"] = steps
    torch.manual_seed(seed)
    model, data = _model_and_data(method, images, labels, len(classes), model_options or {}, seed)
    train["batch_size"] = min(train["batch_size"], len(data[0]))  # a tiny class set is one batch
    cfg = TrainConfig.from_dict(train)
    Trainer(model, data, cfg, out_dir).fit(resume=resume, overwrite=overwrite)
    dev = resolve_device(device)
    classifier = train_classifier(images, labels, classes, classifier_recipe or FILTER_RECIPE, seed=seed, device=dev)
    classifier.save(out_dir / CLASSIFIER_DIR)
    info = {"method": method, "classes": classes, "image_size": int(images.shape[-1]), "seed": seed,
            "train_images": len(images), "data_digest": data_digest(images.cpu(), labels.cpu(), classes),
            "train": {k: v for k, v in train.items() if k != "progress"}}
    write_json(out_dir / INFO, info)  # written last: its presence marks a complete generator
    return load_generator(out_dir, device=str(dev))


def load_generator(folder: str | os.PathLike, device: str = "cpu") -> CharacterGenerator:
    folder = Path(folder)
    if not (folder / INFO).is_file():
        raise UserError(f"{folder}: not a trained character generator (no {INFO}); train one with "
                        "`gensdk characters train`")
    try:
        info = json.loads((folder / INFO).read_text())
        method, classes, size = info["method"], list(info["classes"]), int(info["image_size"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{folder / INFO}: malformed ({type(err).__name__}: {err})") from None
    check_method(method)
    model = load_model(folder / MODEL_DIR, device)
    classifier = Classifier.load(folder / CLASSIFIER_DIR, device) if (folder / CLASSIFIER_DIR).is_dir() else None
    return CharacterGenerator(method, model, classes, size, info, classifier)


def generate_filtered(generator: CharacterGenerator, labels: torch.Tensor, sources: torch.Tensor | None,
                      seeds: list[int], filter_confidence: float | None, max_tries: int = 10,
                      ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """One image per label, redrawing (with the seed's next noise) those the filter drops, up to
    ``max_tries`` times. Returns (images, accepted mask, dropped count per image)."""
    n = len(labels)
    images = torch.zeros(n, 1, generator.image_size, generator.image_size)
    accepted = torch.zeros(n, dtype=torch.bool)
    dropped = [0] * n
    todo = torch.arange(n)
    for attempt in range(max_tries):
        noise_seeds = [seeds[int(i)] * 1_000 + attempt for i in todo]
        batch = generator.generate(labels[todo], None if sources is None else sources[todo], noise_seeds).cpu()
        bad = (generator.filtered(batch, labels[todo], filter_confidence) if filter_confidence is not None
               else torch.zeros(len(todo), dtype=torch.bool))
        images[todo[~bad]] = batch[~bad]
        accepted[todo[~bad]] = True
        for i in todo[bad].tolist():
            dropped[i] += 1
        todo = todo[bad]
        if len(todo) == 0:
            break
    return images, accepted, dropped
