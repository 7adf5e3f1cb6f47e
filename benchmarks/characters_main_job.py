"""Does the README's main job help? The fixed CNN trained on its output against the same CNN trained on
classic augmentation alone (same factor, same seed) and on the real images alone, tested on the test
fonts of the built-in default data (data/chars/test). Mean and std over seeds.

    gensdk characters render data/chars --charset digits --per-font 2 --overwrite   # the README's data
    gensdk augment data/chars/train runs/chars-augmented ...                         # the README's main job
    python benchmarks/characters_main_job.py --augmented runs/chars-augmented --factor 4 \
        --out benchmarks/results/characters_main_job

The classic-only folder is made here with ``gensdk augment --method classic`` at the same factor and seed
(or given with --classic). The classifiers train on the GPU when there is one, else on the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import provenance, write_results  # noqa: E402


def generator_font_check(augmented: Path, test_dir: Path) -> dict | None:
    """When the main job drew with a shipped generator (whose config.json lists its training fonts), make
    sure that no test font is among them, or this check would test on fonts the generator has seen."""
    from gensdk.core.artifact import artifact_folder
    from gensdk.core.model import read_model_config

    model = json.loads((augmented / "summary.json").read_text()).get("model")
    fonts = read_model_config(artifact_folder(model)).get("shipped", {}).get("pool", {}).get("fonts") if model else None
    if fonts is None:
        return None  # no generator, or one trained on the training folder itself
    test_fonts = {p.stem.rsplit("-", 1)[0] for p in test_dir.rglob("*.png")}  # files <font stem>-<k>.png
    seen = sorted(test_fonts & {Path(f).stem for f in fonts})
    if seen:
        raise SystemExit(f"the generator of {augmented} was trained on test fonts of {test_dir}: {', '.join(seen[:5])}")
    return {"generator": model, "its_training_fonts": len(fonts), "test_fonts": len(test_fonts), "shared": 0}


def main() -> None:
    from gensdk.core.device import resolve_device
    from gensdk_plugins.characters.augmentation import augment
    from gensdk_plugins.characters.classifier import ClassifierRecipe, train_classifier
    from gensdk_plugins.characters.data import load_characters

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="data/chars/train")
    parser.add_argument("--test", default="data/chars/test")
    parser.add_argument("--augmented", required=True, help="The main job's output folder.")
    parser.add_argument("--classic", default="",
                        help="A classic-only output (default: made in runs/chars-classic-only).")
    parser.add_argument("--factor", type=int, default=4, help="The main job's --factor (for the classic-only run).")
    parser.add_argument("--seed", type=int, default=0, help="The main job's --seed (for the classic-only run).")
    parser.add_argument("--seeds", type=int, default=3, help="Classifier seeds.")
    parser.add_argument("--classifier-steps", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/characters-main-job")
    args = parser.parse_args()

    classic = Path(args.classic or "runs/chars-classic-only")
    if not args.classic and not (classic / "manifest.csv").is_file():
        augment(args.train, classic, factor=args.factor, method="classic", seed=args.seed, overwrite=classic.exists(),
                progress=False)
    font_check = generator_font_check(Path(args.augmented), Path(args.test))
    test = load_characters(args.test)
    sets = {"real": load_characters(args.train), "classic": load_characters(classic),
            "main job": load_characters(args.augmented)}
    if any(s.classes != test.classes for s in sets.values()):
        raise SystemExit("the training folders and the test folder have different classes")
    device = resolve_device(args.device)
    recipe = ClassifierRecipe(steps=args.classifier_steps)
    rows, cells = [], []
    for name, data in sets.items():
        accuracy = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            clf = train_classifier(data.images, data.labels, data.classes, recipe, seed=seed, device=device)
            accuracy.append(clf.accuracy(test.images, test.labels))
            cells.append({"training set": name, "seed": seed, "images": len(data), "test_accuracy": accuracy[-1],
                          "seconds": time.perf_counter() - start})
            print(cells[-1], flush=True)
        rows.append(f"| {name} | {len(data)} | {100 * statistics.mean(accuracy):.2f} ± "
                    f"{100 * (statistics.stdev(accuracy) if len(accuracy) > 1 else 0):.2f} | {len(accuracy)} |")
    table = ["| training set | images | test accuracy (mean ± std) | seeds |", "|---|---|---|---|", *rows]
    record = {"title": "Characters: the README's main job against classic augmentation alone", **provenance(),
              "train": args.train, "test": args.test, "augmented": args.augmented, "classic": str(classic),
              "test_images": len(test), "recipe": vars(recipe), "generator_font_check": font_check, "cells": cells}
    write_results(args.out, record, table)
    print("\n".join(table))


if __name__ == "__main__":
    main()
