"""Rate-distortion on the test photos (scikit-image's astronaut, coffee, chelsea, rocket; scikit-
learn's china, flower): the classical codecs measured here, gensdk's codecs from a GPU run's JSON
(``benchmarks/compression_gpu.py``), BD-rate (PSNR, pchip) of each against each, and plots.

    python benchmarks/compression_rd.py [--gensdk OUT/compression_gpu.json]

Writes ``benchmarks/results/compression_rd.md`` and, under ``results/raw/``, its record and ``compression_rd_{psnr,ms_ssim}.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance, record_path, write_results  # noqa: E402
from gensdk_plugins.compression.classical import available_codecs, rd_points  # noqa: E402
from gensdk_plugins.compression.data import load_test_photos  # noqa: E402
from gensdk_plugins.compression.evaluate import rd_curves  # noqa: E402
from gensdk_plugins.compression.metrics import bd_table  # noqa: E402
from gensdk_plugins.compression.plot import plot_rd  # noqa: E402

CLASSICAL = ("jpeg", "webp", "jpeg2000", "avif", "hevc")
ANCHOR = "jpeg"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gensdk", type=Path, help="compression_gpu.json of a GPU run")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compression_rd")
    args = parser.parse_args()
    torch.set_num_threads(1)  # MS-SSIM's small convolutions are slowest with threads fighting
    images = load_test_photos()
    points = [p for name in CLASSICAL if name in available_codecs() for p in rd_points(name, images)]
    if args.gensdk:
        points += json.loads(args.gensdk.read_text())["points"]
    by_codec: dict[str, list] = {}
    for p in points:
        by_codec.setdefault(p["codec"], []).append(p)
    bd = bd_table(rd_curves(points))
    names = list(by_codec)
    table = ["Mean over the 6 test photos of bits per pixel (from the encoded files' sizes), PSNR (RGB) and MS-SSIM "
             "of the decoded images.", "", "| codec | quality | bpp | PSNR dB | MS-SSIM |", "|---|---|---|---|---|"]
    for name, pts in by_codec.items():
        for p in sorted(pts, key=lambda p: p["bpp"]):
            table.append(f"| {name} | {p['quality']} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} |")
    table += ["", "BD-rate (PSNR, piecewise cubic): the row's rate change against the column's at equal PSNR "
              "(negative: the row needs fewer bits; n/a: the curves do not overlap).", "",
              "| codec | " + " | ".join(f"vs {b}" for b in names) + " |", "|---" * (len(names) + 1) + "|"]
    for a in names:
        cells = ["" if a == b else ("n/a" if bd.get((b, a)) is None else f"{bd[(b, a)]:+.1f}%") for b in names]
        table.append(f"| {a} | " + " | ".join(cells) + " |")
    record = {**provenance(), "title": "Rate-distortion on the test photos", "points": points,
              "bd_rate_psnr": {f"{b} vs {a}": v for (a, b), v in bd.items()}}
    write_results(args.out, record, table)
    for metric in ("psnr", "ms_ssim"):
        plot_rd(rd_curves(points, metric), record_path(args.out, f"_{metric}.png"), metric=metric)
    print("\n".join(table))


if __name__ == "__main__":
    main()
