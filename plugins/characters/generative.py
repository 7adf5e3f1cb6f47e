"""Generative augmentation: train a character generator on the engine and draw labelled images.

Five methods, each a core model with settings suited to 32x32 characters:
- ``cgan``: class-conditional DCGAN (projection discriminator, hinge loss, spectral norm,
  minibatch std, generator EMA);
- ``cvae``: conditional VAE (Bernoulli decoder on [0, 1] ink);
- ``dagan``: image-conditioned GAN (``dagan.py``) that draws variants of one given image;
- ``diffusion``: class-conditional diffusion (the core's U-Net, v-prediction, cosine schedule,
  EMA), sampled with DPM-Solver++ and classifier-free guidance;
- ``style``: the same conditioned also on the style of a reference image of any class (``style.py``),
  so that a class is drawn in fonts the data show only for other classes. It trains on style groups
  (which images share a font: ``data.style_groups``) and draws in the style of given references.

A trained generator is the trainer's run folder (``checkpoint.pt``, ``log.jsonl``) whose ``model/`` is
the artifact: the generator's weights, its settings under "characters" in config.json (method, classes,
image size, the data it was trained on) and, for sample filtering, ``classifier/``: the CNN trained on
the same real images. Folders written before artifacts kept ``characters.json`` and ``classifier/``
beside ``model/``; they still load.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensdk.core.artifact import Artifact, artifact_folder, register_artifact
from gensdk.core.device import resolve_device
from gensdk.core.io import write_png
from gensdk.core.model import build_model, halve_weights, load_model, read_model_config
from gensdk.core.trainer import MODEL_DIR, Trainer, TrainConfig, training_budget
from gensdk.errors import UserError

import gensdk.core.gan  # noqa: F401  (importing a model family registers its models)
import gensdk.core.vae  # noqa: F401

from . import dagan as _dagan  # noqa: F401
from .classifier import Classifier, ClassifierRecipe, SampleFilter, quality, train_classifier
from .dagan import same_class_pairs
from .style import pair_data

METHODS = ("cgan", "cvae", "dagan", "diffusion", "style")
REFERENCE_METHODS = ("dagan", "style")  # they draw from given images: dagan varies them, style copies their look
DIFFUSION_METHODS = ("diffusion", "style")
INFO = "characters.json"  # the settings' file of folders written before artifacts
# The generator that ships with gensdk: trained on renders of many fonts (benchmarks/characters_pretrained.py;
# its config.json records which, and how), for a user's few images without training on them.
SHIPPED = Path(__file__).parent / "pretrained"
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
    # v-prediction with x0 clipped to the ink range; DPM-Solver++(2M) needs few steps (Lu et al. 2022: 10-20)
    "diffusion": {"model": {"name": "diffusion", "arch": "unet", "width": 32, "channel_mult": [1, 2, 2], "depth": 1,
                            "attention": True, "prediction": "v", "schedule": "cosine", "clip": 1.0, "lr": 3e-4,
                            "label_dropout": 0.1, "sampler": "dpm++2m", "sample_steps": 12},
                  "train": {"steps": 2000, "batch_size": 64, "ema_decay": 0.999, "warmup_steps": 200},
                  "sampling": {"guidance": 2.0}},
    "style": {"model": {"name": "style-diffusion", "width": 32, "channel_mult": [1, 2, 2], "depth": 1,
                        "attention": True, "prediction": "v", "schedule": "cosine", "clip": 1.0, "lr": 3e-4,
                        "label_dropout": 0.1, "sampler": "dpm++2m", "sample_steps": 12, "style_dim": 64,
                        "style_width": 32},
              "train": {"steps": 2000, "batch_size": 64, "ema_decay": 0.999, "warmup_steps": 200},
              "sampling": {"guidance": 2.0}},
}
SAMPLING_OPTIONS = ("guidance",)  # options of drawing, not of the model: kept in the generator's settings
MAX_PAIRS = 50_000
STYLE_REFERENCES = 20  # style: references per training image (pairs with other images of its group) ...
STYLE_MAX_PAIRS = 60_000  # ... fewer for a large set: the pairs are stored as images (60k pairs: ~0.5 GB)
# The filtering classifier by default: small enough to train in a minute on a CPU.
# No label smoothing: it caps the top probability near 0.9, below the filter's confidence threshold.
FILTER_RECIPE = ClassifierRecipe(steps=600, width=16, label_smoothing=0.0)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"unknown generative method {method!r}; known: {', '.join(METHODS)}")
    return method


def to_uint8(image: torch.Tensor, light: bool) -> np.ndarray:
    """A generated [1, S, S] image in [0, 1] (ink bright) as gray uint8 in the source's polarity."""
    array = (image[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return 255 - array if light else array


def data_digest(images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> str:
    """A short fingerprint of a training set, so a saved generator is reused only for its own data."""
    h = hashlib.sha256()
    h.update(json.dumps(classes).encode())
    h.update((images.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes())
    h.update(labels.numpy().astype("int64").tobytes())
    return h.hexdigest()[:16]


@register_artifact("character-generator", plugin="characters")
@dataclass
class CharacterGenerator(Artifact):
    """A trained generator with its classes: draws images in [0, 1] (ink bright) of given classes."""

    state_key = "characters"
    sample_formats = "a folder (one subfolder of PNGs per class)"

    method: str
    model: Any
    classes: list[str]
    image_size: int
    info: dict[str, Any]
    classifier: Classifier | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def sampling(self) -> dict[str, Any]:
        """How a diffusion method draws (its guidance scale): the method's defaults and what training set."""
        return {**DEFAULTS[self.method].get("sampling", {}), **self.info.get("sampling", {})}

    def with_sampling(self, **options: Any) -> "CharacterGenerator":
        """The same generator drawing with other sampling options (e.g. ``guidance=3.0``)."""
        unknown = set(options) - set(SAMPLING_OPTIONS)
        if unknown or self.method not in DIFFUSION_METHODS:
            raise UserError(f"{self.method}: no sampling option {', '.join(sorted(unknown or options))}")
        return replace(self, info={**self.info, "sampling": {**self.sampling, **options}})

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, sources: torch.Tensor | None = None,
                 noise_seeds: list[int] | None = None) -> torch.Tensor:
        """One image per label. ``sources`` ([N, 1, S, S] in [0, 1]) are the images that a DAGAN
        varies (of the label's class) or whose style ``style`` takes (of any class); ``noise_seeds``
        (one per image) make each image reproducible on its own."""
        self.model.eval()
        n = len(labels)
        if self.method in REFERENCE_METHODS and sources is None:
            raise ValueError(f"{self.method} draws from given images: pass sources")
        if self.method == "dagan":
            z = self._noise(n, (self.model.z_dim,), noise_seeds)
            return (self.model.generate(sources.to(self.device) * 2 - 1, z) + 1) / 2
        y = labels.to(self.device)
        if self.method in DIFFUSION_METHODS:
            context = sources.to(self.device) * 2 - 1 if self.method == "style" else None
            noise = self._noise(n, self.model.data_shape, noise_seeds)
            # bf16 on a GPU, as in training; the samplers' arithmetic stays in float32
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                x = self.model.sample(n, labels=y, guidance=float(self.sampling["guidance"]), context=context,
                                      noise=noise)
            return ((x.float() + 1) / 2).clamp(0, 1)
        if self.method == "cgan":
            z = self._noise(n, (self.model.z_dim,), noise_seeds)
            return ((self.model.generator(z, y).float() + 1) / 2).clamp(0, 1)
        z = self._noise(n, (self.model.latent_dim,), noise_seeds)
        return self.model.decode(z, self.model.one_hot(y, n)).sigmoid().view(n, 1, self.image_size, self.image_size)

    def class_indices(self, classes: list[str]) -> torch.Tensor:
        """The generator's index of each of ``classes`` (a data set's, by name): a generator trained on
        more classes (the shipped one) serves any subset of them."""
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise UserError(f"the {self.method} generator was not trained on class(es) "
                            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                            f"(it knows {len(self.classes)}: {', '.join(self.classes[:5])} ...)")
        return torch.tensor([self.classes.index(c) for c in classes], dtype=torch.long)

    def _noise(self, n: int, shape: tuple[int, ...], seeds: list[int] | None) -> torch.Tensor:
        if seeds is None:
            return torch.randn(n, *shape, device=self.device)
        rows = [torch.randn(*shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(rows).to(self.device) if rows else torch.zeros(0, *shape, device=self.device)

    def filtered(self, images: torch.Tensor, labels: torch.Tensor, rule: SampleFilter) -> torch.Tensor:
        """Mask of images to drop by ``rule``, judged by the classifier of the real images."""
        if self.classifier is None:
            return torch.zeros(len(images), dtype=torch.bool)
        return rule.rejects(self.classifier, images, labels)

    # --- the artifact -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self.info

    def files(self) -> dict[str, Any]:
        return {CLASSIFIER_DIR: self.classifier.save} if self.classifier is not None else {}

    @classmethod
    def restore(cls, folder: Path, state: dict[str, Any], model: Any, device: Any) -> "CharacterGenerator":
        try:
            method, classes, size = state["method"], list(state["classes"]), int(state["image_size"])
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{folder / 'config.json'}: malformed characters settings ({type(err).__name__}: {err})") from None
        check_method(method)
        classifier = Classifier.load(folder / CLASSIFIER_DIR, device) if (folder / CLASSIFIER_DIR).is_dir() else None
        return cls(method, model, classes, size, state, classifier)

    def _labels(self, n: int) -> torch.Tensor:
        return torch.arange(n) % len(self.classes)  # the classes in turn

    def write_samples(self, n: int, out: Path, seed: int = 0) -> Path:
        """``n`` images, the classes in turn, as PNGs in one subfolder per class of ``out``."""
        if self.method in REFERENCE_METHODS:
            raise UserError(f"a {self.method} generator draws from given images: "
                            "use `gensdk characters sample --source FOLDER`")
        if out.suffix:
            raise UserError(f"{out}: give a folder for the images (one subfolder per class)")
        labels = self._labels(n)
        images = self.generate(labels, noise_seeds=[seed * 1_000_000 + i for i in range(n)]).cpu()
        for i, (image, label) in enumerate(zip(images, labels.tolist())):
            write_png(out / self.classes[label] / f"{self.method}-{seed}-{i}.png", to_uint8(image, False))
        return out

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Frechet distance and precision/recall of generated images against the image folder ``data``,
        in the feature space of the generator's own classifier (trained on the real images)."""
        from .data import load_characters

        if data is None:
            raise UserError("evaluating a character generator needs real images: pass --data IMAGE_FOLDER")
        if self.classifier is None:
            raise UserError("this character generator was saved without its classifier, which evaluation needs")
        real = load_characters(data, size=self.image_size)
        if real.classes != self.classes:
            raise UserError(f"{data}: its classes differ from the model's")
        pick = torch.arange(len(real) if n is None else n) % len(real)
        labels, sources = real.labels[pick], real.images[pick] if self.method == "dagan" else None
        if self.method == "style":  # each class in the style of a random real image
            sources = real.images[torch.randint(len(real), (len(pick),), generator=torch.Generator().manual_seed(seed))]
        fake = self.generate(labels, sources, [seed * 1_000_000 + i for i in range(len(labels))]).cpu()
        return quality(self.classifier, real.images, fake, seed=seed)


def _model_and_data(method: str, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    model_options: dict[str, Any], seed: int, groups: list[str] | None
                    ) -> tuple[Any, tuple[torch.Tensor, ...]]:
    options = {k: v for k, v in {**DEFAULTS[method]["model"], **model_options}.items() if k != "name"}
    size = images.shape[-1]
    if method in DIFFUSION_METHODS:
        model = build_model(DEFAULTS[method]["model"]["name"], data_shape=list(images.shape[1:]),
                            num_classes=num_classes, **options)
        if method == "diffusion":
            return model, (images * 2 - 1, labels)
        per_image = max(1, min(STYLE_REFERENCES, STYLE_MAX_PAIRS // len(images)))
        return model, pair_data(images, labels, groups, per_image, seed)
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
                    out_dir: str | os.PathLike, *, steps: int | None = None, epochs: float | None = None,
                    minutes: float | None = None, seed: int = 0, device: str = "auto",
                    model_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None,
                    classifier_recipe: ClassifierRecipe | None = None, resume: bool = False,
                    overwrite: bool = False, progress: bool = True,
                    groups: list[str] | None = None) -> CharacterGenerator:
    """Train ``method`` on images in [0, 1] ([N, 1, S, S], ink bright) into ``out_dir``; also fit the
    filtering classifier on the same images. Resumable (``resume=True``) like any engine run. The
    budget: one of ``steps``, ``epochs`` (passes over the images) or ``minutes``; the method's default
    steps otherwise. ``groups``: the style group of every image (the style method needs them).
    ``model_options`` may also hold sampling options (``guidance``), kept in the settings."""
    check_method(method)
    if len(images) == 0:
        raise UserError("no training images")
    out_dir = Path(out_dir)
    train = {**DEFAULTS[method]["train"], **(train_options or {}), "seed": seed, "device": device,
             "progress": progress}
    dev = resolve_device(device)
    # the classifier first, so that model/ is written once, whole, when training ends (a resumed run
    # fits it again: a minute on a CPU)
    if method == "style":
        if groups is None or len(groups) != len(images):
            raise UserError("the style method needs the style group (font, writer) of every image")
        if len(set(groups)) == len(groups):
            raise UserError("the style method needs images that share a style group (e.g. files named "
                            "<group>-<k>.png, as `gensdk characters render` writes); here every image is its own")
    options = dict(model_options or {})
    sampling = {k: options.pop(k) for k in SAMPLING_OPTIONS if k in options}
    if sampling and method not in DIFFUSION_METHODS:
        raise UserError(f"{method}: no sampling option {', '.join(sampling)}")
    if "guidance" in sampling and (isinstance(sampling["guidance"], bool)
                                   or not isinstance(sampling["guidance"], (int, float))):
        raise UserError(f"guidance must be a number, got {sampling['guidance']!r}")
    classifier = train_classifier(images, labels, classes, classifier_recipe or FILTER_RECIPE, seed=seed, device=dev)
    torch.manual_seed(seed)
    model, data = _model_and_data(method, images, labels, len(classes), options, seed, groups)
    train["batch_size"] = min(train["batch_size"], len(data[0]))  # a tiny class set is one batch
    budget = training_budget(steps, epochs, minutes, len(data[0]), train["batch_size"], train["steps"])
    train.update({k: v for k, v in budget.items() if v is not None})
    cfg = TrainConfig.from_dict(train)
    info = {"method": method, "classes": classes, "image_size": int(images.shape[-1]), "seed": seed,
            "train_images": len(images), "data_digest": data_digest(images.cpu(), labels.cpu(), classes),
            "train": {k: v for k, v in train.items() if k != "progress"},
            **({"sampling": {**DEFAULTS[method].get("sampling", {}), **sampling}}
               if method in DIFFUSION_METHODS else {})}
    generator = CharacterGenerator(method, model, classes, int(images.shape[-1]), info, classifier)
    Trainer(model, data, cfg, out_dir).fit(resume=resume, overwrite=overwrite, save=generator.save)
    return load_generator(out_dir, device=str(dev))


def is_trained(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a whole trained generator (a run whose model/ is one, or an older folder)."""
    folder = Path(folder)
    if (folder / INFO).is_file():
        return True
    config = artifact_folder(folder) / "config.json"
    try:
        return config.is_file() and "characters" in read_model_config(config.parent)
    except UserError:
        return False


def load_generator(folder: str | os.PathLike, device: str = "cpu") -> CharacterGenerator:
    folder = Path(folder)
    if not (folder / INFO).is_file():
        if not is_trained(folder):
            raise UserError(f"{folder}: not a trained character generator; train one with `gensdk characters train`")
        return CharacterGenerator.load(folder, device)
    # a folder written before artifacts: characters.json and classifier/ beside the run's model/
    try:
        info = json.loads((folder / INFO).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{folder / INFO}: malformed ({type(err).__name__}: {err})") from None
    if not isinstance(info, dict):
        raise UserError(f"{folder / INFO}: malformed (not a mapping)")
    generator = CharacterGenerator.restore(folder, info, load_model(folder / MODEL_DIR, device), device)
    return generator


def shipped_generator(device: str = "cpu") -> CharacterGenerator:
    """The pretrained generator that comes with gensdk; a missing one is reported, never replaced."""
    if not is_trained(SHIPPED):
        raise UserError(f"{SHIPPED}: no pretrained generator in this installation (reinstall gensdk, or leave out "
                        "--pretrained to train one on your images)")
    generator = load_generator(SHIPPED, device)
    generator.info["folder"] = str(SHIPPED)
    return generator


def export_generator(generator: CharacterGenerator, folder: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Save ``generator`` to ship: its weights (and its classifier's) in fp16, ``record`` (how it was
    trained, on which fonts) in its config.json."""
    generator.save(folder, record=record)
    halve_weights(folder)
    return Path(folder)


def generate_filtered(generator: CharacterGenerator, labels: torch.Tensor, sources: torch.Tensor | None,
                      seeds: list[int], rule: SampleFilter | None, max_tries: int = 10,
                      ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """One image per label, redrawing (with the seed's next noise) those that ``rule`` drops (None:
    no filter), up to ``max_tries`` times. Returns (images, accepted mask, dropped count per image)."""
    n = len(labels)
    images = torch.zeros(n, 1, generator.image_size, generator.image_size)
    accepted = torch.zeros(n, dtype=torch.bool)
    dropped = [0] * n
    todo = torch.arange(n)
    for attempt in range(max_tries):
        noise_seeds = [seeds[int(i)] * 1_000 + attempt for i in todo]
        batch = generator.generate(labels[todo], None if sources is None else sources[todo], noise_seeds).cpu()
        bad = (generator.filtered(batch, labels[todo], rule) if rule is not None
               else torch.zeros(len(todo), dtype=torch.bool))
        images[todo[~bad]] = batch[~bad]
        accepted[todo[~bad]] = True
        for i in todo[bad].tolist():
            dropped[i] += 1
        todo = todo[bad]
        if len(todo) == 0:
            break
    return images, accepted, dropped
