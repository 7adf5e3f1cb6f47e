"""Throughput of ``gensdk augment``: images written per second (PNG files, manifest, filter included)
for classic augmentation and for each generative method, on whatever device this runs on.

The input is an image folder of the rendered font characters (20 per class, 110 classes) written from
the .npz of ``characters_lowdata.py render``. Generators are trained briefly first (their quality does
not change the speed; the training time is not counted).
    python benchmarks/characters_augment_speed.py --data data/characters.npz --out benchmarks/results/characters_augment_speed_cpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import provenance, write_results  # noqa: E402


def write_folder(data: str, root: Path, per_class: int) -> int:
    z = np.load(data)
    classes = json.loads(str(z["meta"]))["classes"]
    x, y = z["train_x"], z["train_y"]
    n = 0
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(y == c)[:per_class]):
            Image.fromarray(x[index]).save(root / name / f"{i}.png")
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/characters.npz")
    parser.add_argument("--out", default="benchmarks/results/characters_augment_speed")
    parser.add_argument("--work", default="/tmp/gensdk-augment-speed")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["classic", "cgan", "cvae", "dagan"])
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-filter", dest="filter", action="store_false",
                        help="Skip sample filtering (for untrained generators, whose draws it would mostly reject)")
    parser.add_argument("--models", help="A folder of trained generators named <method>-*, e.g. a low-data run's "
                                         "generators/ (the 110 classes match); else each is trained briefly here")
    args = parser.parse_args()

    from gensdk_plugins.characters.augmentation import augment
    from gensdk.core.images import load_image_folder
    from gensdk_plugins.characters.generative import train_generator

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    inputs = write_folder(args.data, work / "input", args.per_class)
    rows, table = [], ["| method | images written | seconds | images/s |", "|---|---|---|---|"]
    for method in args.methods:
        model = None
        if method != "classic" and args.models:
            model = sorted(Path(args.models).glob(f"{method}-*"))[-1]
        elif method != "classic":
            chars = load_image_folder(work / "input")
            model = work / f"model-{method}"
            train_generator(method, chars.images, chars.labels, chars.classes, model, steps=args.train_steps,
                            device=args.device, progress=False)
        s = augment(work / "input", work / f"out-{method}", factor=args.factor, method=method, model_dir=model,
                    device=args.device, keep_originals=False, filter_samples=args.filter, progress=False)
        rows.append({"method": method, "model": str(model) if model else None, "filter": args.filter,
                     "written": s.written, "seconds": s.seconds,
                     "images_per_second": s.images_per_second, "filter_redraws": s.filter_dropped})
        table.append(f"| {method} | {s.written} | {s.seconds:.1f} | {s.images_per_second:.0f} |")
        print(table[-1], flush=True)
    record = {"title": "gensdk augment throughput (32x32 PNG in and out, factor "
                       f"{args.factor}, {inputs} input images)", **provenance(), "rows": rows, "args": vars(args)}
    write_results(args.out, record, table)


if __name__ == "__main__":
    main()
