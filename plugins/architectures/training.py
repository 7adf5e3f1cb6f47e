"""Real-training evaluation: a compiled description trained as an image classifier for a fixed budget
on the core ``Trainer`` (device, bf16, checkpoints, resume), then scored on held-out images.

``ArchitectureClassifier`` is a registered model (``arch-classifier``) whose config is the
description's JSON form, so a trained network saves and loads as a folder of ``config.json`` +
``model.safetensors`` like every gensdk model; a training run saves it as a ``TrainedNetwork``
artifact (with the data it trained on), which ``gensdk evaluate`` scores. The data are scikit-learn's 8x8 digits
(``sklearn-digits``) or any image folder with one subfolder per class (the characters plugin's
reader, resized to the description's input size).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gensdk.core.artifact import Artifact, register_artifact
from gensdk.core.model import GenerativeModel, StepContext, register_model
from gensdk.errors import UserError

from .compiler import DEFAULT_MAX_PARAMETERS, Architecture, validate
from .language import Description, from_json, to_json

DIGITS = ("sklearn-digits", "digits")  # scikit-learn's 8x8 digits, with their own train/valid/test splits


@register_model("arch-classifier")
class ArchitectureClassifier(GenerativeModel):
    """A description compiled into a classifier; trained with AdamW and cross-entropy."""

    def __init__(self, *, description: dict[str, Any], lr: float = 1e-3, weight_decay: float = 1e-4):
        super().__init__()
        parsed = from_json(description)
        checked = validate(parsed, DEFAULT_MAX_PARAMETERS)
        if len(parsed.inputs) != 1 or parsed.inputs[0].kind != "image" or len(parsed.outputs) != 1:
            raise UserError("a classifier description has one image input and one output")
        if checked.shapes[parsed.outputs[0]].kind != "vector":
            raise UserError(f"the output {parsed.outputs[0]!r} must be a vector of class scores, "
                            f"got {checked.shapes[parsed.outputs[0]]}")
        self.network = Architecture(checked)
        self.classes = checked.shapes[parsed.outputs[0]].dims[0]
        self.input_dims = parsed.inputs[0].dims
        self.lr, self.weight_decay = lr, weight_decay

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def train_step(self, batch: tuple[torch.Tensor, ...], ctx: StepContext) -> dict[str, torch.Tensor]:
        x, y = batch
        loss = F.cross_entropy(self(x).float(), y)
        ctx.optimize("model", loss)
        return {"loss": loss.detach()}

    def sample(self, n: int, **_: Any) -> torch.Tensor:
        raise UserError("a classifier does not sample")

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
        self.eval()
        correct = 0
        for i in range(0, len(x), batch_size):
            logits = self(x[i:i + batch_size].to(self.device))
            correct += int((logits.argmax(1).cpu() == y[i:i + batch_size]).sum())
        return correct / max(1, len(x))


@register_artifact("trained-network", plugin="architectures")
class TrainedNetwork(Artifact):
    """A described network trained as a classifier, and the data it trained on (``data``, ``test``,
    ``seed``: the splits): ``evaluate`` gives its accuracy, by default on the held-out splits."""

    state_key = "training"
    title = "trained network"

    def __init__(self, model: ArchitectureClassifier, data: str, test: str | None = None, seed: int = 0):
        self.model, self.data, self.test, self.seed = model, data, test, seed

    def state(self) -> dict[str, Any]:
        return {"data": self.data, "test": self.test, "seed": self.seed}

    @classmethod
    def restore(cls, folder, state, model, device) -> "TrainedNetwork":
        return cls(model, state["data"], state.get("test"), state.get("seed", 0))

    def write_samples(self, n: int, out, seed: int = 0):
        raise UserError("a trained network classifies images; it draws no samples "
                        "(`gensdk architectures sample` draws descriptions)")

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Validation and test accuracy on sklearn-digits' splits, or accuracy on an image folder
        (default: the data it trained on, i.e. its test folder)."""
        dims = tuple(self.model.input_dims)
        source = data or (self.test if self.data not in DIGITS else self.data)
        if source is None:
            raise UserError("this network trained on a folder without --test: pass --data IMAGE_FOLDER")
        parameters = sum(p.numel() for p in self.model.parameters())
        if source in DIGITS:
            valid, held = (load_images(source, dims, split, self.seed) for split in ("valid", "test"))
            return {"valid_accuracy": self.model.accuracy(valid.x, valid.y),
                    "test_accuracy": self.model.accuracy(held.x, held.y), "parameters": parameters}
        images = load_images(source, dims, "all", self.seed)
        return {"accuracy": self.model.accuracy(images.x, images.y), "images": len(images.y), "parameters": parameters}


