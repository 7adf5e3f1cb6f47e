"""DCGAN training speed on 32x32 character images (scikit-learn's digits, upsampled), through the
standard trainer: images/s of a training step (one D and one G update) at a given batch per GPU.

    python benchmarks/dcgan_speed.py --batch-size 256 --steps 300 [--compile] --json out.json
    torchrun --nproc-per-node 2 benchmarks/dcgan_speed.py --batch-size 256 ...   # data parallel

Throughput counts real images consumed per second over all ranks, excluding the first log window
(warm-up and compilation). bf16 autocast is on (CUDA only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance  # noqa: E402
from gensdk.core.data import load_dataset  # noqa: E402
from gensdk.core.gan import GAN  # noqa: E402
from gensdk.core.trainer import Trainer, TrainConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=256, help="per process")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    data = load_dataset("digits", split="all", binarize=False, size=32, scale="tanh")
    # replicate the 1,797 images so one epoch covers the whole run: no epoch-boundary effects
    x = data.x.repeat(max(1, (args.steps + 1) * args.batch_size * int(os.environ.get("WORLD_SIZE", 1))
                          // len(data.x) + 1), 1, 1, 1)
    torch.manual_seed(0)
    model = GAN(data_shape=[1, 32, 32], arch="dcgan", z_dim=100, width=args.width, loss="nonsaturating")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, compile=args.compile, bf16=not args.no_bf16,
                      log_every=args.log_every, checkpoint_every=10**9, progress=False)
    start = time.perf_counter()
    trainer = Trainer(model, x, cfg)
    trainer.fit()
    wall = time.perf_counter() - start
    if trainer.dist.main:
        record = {**provenance(), "world_size": trainer.dist.world, "batch_per_gpu": args.batch_size,
                  "global_batch": trainer.schedule.global_batch, "compile": args.compile, "bf16": not args.no_bf16,
                  "steps": args.steps, "images_per_s": round(trainer.throughput, 1), "wall_s": round(wall, 1),
                  "params_g": sum(p.numel() for p in model.generator.parameters()),
                  "params_d": sum(p.numel() for p in model.discriminator.parameters()),
                  "last_log": trainer.history[-1]}
        print(json.dumps(record))
        if args.json:
            Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
