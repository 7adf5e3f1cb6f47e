"""The characters issue's accuracy table: a fixed CNN trained on 5 and 20 real images per class, alone,
+ classic, + generative (cGAN, cVAE, DAGAN), + both; test accuracy on fonts never seen in training,
mean and std over seeds; FD / precision / recall of the generated images; grids of real vs generated.

Step 1, here (fonts are on this machine): render the font data set into one .npz to carry:
    python benchmarks/characters_lowdata.py render --out data/characters.npz
Step 2, on the GPU machine (seeds run as parallel processes; resumable cell by cell):
    python benchmarks/characters_lowdata.py run --data data/characters.npz --out $OUT/lowdata
Step 3: python benchmarks/characters_lowdata.py report --results RESULTS.jsonl --date ... --device ... --commit ...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import provenance, write_results  # noqa: E402


def render(args: argparse.Namespace) -> None:
    from gensdk_plugins.characters.data import render_set
    from gensdk_plugins.characters.fonts import chars_of, find_fonts, split_fonts, usable_fonts

    chars = chars_of(args.charset)
    fonts, _ = usable_fonts(find_fonts(), chars)
    train_fonts, test_fonts = split_fonts(fonts, args.test_fraction, seed=0)
    start = time.perf_counter()
    train = render_set(train_fonts, chars, per_font=args.per_font, size=32, lookalikes="merge", seed=0)
    test = render_set(test_fonts, chars, per_font=args.per_font, size=32, lookalikes="merge", seed=1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    to_u8 = lambda t: (t.squeeze(1).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    meta = {"classes": train.classes, "train_fonts": [f.name for f in train_fonts],
            "test_fonts": [f.name for f in test_fonts], "per_font": args.per_font, "charset": args.charset,
            "render_seconds": time.perf_counter() - start, **provenance()}
    np.savez_compressed(out, train_x=to_u8(train.images), train_y=train.labels.numpy(), test_x=to_u8(test.images),
                        test_y=test.labels.numpy(), meta=json.dumps(meta))
    print(f"{len(train)} train images ({len(train_fonts)} fonts), {len(test)} test images ({len(test_fonts)} fonts), "
          f"{len(train.classes)} classes -> {out}")


def load(path: str):
    from gensdk_plugins.characters.data import CharacterSet

    z = np.load(path)
    meta = json.loads(str(z["meta"]))
    sets = []
    for split in ("train", "test"):
        x = torch.from_numpy(z[f"{split}_x"]).float().div(255).unsqueeze(1)
        sets.append(CharacterSet(images=x, labels=torch.from_numpy(z[f"{split}_y"]).long(), classes=meta["classes"],
                                 sources=[split] * len(x), skipped=[], meta={}))
    return sets[0], sets[1], meta


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = [(s, b) for s in args.seed for b in args.per_class]
    if args.seeds_parallel and len(cells) > 1:  # one process per seed and budget: the GPU has room for all
        common = ["--data", args.data, "--out", args.out, "--methods", *args.methods, "--factor", str(args.factor),
                  "--steps", str(args.steps), "--width", str(args.width), "--classifier-steps",
                  str(args.classifier_steps), "--device", args.device, "--no-parallel",
                  *[x for o in args.option for x in ("--option", o)]]
        procs = [subprocess.Popen([sys.executable, __file__, "run", *common, "--seed", str(s), "--per-class", str(b)],
                                  stdout=open(out / f"seed{s}-pc{b}.log", "w"), stderr=subprocess.STDOUT)
                 for s, b in cells]
        codes = [p.wait() for p in procs]
        print("exit codes", codes)
        sys.exit(max(codes))
    from gensdk_plugins.characters.classifier import ClassifierRecipe
    from gensdk_plugins.characters.evaluate import low_data_benchmark

    train, test, meta = load(args.data)
    widths = {"cgan": {"width": args.width}, "dagan": {"width": args.width}, "cvae": {}}
    for option in args.option:  # METHOD:key=value
        method, _, assignment = option.partition(":")
        key, _, value = assignment.partition("=")
        widths[method][key] = yaml.safe_load(value)
    start = time.perf_counter()
    for s, b in cells:
        low_data_benchmark(train, test, out / f"seed{s}-pc{b}", per_class=[b], seeds=[s],
                           methods=args.methods, factor=args.factor, generator_steps=args.steps,
                           generator_options=widths, classifier_recipe=ClassifierRecipe(steps=args.classifier_steps),
                           device=args.device, progress=False)
    record = {"seconds": time.perf_counter() - start, "args": vars(args), **provenance()}
    name = "-".join(f"{s}.{b}" for s, b in cells)
    (out / f"seed{name}.run.json").write_text(json.dumps(record, indent=2))


def report(args: argparse.Namespace) -> None:
    """Summarize a run's results.jsonl (the cells of every seed and budget) into ``--out``.{md,json}.
    The run's date, device, command and commit are given here: its *.run.json files stay on the device."""
    from gensdk_plugins.characters.evaluate import markdown, summarize

    records = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    table = summarize(records)
    record = {"title": "Characters: low-data accuracy with classic and generative augmentation",
              "date": args.date, "device": args.device, "command": args.command, "commit": args.commit,
              "gpu_minutes": args.gpu_minutes, "table": table, "cells": records}
    write_results(args.out, record, [args.note, "", markdown(table)] if args.note else [markdown(table)])
    print(markdown(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out", default="data/characters.npz")
    r.add_argument("--charset", default="all")
    r.add_argument("--per-font", type=int, default=2)
    r.add_argument("--test-fraction", type=float, default=0.25)
    b = sub.add_parser("run")
    b.add_argument("--data", default="data/characters.npz")
    b.add_argument("--out", default="runs/characters-lowdata")
    b.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
    b.add_argument("--seed", type=int, action="extend", nargs="+", default=[])
    b.add_argument("--methods", nargs="+", default=["cgan", "cvae", "dagan"])
    b.add_argument("--factor", type=int, default=10)
    b.add_argument("--steps", type=int, default=4000)
    b.add_argument("--width", type=int, default=64)
    b.add_argument("--classifier-steps", type=int, default=2000)
    b.add_argument("--device", default="auto")
    b.add_argument("--no-parallel", dest="seeds_parallel", action="store_false")
    b.add_argument("--option", action="append", default=[], help="A generator option, METHOD:key=value.")
    p = sub.add_parser("report")
    p.add_argument("--results", required=True, help="The run's merged results.jsonl")
    p.add_argument("--out", default="benchmarks/results/characters_lowdata")
    for key in ("date", "device", "command", "commit", "gpu-minutes", "note"):
        p.add_argument(f"--{key}", default="")
    args = parser.parse_args()
    if args.verb == "run" and not args.seed:
        args.seed = [0, 1, 2]
    {"render": render, "run": run, "report": report}[args.verb](args)


if __name__ == "__main__":
    main()