@dataclass
class ImageData:
    x: torch.Tensor  # [N, C, H, W] in [0, 1]
    y: torch.Tensor
    classes: int


@functools.lru_cache(maxsize=8)  # a search trains many networks on the same images
def load_images(source: str, dims: tuple[int, ...], split: str, seed: int = 0) -> ImageData:
    """``sklearn-digits`` (its train/valid/test split) or an image folder (all of it), at ``dims``."""
    channels, height, width = dims
    if height != width:
        raise UserError(f"image inputs must be square for these data, got {height}x{width}")
    if source in DIGITS:
        from gensdk.core.data import digits

        data = digits(split=split, binarize=False, size=height, seed=seed)
        x, y, classes = data.x, data.y, data.num_classes
    else:
        from gensdk.core.images import load_image_folder

        images = load_image_folder(source, size=height)
        x, y, classes = images.images, images.labels, len(images.classes)
    if channels != x.shape[1]:
        x = x.expand(-1, channels, -1, -1).contiguous()
    return ImageData(x, y, classes)


def train_and_score(description: Description, data: str = "sklearn-digits", steps: int = 500, batch_size: int = 128,
                    lr: float = 1e-3, device: str = "auto", seed: int = 0, out_dir: str | None = None,
                    test: str | None = None) -> dict[str, Any]:
    """Train ``description`` for ``steps`` on ``data`` and return validation and test accuracy, seconds and
    parameters. For ``sklearn-digits`` the splits are its own; for a folder, ``test`` names the test folder
    and a tenth of the training folder (fixed by ``seed``) is held out for validation. With ``out_dir``
    the run's ``model/`` is the trained network (``TrainedNetwork``)."""
    from gensdk.core.trainer import TrainConfig, Trainer

    dims = tuple(description.inputs[0].dims) if description.inputs else ()
    if len(dims) != 3:
        raise UserError("real-training evaluation needs a description with one image input")
    if data in DIGITS:
        train, valid, held = (load_images(data, dims, s, seed) for s in ("train", "valid", "test"))
    else:
        if test is None:
            raise UserError("an image folder needs --test FOLDER for the test accuracy")
        full = load_images(data, dims, "all", seed)
        perm = torch.randperm(len(full.y), generator=torch.Generator().manual_seed(seed))
        cut = max(1, len(perm) // 10)
        valid = ImageData(full.x[perm[:cut]], full.y[perm[:cut]], full.classes)
        train = ImageData(full.x[perm[cut:]], full.y[perm[cut:]], full.classes)
        held = load_images(test, dims, "all", seed)
    torch.manual_seed(seed)
    model = ArchitectureClassifier(description=to_json(description), lr=lr)
    if model.classes < train.classes:
        raise UserError(f"the description scores {model.classes} classes, the data have {train.classes}")
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(train.y)), device=device, seed=seed,
                         lr_schedule="cosine", progress=False, checkpoint_every=max(1, steps // 4))
    started = time.perf_counter()
    trained = TrainedNetwork(model, data, test, seed)
    Trainer(model, (train.x, train.y), config, out_dir).fit(overwrite=True, save=trained.save if out_dir else None)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"valid_accuracy": model.accuracy(valid.x, valid.y), "test_accuracy": model.accuracy(held.x, held.y),
            "train_seconds": seconds, "steps": steps, "parameters": sum(p.numel() for p in model.parameters())}


def data_shape(data: str = "sklearn-digits", size: int = 8, test: str | None = None) -> tuple[tuple[int, int, int], int]:
    """The input dims (one channel, ``size`` square) and class count of training data, for a search space."""
    if data not in DIGITS and test is None:
        raise UserError("an image folder needs --test FOLDER for the test accuracy")
    dims = (1, size, size)
    return dims, load_images(data, dims, "train" if data in DIGITS else "all").classes


def training_evaluator(space, data: str = "sklearn-digits", steps: int = 200, batch_size: int = 128,
                       lr: float = 1e-3, device: str = "auto", seed: int = 0, test: str | None = None):
    """The real-training evaluator of a search: a genome's description trained for ``steps`` (the fixed
    budget), scored by validation accuracy (``valid_perf``; test accuracy as ``perf``)."""
    def evaluate(genome) -> dict[str, float]:
        result = train_and_score(space.describe(genome), data=data, steps=steps, batch_size=batch_size, lr=lr,
                                 device=device, seed=seed, test=test)
        return {"valid_perf": result["valid_accuracy"], "perf": result["test_accuracy"],
                "seconds": result["train_seconds"], "parameters": result["parameters"]}
    return evaluate
