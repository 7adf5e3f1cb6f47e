"""Choosing how generated images are mixed in, on a validation split of the training fonts.

The test fonts must never steer a choice, so tuning sees the training set alone: ``tune_mixing`` has
no parameter through which a test set could reach it. ``validation_split`` holds out whole font
families of the training set (as the test split holds out families), a low-data subset is drawn
from the remaining fonts with a seed of its own, and every ``Mix`` of a small grid (images per real
image, redraw filter, guidance scale) is scored by the accuracy of the fixed classifier on the
held-out families. The best one per method and budget goes to ``tuned.json``, next to the accuracy
of classic augmentation alone on the same validation set.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from gensdk.core.device import resolve_device
from gensdk.core.io import write_json
from gensdk.errors import UserError

from .classifier import ClassifierRecipe, SampleFilter, train_classifier
from .data import CharacterSet
from .evaluate import (PRETRAINED, Mix, append_record, classic_copies, draw, mixed_set, read_records,
                       row_generator, with_guidance)
from .generative import DIFFUSION_METHODS

TUNED = "tuned.json"


def validation_split(train: CharacterSet, families: Sequence[str], fraction: float = 0.25, seed: int = 0
                     ) -> tuple[CharacterSet, CharacterSet]:
    """(fit, validation) of the training set: whole families (``families[i]``: the font family of
    image i) held out until about ``fraction`` of the images, at least one family on each side."""
    if len(families) != len(train):
        raise ValueError(f"one family per image is needed: {len(families)} for {len(train)} images")
    if not 0 < fraction < 1:
        raise UserError(f"the validation fraction must be between 0 and 1, got {fraction}")
    names = sorted(set(families))
    if len(names) < 2:
        raise UserError(f"a validation split by font family needs at least 2 families, got {len(names)}")
    random.Random(seed).shuffle(names)
    size = {name: 0 for name in names}
    for f in families:
        size[f] += 1
    held: set[str] = set()
    for name in names[:-1]:
        if held and sum(size[n] for n in held) + size[name] / 2 > fraction * len(train):
            break
        held.add(name)
    is_val = torch.tensor([f in held for f in families])
    fit, val = train.select(torch.nonzero(~is_val).squeeze(1)), train.select(torch.nonzero(is_val).squeeze(1))
    val.meta["families"] = sorted(held)
    return fit, val


@dataclass
class Grid:
    """The mixes tried: every ratio x filter x guidance (guidance for diffusion methods only)."""

    ratios: list[int] = field(default_factory=lambda: [1, 3])
    filters: list[str] = field(default_factory=lambda: ["wrong:0.9", "unsure:0.5"])
    guidance: list[float] = field(default_factory=lambda: [1.5, 3.0])

    def __post_init__(self) -> None:
        if not self.ratios or min(self.ratios) < 1 or not self.filters or not self.guidance:
            raise UserError("the tuning grid needs ratios >= 1, at least one filter and one guidance scale")
        for spec in self.filters:
            SampleFilter.parse(spec)  # a bad spelling fails here, before any training


def tune_mixing(train: CharacterSet, families: Sequence[str], out_dir: str | Path, *, methods: Sequence[str],
                per_class: Sequence[int], grid: Grid | None = None, factor: int = 10, seed: int = 100,
                validation_fraction: float = 0.25, generator_steps: int | None = None,
                pretrain_steps: int | None = None, pretrained_dir: str | Path | None = None,
                generator_options: dict[str, dict[str, Any]] | None = None,
                classifier_recipe: ClassifierRecipe | None = None, device: str = "auto", progress: bool = True,
                log: Any = print) -> dict[str, dict[int, dict[str, Any]]]:
    """Score every mix of ``grid`` on the validation split (module doc) into ``out_dir``
    (``results.jsonl``, one line per cell, so a killed run resumes) and write ``tuned.json``: per
    method and budget the best mix, its validation accuracy and that of classic alone. A ``-pre``
    method's generator is trained on every image of the fit fonts (in ``pretrained_dir``, default
    ``out_dir/pretrained``)."""
    grid = grid or Grid()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    recipe = classifier_recipe or ClassifierRecipe()
    fit, val = validation_split(train, families, validation_fraction, seed)
    log(f"validation split: {len(fit)} images to fit, {len(val)} held-out images of "
        f"{len(val.meta['families'])} families")
    results_file = out_dir / "results.jsonl"
    done = {(r["per_class"], r["condition"]): r for r in read_records(results_file) if "val_accuracy" in r}

    def cell(budget: int, condition: str, images: torch.Tensor, labels: torch.Tensor, **extra: Any) -> float:
        if (budget, condition) not in done:
            clf = train_classifier(images, labels, train.classes, recipe, seed=seed, device=dev)
            record = {"per_class": budget, "condition": condition, "val_accuracy": clf.accuracy(val.images, val.labels),
                      "train_images": len(images), **extra}
            append_record(results_file, record)
            done[(budget, condition)] = record
            log(f"tuning {budget}/class {condition}: validation accuracy {record['val_accuracy']:.4f}")
        return done[(budget, condition)]["val_accuracy"]

    tuned: dict[str, dict[int, dict[str, Any]]] = {}
    for budget in per_class:
        subset = fit.subset(budget, seed)
        x, y = subset.images, subset.labels
        classic = classic_copies(x, factor, seed)
        classic_y = y.repeat(factor)
        baseline = cell(budget, "classic", torch.cat([x, classic]), torch.cat([y, classic_y]))
        for method in methods:
            scales = grid.guidance if method.removesuffix(PRETRAINED) in DIFFUSION_METHODS else [None]
            cells = {(g, spec): [Mix(r, SampleFilter.parse(spec), g) for r in sorted(grid.ratios)]
                     for g, spec in itertools.product(scales, grid.filters)}
            name = lambda mix: f"classic+{method} {json.dumps(mix.to_dict(), sort_keys=True)}"  # noqa: E731
            if all((budget, name(m)) in done for mixes in cells.values() for m in mixes):
                generator = None  # every cell done before an interruption: no need to train it again
            else:
                generator = row_generator(method, subset, fit, out_dir / "generators" / f"{method}-{budget}",
                                          Path(pretrained_dir or out_dir / "pretrained"), steps=generator_steps,
                                          pretrain_steps=pretrain_steps, seed=seed, device=dev,
                                          options=generator_options or {}, recipe=recipe, progress=progress)
            scores = []
            for (guidance, spec), mixes in cells.items():
                if any((budget, name(m)) not in done for m in mixes):  # one draw serves every ratio: its first r * N
                    fake, fake_y, ok, _ = draw(with_guidance(generator, mixes[0]), x, y, mixes[-1].ratio, seed,
                                               mixes[0].filter)
                for mix in mixes:
                    if (budget, name(mix)) not in done:
                        first = torch.zeros_like(ok)
                        first[:mix.ratio * len(x)] = True
                        keep = ok & first
                        cell(budget, name(mix), *mixed_set(x, y, classic, classic_y, fake[keep], fake_y[keep], mix,
                                                           seed), method=method, mix=mix.to_dict())
                    scores.append((done[(budget, name(mix))]["val_accuracy"], mix))
            accuracy, best = max(scores, key=lambda s: s[0])
            tuned.setdefault(method, {})[budget] = {"mix": best.to_dict(), "val_accuracy": accuracy,
                                                    "classic_val_accuracy": baseline}
            log(f"tuned {method} at {budget}/class: {best.to_dict()} "
                f"(validation {accuracy:.4f}, classic {baseline:.4f})")
    record = {"tuned": tuned, "seed": seed, "validation_fraction": validation_fraction, "fit_images": len(fit),
              "validation_images": len(val), "grid": {"ratios": grid.ratios, "filters": grid.filters,
                                                      "guidance": grid.guidance}}
    write_json(out_dir / TUNED, record)
    return tuned


def read_tuned(path: str | Path) -> dict[str, dict[int, Mix]]:
    """The mixes of a ``tuned.json``: {method: {budget: Mix}}."""
    try:
        tuned = json.loads(Path(path).read_text())["tuned"]
        return {m: {int(b): Mix.from_dict(v["mix"]) for b, v in per.items()} for m, per in tuned.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: not a tuned.json of tune_mixing ({type(err).__name__}: {err})") from None
