"""Rate-distortion on the test photos (scikit-image's astronaut, coffee, chelsea, rocket; scikit-
learn's china, flower), in one run: the classical codecs and gensdk's shipped codec (every quality,
coded and decoded here on the CPU, with its encode/decode speed), BD-rate (PSNR and MS-SSIM, pchip) of
each against each, and plots. Optionally also points from a GPU run's JSON.

    python benchmarks/compression_rd.py [--threads 2] [--no-shipped] [--gensdk GPU_RUN.json]

Writes ``benchmarks/results/compression_rd.md`` and, under ``results/raw/``, its record and ``compression_rd_{psnr,ms_ssim}.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance, record_path, write_results  # noqa: E402
from gensdk_plugins.compression.classical import available_codecs, rd_points  # noqa: E402
from gensdk_plugins.compression.data import load_test_photos  # noqa: E402
from gensdk_plugins.compression.evaluate import codec_point, rd_curves  # noqa: E402
from gensdk_plugins.compression.metrics import bd_table  # noqa: E402
from gensdk_plugins.compression.plot import plot_rd  # noqa: E402
from gensdk_plugins.compression.training import shipped_codec  # noqa: E402

CLASSICAL = ("jpeg", "webp", "jpeg2000", "avif", "hevc")
ANCHOR = "jpeg"


def bd_rows(bd: dict, names: list[str]) -> list[str]:
    rows = ["| codec | " + " | ".join(f"vs {b}" for b in names) + " |", "|---" * (len(names) + 1) + "|"]
    for a in names:
        cells = ["" if a == b else ("n/a" if bd.get((b, a)) is None else f"{bd[(b, a)]:+.1f}%") for b in names]
        rows.append(f"| {a} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gensdk", type=Path, help="points of a GPU run's JSON to add")
    parser.add_argument("--no-shipped", action="store_true", help="leave out the shipped codec")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the shipped codec")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compression_rd")
    args = parser.parse_args()
    images = load_test_photos()
    torch.set_num_threads(args.threads)
    run = {**provenance(), "load_average_at_start": os.getloadavg()}  # the device line names the codec's threads
    points = []
    if not args.no_shipped:
        codec = shipped_codec("cpu")
        for quality in codec.qualities:
            point = codec_point(codec, images, quality=quality)
            points.append({**point, "codec": "gensdk-shipped"})
            print(f"shipped q{quality}: {point['bpp']:.3f} bpp {point['psnr']:.2f} dB, CPU encode "
                  f"{point['encode_mpix_s']:.2f} decode {point['decode_mpix_s']:.2f} MP/s", flush=True)
    torch.set_num_threads(1)  # MS-SSIM's small convolutions are slowest with threads fighting
    points += [p for name in CLASSICAL if name in available_codecs() for p in rd_points(name, images)]
    if args.gensdk:
        points += json.loads(args.gensdk.read_text())["points"]
    by_codec: dict[str, list] = {}
    for p in points:
        by_codec.setdefault(p["codec"], []).append(p)
    names = list(by_codec)
    bd = {metric: bd_table(rd_curves(points, metric)) for metric in ("psnr", "ms_ssim")}
    table = ["Mean over the 6 test photos of bits per pixel (from the encoded files' sizes), PSNR (RGB) and MS-SSIM "
             "of the decoded images. gensdk-shipped: the codec in plugins/compression/shipped/, coded and decoded "
             f"on this machine's CPU with {args.threads} torch threads (speed: wall time over the 6 photos after "
             "one warm-up; load average {:.1f} at the start, {:.1f} at the end: other work on the machine slows "
             "it).".format(run["load_average_at_start"][0], os.getloadavg()[0]), "",
             "| codec | quality | bpp | PSNR dB | MS-SSIM | encode MP/s | decode MP/s |", "|---|---|---|---|---|---|---|"]
    for name, pts in by_codec.items():
        for p in sorted(pts, key=lambda p: p["bpp"]):
            speed = (f"{p['encode_mpix_s']:.2f} | {p['decode_mpix_s']:.2f}" if "encode_mpix_s" in p else " | ")
            table.append(f"| {name} | {p['quality']} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} | {speed} |")
    for metric, label in (("psnr", "PSNR"), ("ms_ssim", "MS-SSIM")):
        table += ["", f"BD-rate ({label}, piecewise cubic): the row's rate change against the column's at equal "
                  f"{label} (negative: the row needs fewer bits; n/a: the curves do not overlap).", ""]
        table += bd_rows(bd[metric], names)
    record = {**run, "load_average_at_end": os.getloadavg(), "title": "Rate-distortion on the test photos",
              "torch_threads": args.threads,
              "points": points, **{f"bd_rate_{m}": {f"{b} vs {a}": v for (a, b), v in bd[m].items()} for m in bd}}
    write_results(args.out, record, table)
    for metric in ("psnr", "ms_ssim"):
        plot_rd(rd_curves(points, metric), record_path(args.out, f"_{metric}.png"), metric=metric)
    print("\n".join(table))


if __name__ == "__main__":
    main()
