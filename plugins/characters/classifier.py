"""The fixed small CNN that judges character sets: it measures how much an augmented training set
helps (test accuracy on unseen fonts), filters generated images that a classifier of the real data
puts in the wrong class with high confidence, and gives the feature space for Frechet distance and
precision/recall. One recipe (architecture, steps, optimizer) for every comparison, so that only the
training data differs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from gensdk.core import metrics
from gensdk.core.io import atomic_write
from gensdk.errors import UserError


class CharCNN(nn.Module):
    """Three conv stages (32, 64, 128 channels) with batch norm, a 256-wide feature layer, dropout."""

    def __init__(self, num_classes: int, channels: int = 1, width: int = 32, dropout: float = 0.3):
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(
            *block(channels, width), *block(width, width), nn.MaxPool2d(2),
            *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(4 * width * 16, 256), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(256, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class ClassifierRecipe:
    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    width: int = 32


@dataclass
class Classifier:
    net: CharCNN
    classes: list[str]
    recipe: ClassifierRecipe

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, class probabilities) of images in [0, 1], [N, 1, S, S]."""
        self.net.eval()
        feats, probs = [], []
        for i in range(0, len(images), batch):
            h = self.net.features(images[i:i + batch].to(self.device).float())
            feats.append(h.cpu())
            probs.append(self.net.head(h).softmax(1).cpu())
        return torch.cat(feats), torch.cat(probs)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        _, probs = self.predict(images)
        return float((probs.argmax(1) == labels.cpu()).float().mean())

    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous().cpu() for k, v in self.net.state_dict().items()}
        atomic_write(folder / "classifier.safetensors", lambda path: save_file(state, str(path)))
        meta = {"classes": self.classes, "recipe": asdict(self.recipe)}
        atomic_write(folder / "classifier.json", lambda path: Path(path).write_text(json.dumps(meta, indent=2)))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> "Classifier":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "classifier.json").read_text())
            recipe = ClassifierRecipe(**meta["recipe"])
            net = CharCNN(len(meta["classes"]), width=recipe.width)
            net.load_state_dict(load_file(str(folder / "classifier.safetensors")))
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as err:
            raise UserError(f"{folder}: not a saved classifier ({type(err).__name__}: {err})") from None
        return cls(net.to(device).eval(), list(meta["classes"]), recipe)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, classes: list[str],
                     recipe: ClassifierRecipe | None = None, seed: int = 0,
                     device: str | torch.device = "cpu") -> Classifier:
    """Fit the CNN on images in [0, 1] ([N, 1, S, S], ink bright) with a fixed number of steps."""
    recipe = recipe or ClassifierRecipe()
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = CharCNN(len(classes), channels=images.shape[1], width=recipe.width).to(device)
        x, y = images.to(device).float(), labels.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps)
        gen = torch.Generator(device=device).manual_seed(seed)
        net.train()
        with torch.enable_grad():
            for _ in range(recipe.steps):
                idx = torch.randint(len(x), (min(recipe.batch_size, len(x)),), generator=gen, device=device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss = F.cross_entropy(net(x[idx]), y[idx], label_smoothing=recipe.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return Classifier(net.eval(), list(classes), recipe)


@dataclass(frozen=True)
class SampleFilter:
    """Which generated images to redraw, judged by a classifier of the real images:
    ``confidence``: it puts the image in another class with at least this probability (a clear mistake);
    ``min_prob``: it gives the intended class less than this probability (it is unsure: off-class or
    simply unlike the real images; the stricter rule, and the one that can also drop new styles).
    None switches a rule off."""

    confidence: float | None = 0.9
    min_prob: float | None = None

    def __post_init__(self) -> None:
        for name in ("confidence", "min_prob"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise UserError(f"filter {name} must be in (0, 1], got {value}")

    def rejects(self, classifier: Classifier, images: torch.Tensor, intended: torch.Tensor) -> torch.Tensor:
        _, probs = classifier.predict(images)
        intended = intended.cpu()
        top, predicted = probs.max(1)
        drop = torch.zeros(len(images), dtype=torch.bool)
        if self.confidence is not None:
            drop |= (predicted != intended) & (top >= self.confidence)
        if self.min_prob is not None:
            drop |= probs.gather(1, intended.view(-1, 1)).squeeze(1) < self.min_prob
        return drop

    def describe(self) -> str:
        """The rule as ``parse`` reads it: ``wrong:0.9``, ``unsure:0.5``, both joined by ``+``."""
        return "+".join(([f"wrong:{self.confidence}"] if self.confidence is not None else [])
                        + ([f"unsure:{self.min_prob}"] if self.min_prob is not None else []))

    @classmethod
    def parse(cls, spec: str) -> "SampleFilter | None":
        """``off`` (None), ``wrong:C``, ``unsure:P`` or ``wrong:C+unsure:P``."""
        if spec == "off":
            return None
        values: dict[str, float] = {}
        for part in spec.split("+"):
            name, _, value = part.partition(":")
            key = {"wrong": "confidence", "unsure": "min_prob"}.get(name.strip())
            try:
                number = float(value)
            except ValueError:
                key = None
            if key is None or key in values:
                raise UserError(f"filter {spec!r}: expected off, wrong:C, unsure:P or wrong:C+unsure:P")
            values[key] = number
        return cls(confidence=values.get("confidence"), min_prob=values.get("min_prob"))


def quality(reference: Classifier, real: torch.Tensor, fake: torch.Tensor, seed: int) -> dict[str, float]:
    """Frechet distance and precision/recall (k = 3) in the reference CNN's feature space; None for
    each when there are too few images (a filter that rejected nearly every draw)."""
    n = min(len(real), len(fake), 5000)
    if n <= 3:
        return {"fd": None, "precision": None, "recall": None}
    gen = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(len(real), generator=gen)[:n]]
    fake = fake[torch.randperm(len(fake), generator=gen)[:n]]
    real_feats, _ = reference.predict(real)
    fake_feats, _ = reference.predict(fake)
    pr = metrics.precision_recall(real_feats, fake_feats, k=3)
    return {"fd": metrics.frechet_distance(real_feats, fake_feats), "precision": pr["precision"],
            "recall": pr["recall"]}
