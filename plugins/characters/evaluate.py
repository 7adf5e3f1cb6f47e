"""Does augmentation help a character classifier? The low-data protocol of ``gensdk characters evaluate``.

For each images-per-class budget and seed: draw that many real training images per class, then train
the fixed CNN (``classifier.py``) on (a) the real subset, (b) + classic augmentation, (c) + each
generator's samples, (d) + both, and measure accuracy on the test set (fonts never seen in
training). The generators and the filtering classifier are trained on the same real subset only.
How generated images join (d) is a ``Mix``: how many per real image, the redraw filter, the guidance
scale of a diffusion method, and whether they also pass through the classic pipeline; ``tuning.py``
chooses it on a validation split of the training fonts, never on the test set.
A method named ``<method>-pre`` (e.g. ``style-pre``) is its own row: a generator trained once on
*every* training image (all training fonts, none of the test fonts), standing for a generator shipped
pretrained, then used with each small subset (the style method takes the subset's images as references).
Sample quality: Frechet distance and precision/recall of each generator's images against the real
training images, in the feature space of a reference CNN trained on all the real training images.
Results go to a JSON-lines file one finished cell at a time, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from gensdk.core.device import resolve_device
from gensdk.core.io import write_json
from gensdk.core.plot import image_grid

from .classic import ClassicAugmenter
from .classifier import Classifier, ClassifierRecipe, SampleFilter, quality, train_classifier
from .data import CharacterSet, style_groups
from .generative import (CharacterGenerator, DIFFUSION_METHODS, generate_filtered, is_trained, load_generator,
                         train_generator)


@dataclass(frozen=True)
class Mix:
    """How generated images join a training set: ``ratio`` per real image, redrawn when ``filter``
    rejects them (None: kept as drawn), drawn with ``guidance`` (diffusion methods; None: the
    generator's own), and passed through the classic pipeline too when ``classic`` is set."""

    ratio: int = 10
    filter: SampleFilter | None = SampleFilter()
    guidance: float | None = None
    classic: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "filter": self.filter.describe() if self.filter else "off",
                "guidance": self.guidance, "classic": self.classic}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Mix":
        return cls(int(d["ratio"]), SampleFilter.parse(d["filter"]), d.get("guidance"), bool(d["classic"]))


def classic_copies(images: torch.Tensor, factor: int, seed: int, pipeline: str = "default") -> torch.Tensor:
    """``factor`` classic variants of every image, [factor * N, 1, S, S]."""
    augmenter = ClassicAugmenter(pipeline)
    return torch.cat([augmenter.augment_batch(images, seed * 1_000 + k) for k in range(factor)])


