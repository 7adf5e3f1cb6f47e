"""Does augmentation help a character classifier? The low-data protocol of ``gensdk characters evaluate``.

For each images-per-class budget and seed: draw that many real training images per class, then train
the fixed CNN (``classifier.py``) on (a) the real subset, (b) + classic augmentation, (c) + each
generator's samples, (d) + both, and measure accuracy on the test set (fonts never seen in
training). The generators and the filtering classifier are trained on the same real subset only.
A further cell, ``classic+<method>+aug``, also passes the generated images through the classic pipeline.
Sample quality: Frechet distance and precision/recall of each generator's images against the real
training images, in the feature space of a reference CNN trained on all the real training images.
Results go to a JSON-lines file one finished cell at a time, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from gensdk.core.device import resolve_device
from gensdk.core.plot import image_grid

from .classic import ClassicAugmenter
from .classifier import ClassifierRecipe, quality, train_classifier
from .data import CharacterSet
from .generative import CharacterGenerator, generate_filtered, is_trained, load_generator, train_generator


def classic_copies(images: torch.Tensor, factor: int, seed: int, pipeline: str = "default") -> torch.Tensor:
    """``factor`` classic variants of every image, [factor * N, 1, S, S]."""
    augmenter = ClassicAugmenter(pipeline)
    return torch.cat([augmenter.augment_batch(images, seed * 1_000 + k) for k in range(factor)])


def generated_copies(generator: CharacterGenerator, images: torch.Tensor, labels: torch.Tensor, factor: int,
                     seed: int, filter_confidence: float | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``factor`` generated images per real image (of its class; DAGAN: a variant of it), filtered.
    Returns (images, labels, number of draws the filter rejected)."""
    labels_k, sources_k = labels.repeat(factor), images.repeat(factor, 1, 1, 1)
    seeds = list(range(seed * 10_000_000, seed * 10_000_000 + len(labels_k)))
    out, accepted, dropped = [], [], 0
    for i in range(0, len(labels_k), 2048):
        x, ok, d = generate_filtered(generator, labels_k[i:i + 2048], sources_k[i:i + 2048], seeds[i:i + 2048],
                                     filter_confidence)
        out.append(x[ok])
        accepted.append(labels_k[i:i + 2048][ok])
        dropped += sum(d)
    return torch.cat(out), torch.cat(accepted), dropped


def _done(results_file: Path) -> dict[tuple, dict[str, Any]]:
    done = {}
    if results_file.is_file():
        for line in results_file.read_text().splitlines():
            try:
                r = json.loads(line)
                done[(r["per_class"], r["seed"], r["condition"])] = r
            except (json.JSONDecodeError, KeyError):
                continue  # a line torn by a kill
    return done


def _append(results_file: Path, record: dict[str, Any]) -> None:
    with open(results_file, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def low_data_benchmark(train: CharacterSet, test: CharacterSet, out_dir: str | Path, *,
                       per_class: list[int] = (5, 20), seeds: list[int] = (0, 1, 2),
                       methods: list[str] = ("cgan", "cvae", "dagan"), factor: int = 10,
                       generator_steps: int | None = None, generator_options: dict[str, dict[str, Any]] | None = None,
                       classifier_recipe: ClassifierRecipe | None = None, filter_confidence: float | None = 0.9,
                       device: str = "auto", progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Run the protocol (module doc) into ``out_dir``: ``results.jsonl`` (one line per cell), grids,
    and returns the summary table (mean and std over seeds per budget and condition)."""
    if train.classes != test.classes:
        raise ValueError("train and test sets must have the same classes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    recipe = classifier_recipe or ClassifierRecipe()
    results_file = out_dir / "results.jsonl"
    done = _done(results_file)
    reference = None
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
                _append(results_file, record)
                done[(budget, seed, condition)] = record
                log(f"{budget}/class seed {seed} {condition:>14}: accuracy {record['test_accuracy']:.4f} "
                    f"({len(images)} training images)")

            cell("real", x, y)
            classic = classic_copies(x, factor, seed)
            classic_y = y.repeat(factor)
            cell("classic", torch.cat([x, classic]), torch.cat([y, classic_y]))
            for method in methods:
                if all((budget, seed, c) in done for c in (method, f"classic+{method}", f"classic+{method}+aug")):
                    continue
                opts = (generator_options or {}).get(method, {})
                folder = out_dir / "generators" / f"{method}-{budget}-{seed}"
                if is_trained(folder):  # trained before an interruption
                    generator = load_generator(folder, str(dev))
                else:
                    resume = (folder / "checkpoint.pt").is_file()
                    generator = train_generator(method, x, y, train.classes, folder, steps=generator_steps, seed=seed,
                                                device=str(dev), model_options=opts,
                                                classifier_recipe=replace(recipe, label_smoothing=0.0),
                                                resume=resume, overwrite=not resume, progress=progress)
                fake, fake_y, dropped = generated_copies(generator, x, y, factor, seed, filter_confidence)
                if reference is None:
                    reference = train_classifier(train.images, train.labels, train.classes, recipe, seed=1234,
                                                 device=dev)
                extra = {"generated": len(fake), "filter_dropped": dropped,
                         **quality(reference, train.images, fake, seed)}
                cell(method, torch.cat([x, fake]), torch.cat([y, fake_y]), **extra)
                cell(f"classic+{method}", torch.cat([x, classic, fake]), torch.cat([y, classic_y, fake_y]), **extra)
                # the generated images through the classic pipeline too, as a user of --method mix may do
                cell(f"classic+{method}+aug", torch.cat([x, classic, classic_copies(fake, 1, seed + 500)]),
                     torch.cat([y, classic_y, fake_y]), **extra)
                if seed == seeds[0]:
                    _grid(x, y, fake, fake_y, out_dir / f"grid-{method}-{budget}.png")
    table = summarize(list(done.values()))
    (out_dir / "summary.json").write_text(json.dumps({"table": table, "recipe": asdict(recipe), "factor": factor,
                                                      "filter_confidence": filter_confidence}, indent=2))
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
            if key in rs[0]:
                row[key] = statistics.mean(r[key] for r in rs)
        table.append(row)
    return table


def _order(condition: str) -> tuple[int, str]:
    return (0 if condition == "real" else 1 if condition == "classic" else 2 if "+" not in condition else 3, condition)


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| per class | training set | test accuracy (mean ± std) | seeds | FD | precision | recall | filtered |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table:
        q = lambda k, f="{:.3f}": f.format(r[k]) if k in r else ""  # noqa: E731
        lines.append(f"| {r['per_class']} | {r['condition']} | {100 * r['accuracy_mean']:.2f} ± "
                     f"{100 * r['accuracy_std']:.2f} | {r['seeds']} | {q('fd', '{:.2f}')} | {q('precision')} | "
                     f"{q('recall')} | {q('filter_dropped', '{:.0f}')} |")
    return "\n".join(lines)
