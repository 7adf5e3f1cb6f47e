"""How fast the shipped codec codes on this machine's CPU: encode and decode megapixels/s in-process
(the 6 test photos, wall time after one warm-up) at qualities 1, 4 and 8, and the whole CLI commands
from a fresh process (`gensdk compress` / `gensdk decompress` of one photo), as a user sees them.

    python benchmarks/compression_cpu_speed.py [--threads 2]

Writes benchmarks/results/compression_cpu_speed.md and its record under results/raw/. Other work on the
machine slows it: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from common import provenance, write_results  # noqa: E402
from gensdk_plugins.compression.data import load_test_photos  # noqa: E402
from gensdk_plugins.compression.evaluate import codec_point  # noqa: E402
from gensdk_plugins.compression.training import shipped_codec  # noqa: E402

QUALITIES = (1, 4, 8)


def cli_seconds(args: list[str], threads: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gensdk", *args], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compression_cpu_speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = {**provenance(), "title": "The shipped codec's speed on the CPU", "threads": args.threads,
           "load_average_before": os.getloadavg()}
    images = load_test_photos()
    codec = shipped_codec("cpu")
    rows = []
    for quality in QUALITIES:
        point = codec_point(codec, images, quality=quality)
        rows.append({k: point[k] for k in ("quality", "bpp", "psnr", "encode_mpix_s", "decode_mpix_s")})
        print(rows[-1], flush=True)
    photo = images["astronaut"]
    with tempfile.TemporaryDirectory() as folder:
        png, packed, back = (Path(folder) / name for name in ("photo.png", "photo.gsdk", "back.png"))
        Image.fromarray(photo).save(png)
        cli = {"compress": cli_seconds(["compress", str(png), str(packed), "--device", "cpu"], args.threads),
               "decompress": cli_seconds(["decompress", str(packed), str(back), "--device", "cpu"], args.threads),
               "help": cli_seconds(["--help"], args.threads)}
        assert np.array_equal(np.asarray(Image.open(back)).shape, photo.shape)
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    record = {**run, "load_average_after": os.getloadavg(), "rows": rows, "cli_seconds": cli,
              "cli_photo": f"astronaut, {photo.shape[1]}x{photo.shape[0]}, quality 4 (the default)"}
    table = [f"torch threads: {args.threads}; load average {run['load_average_before'][0]:.2f} before, "
             f"{record['load_average_after'][0]:.2f} after.", "",
             "In-process, the 6 test photos (wall time after one warm-up):", "",
             "| quality | bpp | PSNR dB | encode MP/s | decode MP/s |", "|---|---|---|---|---|"]
    table += [f"| {r['quality']} | {r['bpp']:.3f} | {r['psnr']:.2f} | {r['encode_mpix_s']:.3f} | {r['decode_mpix_s']:.3f} |"
              for r in rows]
    table += ["", f"The whole CLI command from a fresh process, one photo ({record['cli_photo']}, {megapixels:.2f} MP):", "",
              "| command | seconds | MP/s |", "|---|---|---|",
              f"| `gensdk compress photo.png photo.gsdk --device cpu` | {cli['compress']:.1f} | {megapixels / cli['compress']:.3f} |",
              f"| `gensdk decompress photo.gsdk back.png --device cpu` | {cli['decompress']:.1f} | {megapixels / cli['decompress']:.3f} |",
              f"| `gensdk --help` (start-up alone) | {cli['help']:.1f} | |"]
    write_results(args.out, record, table)
    print("\n".join(table))


if __name__ == "__main__":
    main()