def draw(generator: CharacterGenerator, images: torch.Tensor, labels: torch.Tensor, ratio: int, seed: int,
         rule: SampleFilter | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``ratio`` generated images per real image, copy k of every image before copy k + 1, so the first
    r * N draws are those of ratio r. Each is of its real image's class; DAGAN varies that image,
    style takes the look of a random real image. Returns (images, labels, accepted mask, number of
    draws the filter rejected); rejected draws are redrawn up to 10 times, then left out."""
    labels_k, sources_k = labels.repeat(ratio), images.repeat(ratio, 1, 1, 1)
    if generator.method == "style":
        gen = torch.Generator().manual_seed(seed)
        sources_k = images[torch.randint(len(images), (len(labels_k),), generator=gen)]
    seeds = list(range(seed * 10_000_000, seed * 10_000_000 + len(labels_k)))
    out, accepted, dropped = [], [], 0
    for i in range(0, len(labels_k), 2048):
        x, ok, d = generate_filtered(generator, labels_k[i:i + 2048], sources_k[i:i + 2048], seeds[i:i + 2048], rule)
        out.append(x)
        accepted.append(ok)
        dropped += sum(d)
    empty = torch.zeros(0, *images.shape[1:])
    return torch.cat(out) if out else empty, labels_k, torch.cat(accepted) if accepted else labels_k.bool(), dropped


def generated_copies(generator: CharacterGenerator, images: torch.Tensor, labels: torch.Tensor, ratio: int,
                     seed: int, rule: SampleFilter | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``draw``'s accepted images: (images, labels, number of draws the filter rejected)."""
    x, y, ok, dropped = draw(generator, images, labels, ratio, seed, rule)
    return x[ok], y[ok], dropped


def mixed_set(x: torch.Tensor, y: torch.Tensor, classic: torch.Tensor, classic_y: torch.Tensor,
              fake: torch.Tensor, fake_y: torch.Tensor, mix: Mix, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real + classic + generated (through the classic pipeline too when the mix says so)."""
    fake = classic_copies(fake, 1, seed + 500) if mix.classic and len(fake) else fake
    return torch.cat([x, classic, fake]), torch.cat([y, classic_y, fake_y])


PRETRAINED = "-pre"  # a method's row whose generator is trained on every training image, not the subset


def trained_generator(method: str, data: CharacterSet, folder: Path, *, steps: int | None, seed: int, device: Any,
                      options: dict[str, Any], recipe: ClassifierRecipe, progress: bool) -> CharacterGenerator:
    """The generator of ``data`` (a small subset, or a whole pool for a ``-pre`` row): loaded if trained
    before an interruption, resumed from its checkpoint, or trained (with the filtering classifier,
    no label smoothing)."""
    if is_trained(folder):
        return load_generator(folder, str(device))
    resume = (folder / "checkpoint.pt").is_file()
    return train_generator(method.removesuffix(PRETRAINED), data.images, data.labels, data.classes, folder,
                           steps=steps, seed=seed, device=str(device), model_options=options,
                           classifier_recipe=replace(recipe, label_smoothing=0.0), resume=resume,
                           overwrite=not resume, progress=progress, groups=style_groups(data))


def row_generator(method: str, subset: CharacterSet, pool: CharacterSet, folder: Path, pretrained_dir: Path, *,
                  steps: int | None, pretrain_steps: int | None, seed: int, device: Any,
                  options: dict[str, dict[str, Any]], recipe: ClassifierRecipe, progress: bool) -> CharacterGenerator:
    """A row's generator: for ``<method>-pre`` the one trained on the whole ``pool`` (kept in
    ``pretrained_dir``, shared by every budget and seed), else the one of this ``subset``."""
    base = method.removesuffix(PRETRAINED)
    if method.endswith(PRETRAINED):
        return trained_generator(method, pool, pretrained_dir / method, steps=pretrain_steps, seed=0, device=device,
                                 options=options.get(base, {}), recipe=recipe, progress=progress)
    return trained_generator(method, subset, folder, steps=steps, seed=seed, device=device,
                             options=options.get(base, {}), recipe=recipe, progress=progress)


def with_guidance(generator: CharacterGenerator, mix: Mix) -> CharacterGenerator:
    if mix.guidance is None or generator.method not in DIFFUSION_METHODS:
        return generator
    return generator.with_sampling(guidance=mix.guidance)


def read_records(results_file: Path) -> list[dict[str, Any]]:
    """The finished cells of a results file (a line torn by a kill is skipped)."""
    records = []
    for line in results_file.read_text().splitlines() if results_file.is_file() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_record(results_file: Path, record: dict[str, Any]) -> None:
    """One finished cell, flushed to disk before the next begins."""
    with open(results_file, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def low_data_benchmark(train: CharacterSet, test: CharacterSet, out_dir: str | Path, *,
                       per_class: list[int] = (5, 20), seeds: list[int] = (0, 1, 2),
                       methods: list[str] = ("cgan", "cvae", "dagan"), factor: int = 10,
                       generator_steps: int | None = None, generator_options: dict[str, dict[str, Any]] | None = None,
                       classifier_recipe: ClassifierRecipe | None = None,
                       mixes: dict[str, dict[int, Mix]] | None = None, pretrained_dir: str | Path | None = None,
                       pretrain_steps: int | None = None, pool: CharacterSet | None = None, device: str = "auto",
                       progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Run the protocol (module doc) into ``out_dir``: ``results.jsonl`` (one line per cell), grids,
    and returns the summary table (mean and std over seeds per budget and condition). ``mixes``:
    the Mix of each method and budget (as tuned on validation); default ``Mix(ratio=factor)``.
    ``pretrained_dir``: where ``-pre`` rows keep their generator (default ``out_dir/pretrained``), trained on
    ``pool`` (default: all of ``train``; never test images)."""
    if train.classes != test.classes:
        raise ValueError("train and test sets must have the same classes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    recipe = classifier_recipe or ClassifierRecipe()
    results_file = out_dir / "results.jsonl"
    done = {(r["per_class"], r["seed"], r["condition"]): r for r in read_records(results_file)
            if {"per_class", "seed", "condition"} <= set(r)}
    reference: Classifier | None = None
    for budget in per_class:
        for seed in seeds:
            subset = train.subset(budget, seed)
            x, y = subset.images, subset.labels

            def cell(condition: str, images: torch.Tensor, labels: torch.Tensor, **extra: Any) -> None:
                if (budget, seed, condition) in done:
                    return
                clf = train_classifier(images, labels, train.classes, recipe, seed=seed, device=dev)
                record = {"per_class": budget, "seed": seed, "condition": condition, "train_images": len(images),
                          "test_accuracy": clf.accuracy(test.images, test.labels), **extra}
                append_record(results_file, record)
                done[(budget, seed, condition)] = record
                log(f"{budget}/class seed {seed} {condition:>14}: accuracy {record['test_accuracy']:.4f} "
                    f"({len(images)} training images)")

            conditions = ["real", "classic", *methods, *(f"classic+{m}" for m in methods)]
            if all((budget, seed, c) in done for c in conditions):
                continue  # finished before an interruption
            cell("real", x, y)
            classic = classic_copies(x, factor, seed)
            classic_y = y.repeat(factor)
            cell("classic", torch.cat([x, classic]), torch.cat([y, classic_y]))
            for method in methods:
                if all((budget, seed, c) in done for c in (method, f"classic+{method}")):
                    continue
                mix = (mixes or {}).get(method, {}).get(budget, Mix(ratio=factor))
                generator = row_generator(method, subset, train if pool is None else pool, out_dir / "generators" / f"{method}-{budget}-{seed}",
                                          Path(pretrained_dir or out_dir / "pretrained"), steps=generator_steps,
                                          pretrain_steps=pretrain_steps, seed=seed, device=dev,
                                          options=generator_options or {}, recipe=recipe, progress=progress)
                fake, fake_y, dropped = generated_copies(with_guidance(generator, mix), x, y, mix.ratio, seed,
                                                         mix.filter)
                if reference is None:
                    reference = train_classifier(train.images, train.labels, train.classes, recipe, seed=1234,
                                                 device=dev)
                extra = {"generated": len(fake), "filter_dropped": dropped, "mix": mix.to_dict(),
                         **quality(reference, train.images, fake, seed)}
                cell(method, torch.cat([x, fake]), torch.cat([y, fake_y]), **extra)
                cell(f"classic+{method}", *mixed_set(x, y, classic, classic_y, fake, fake_y, mix, seed), **extra)
                if seed == seeds[0]:
                    _grid(x, y, fake, fake_y, out_dir / f"grid-{method}-{budget}.png")
    table = summarize(list(done.values()))
    summary = {"table": table, "recipe": asdict(recipe), "factor": factor,
               "mixes": {m: {b: mix.to_dict() for b, mix in per.items()} for m, per in (mixes or {}).items()}}
    write_json(out_dir / "summary.json", summary)
    return table


def _grid(real: torch.Tensor, real_y: torch.Tensor, fake: torch.Tensor, fake_y: torch.Tensor, path: Path,
          classes: int = 12, per_row: int = 8) -> None:
    """Rows: the first ``classes`` classes; left half real images, right half generated ones."""
    rows = []
    for c in real_y.unique()[:classes]:
        r, f = real[real_y == c][:per_row // 2], fake[fake_y == c][:per_row // 2]
        pad = lambda t: torch.cat([t, torch.zeros(per_row // 2 - len(t), *real.shape[1:])])  # noqa: E731
        rows.append(torch.cat([pad(r), pad(f)]))
    image_grid(torch.cat(rows), columns=per_row, scale=2).save(path)


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        cells.setdefault((r["per_class"], r["condition"]), []).append(r)
    table = []
    for (budget, condition), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))):
        acc = [r["test_accuracy"] for r in rs]
        row = {"per_class": budget, "condition": condition, "seeds": len(rs), "accuracy_mean": statistics.mean(acc),
               "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0}
        for key in ("fd", "precision", "recall", "filter_dropped", "generated"):
            values = [r[key] for r in rs if r.get(key) is not None]
            if values:
                row[key] = statistics.mean(values)
        if "mix" in rs[0]:
            row["mix"] = rs[0]["mix"]
        table.append(row)
    return table


def _order(condition: str) -> tuple[int, str]:
    return (0 if condition == "real" else 1 if condition == "classic" else 2 if "+" not in condition else 3, condition)


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| per class | training set | test accuracy (mean ± std) | seeds | FD | precision | recall | generated "
             "| filtered | mix: per real, filter, guidance, classic on generated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        q = lambda k, f="{:.3f}": f.format(r[k]) if k in r else ""  # noqa: E731
        lines.append(f"| {r['per_class']} | {r['condition']} | {100 * r['accuracy_mean']:.2f} ± "
                     f"{100 * r['accuracy_std']:.2f} | {r['seeds']} | {q('fd', '{:.2f}')} | {q('precision')} | "
                     f"{q('recall')} | {q('generated', '{:.0f}')} | {q('filter_dropped', '{:.0f}')} | "
                     f"{mix_text(r['mix']) if 'mix' in r else ''} |")
    return "\n".join(lines)


def mix_text(mix: dict[str, Any]) -> str:
    """A Mix's dict as the table shows it: per real, filter, guidance, classic on generated."""
    guidance = mix["guidance"] if mix["guidance"] is not None else "-"
    return f"{mix['ratio']}, {mix['filter']}, {guidance}, {'yes' if mix['classic'] else 'no'}"
