"""The character generator that ships with gensdk (``gensdk augment --pretrained``), made the way issue 24's
``style-pre`` row makes its generator: the style generator (``plugins/characters/style.py``) trained once on
renders of many fonts, then used with a user's few images as style references.

Its fonts must never include a font that a measurement tests on. ``pool`` (here, on the CPU) takes the
training fonts of the round-2 data file (``characters_lowdata.py render``: the benchmark's test families are
already out) and leaves out every design that the README's default data set tests on: the test split of
``gensdk characters render --charset digits`` over the README's font packages, and over this machine's fonts.
``train`` (on the GPU) trains on that pool and exports the generator in fp16 with its record (fonts, steps,
device, time, the guidance scale chosen by round 2's tuning on validation fonts) in its config.json.

    python benchmarks/characters_pretrained.py pool --data data/characters.npz    # -> the pool's record
    python benchmarks/characters_pretrained.py train --data data/characters.npz --tuned TUNED.json \\
        --out plugins/characters/pretrained
or, after ``characters_lowdata.py run`` (whose style-pre row trains the same generator on the same pool):
    python benchmarks/characters_pretrained.py export --run runs/lowdata2/pretrained/style-pre --tuned TUNED.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.characters_lowdata import PRETRAIN_STEPS, load  # noqa: E402
from benchmarks.common import RAW, provenance, write_results  # noqa: E402

# The README's apt-get line for its main job (the fonts `gensdk characters render` finds on a fresh machine)
README_FONT_PACKAGES = ("fonts-dejavu-core", "fonts-liberation", "fonts-urw-base35", "fonts-noto-core",
                        "fonts-freefont-ttf")
POOL = RAW / "characters_pretrained_pool.json"
METHOD = "style"


def test_designs(font_dir: str | None) -> list[str]:
    """The designs on the test side of ``gensdk characters render --charset digits`` (its defaults) over
    the fonts of ``font_dir`` (None: the system's)."""
    from gensdk_plugins.characters.fonts import chars_of, design_of, find_fonts, split_fonts, usable_fonts

    fonts, _ = usable_fonts(find_fonts(font_dir), chars_of("digits"))
    _, test = split_fonts(fonts)
    families = {f.family for f in fonts}
    return sorted({design_of(f.family, families) for f in test})


def package_fonts(packages: tuple[str, ...], folder: Path) -> Path:
    """Links to the font files of Debian ``packages`` in ``folder`` (they must be installed)."""
    listing = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True)
    if listing.returncode:
        raise SystemExit(f"dpkg -L failed (install the README's font packages first): {listing.stderr.strip()}")
    for i, path in enumerate(p for p in listing.stdout.splitlines() if p.endswith((".ttf", ".otf", ".ttc"))):
        (folder / f"{i:04d}-{Path(path).name}").symlink_to(path)
    return folder


def pool(args: argparse.Namespace) -> None:
    from gensdk.core.io import write_json

    meta = json.loads(str(np.load(args.data)["meta"]))
    with tempfile.TemporaryDirectory() as tmp:
        excluded = {"readme_packages": test_designs(str(package_fonts(README_FONT_PACKAGES, Path(tmp)))),
                    "this_machine": test_designs(None)}
    drop = set().union(*excluded.values())
    design = dict(zip(meta["train_fonts"], meta["train_font_designs"]))
    kept = [f for f in meta["train_fonts"] if design[f] not in drop]
    record = {"data": args.data, "data_commit": meta.get("commit"), "benchmark_test_fonts": meta["test_fonts"],
              "excluded_test_designs": excluded, "fonts": kept,
              "designs": sorted({design[f] for f in kept}), **provenance()}
    write_json(args.pool, record)
    print(f"{len(kept)} of {len(meta['train_fonts'])} training fonts kept; left out the test designs "
          f"{sorted(drop)}; record in {args.pool}")


def pool_images(args: argparse.Namespace):
    """The training images of the pool's fonts, and the pool's record."""
    from benchmarks.characters_lowdata import pretrain_pool

    train, _ = load(args.data, splits=("train",))
    return pretrain_pool(train, args.pool), json.loads(Path(args.pool).read_text())


