"""Summarise the JSON records of dcgan_speed.py runs into one table (benchmarks/results/dcgan_speed.md).

    python benchmarks/dcgan_summary.py benchmarks/results/raw/dcgan_speed/*.json --note "$(cat benchmarks/results/raw/dcgan_speed_note.txt)"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def launcher(record: dict) -> str:
    return f"torchrun --standalone --nproc-per-node {record['world_size']} " if record["world_size"] > 1 else "python "


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="+")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", default="benchmarks/results/dcgan_speed.md")
    args = parser.parse_args()
    rows = sorted((json.loads(Path(p).read_text()) for p in args.records),
                  key=lambda r: (r["world_size"], -r["batch_per_gpu"], r["compile"], not r["bf16"]))
    base = {(r["compile"], r["bf16"]): r["images_per_s"] for r in rows if r["world_size"] == 1}
    lines = ["# DCGAN training speed, 32x32 character images", "",
             f"- date: {rows[0]['date']}", f"- device: {rows[0]['device']}",
             "- command: `bash benchmarks/gpu_dcgan.sh` (each row's own command below)", "", args.note, "",
             "| GPUs | batch/GPU | global batch | torch.compile | bf16 | images/s | speed-up vs 1 GPU (same settings) | command |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = base.get((r["compile"], r["bf16"]))
        speedup = f"{r['images_per_s'] / ref:.2f}x" if ref and r["world_size"] > 1 else "-"
        lines.append(f"| {r['world_size']} | {r['batch_per_gpu']} | {r['global_batch']} | {r['compile']} | {r['bf16']} | "
                     f"{r['images_per_s']:,.0f} | {speedup} | `{launcher(r)}{r['command'].split(' --json')[0].removeprefix('python ')}` |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