def ship(generator, args: argparse.Namespace, pool_record: dict, images) -> None:
    """Export ``generator`` (trained on ``images``, the pool) to ``args.out`` with how it was made."""
    from gensdk_plugins.characters.generative import data_digest, export_generator
    from gensdk_plugins.characters.tuning import read_tuned

    if generator.info["data_digest"] != data_digest(images.images, images.labels, images.classes):
        raise SystemExit(f"{args.run}: trained on other images than the pool of {args.pool}")
    if args.tuned:
        generator = generator.with_sampling(guidance=read_tuned(args.tuned)[f"{METHOD}-pre"][args.tuned_per_class].guidance)
    training = {"pool": {k: pool_record[k] for k in ("fonts", "designs", "excluded_test_designs", "data",
                                                     "data_commit")},
                "images": generator.info["train_images"], "train": generator.info["train"],
                "run": str(args.run), "run_record": generator.record,
                "guidance": {"value": generator.sampling["guidance"],
                             "chosen_by": (f"{args.tuned}: {METHOD}-pre at {args.tuned_per_class} per class, on "
                                           "validation fonts") if args.tuned else "the method's default"},
                **provenance()}
    export_generator(generator, args.out, {"shipped": training})
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    print(f"exported {args.run} to {args.out} ({size / 1e6:.2f} MB)")
    if args.report:
        log = [json.loads(line) for line in (Path(args.run) / "log.jsonl").read_text().splitlines()]
        train = generator.info["train"]
        table = [f"The generator of `gensdk augment --pretrained`: `{METHOD}` (plugins/characters/style.py), exported "
                 f"to `{args.out}` in fp16 ({size / 1e6:.2f} MB with its filtering classifier).", "",
                 "| what | value |", "|---|---|",
                 f"| training images | {generator.info['train_images']:,} renders of {len(pool_record['fonts'])} fonts "
                 f"({len(pool_record['designs'])} designs), {len(generator.classes)} classes |",
                 f"| test designs left out | {', '.join(sorted(set().union(*pool_record['excluded_test_designs'].values())))} |",
                 f"| steps, batch | {train['steps']:,}, {train['batch_size']} (EMA {train.get('ema_decay')}) |",
                 f"| trained on | {train['device']}, {log[-1].get('examples_per_s')} examples/s at the last log |",
                 f"| guidance | {training['guidance']['value']} ({training['guidance']['chosen_by']}) |"]
        write_results(args.report, {"title": "The shipped character generator", **training, "size_mb": size / 1e6},
                      table)


def train(args: argparse.Namespace) -> None:
    """Train the generator on the pool (as characters_lowdata.py's -pre rows do), then export it."""
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.evaluate import trained_generator

    images, record = pool_images(args)
    print(f"training {METHOD} on {len(images)} images of {len(record['fonts'])} fonts, {args.steps} steps", flush=True)
    generator = trained_generator(f"{METHOD}-pre", images, Path(args.run), steps=args.steps, seed=0,
                                  device=args.device, options={},
                                  recipe=ClassifierRecipe(steps=args.classifier_steps), progress=False)
    ship(generator, args, record, images)


def export(args: argparse.Namespace) -> None:
    """Export a generator trained before: characters_lowdata.py's -pre row (the same pool and recipe)."""
    from gensdk_plugins.characters.generative import load_generator

    images, record = pool_images(args)
    ship(load_generator(args.run), args, record, images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name in ("pool", "train", "export"):
        v = verbs.add_parser(name)
        v.add_argument("--data", default="data/characters.npz")
        v.add_argument("--pool", default=str(POOL), help="The pool's record (pool writes it, the others read it).")
    for name in ("train", "export"):
        v = verbs.choices[name]
        v.add_argument("--out", default="plugins/characters/pretrained")
        v.add_argument("--run", default="runs/lowdata2/pretrained/style-pre" if name == "export"
                       else "runs/characters-pretrained", help="The generator's training run (resumable).")
        v.add_argument("--tuned", default="", help="Round 2's tuned.json: the guidance scale of its style-pre mix.")
        v.add_argument("--tuned-per-class", type=int, default=5)
        v.add_argument("--report", default="", help="Also write this report (e.g. benchmarks/results/"
                                                    "characters_pretrained) of how the generator was made.")
    t = verbs.choices["train"]
    t.add_argument("--steps", type=int, default=PRETRAIN_STEPS)
    t.add_argument("--classifier-steps", type=int, default=2000)
    t.add_argument("--device", default="auto")
    args = parser.parse_args()
    {"pool": pool, "train": train, "export": export}[args.verb](args)


if __name__ == "__main__":
    main()
