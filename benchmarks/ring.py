"""8-Gaussians ring (radius 2, std 0.02): mode coverage and high-quality rate per GAN objective.

    python benchmarks/ring.py --steps 30000 --seeds 10 11 12 --configs wgan-gp nonsaturating-mbstd minimax

Each run trains with the standard trainer from ``gensdk.toy.toy_recipe`` (the settings chosen by the
sweeps in benchmarks/ring_sweep*.yaml, on other seeds) and is evaluated on 10,000
samples (a mode is covered when >= 5% of its fair share of high-quality samples land on it; a sample
is high quality within 3 std of its nearest centre). Writes benchmarks/results/ring.md and its record results/raw/ring.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance, write_results  # noqa: E402

CONFIGS = {
    "wgan-gp": {"loss": "wgan-gp", "minibatch_std": False},
    "nonsaturating-mbstd": {"loss": "nonsaturating", "minibatch_std": True},
    "nonsaturating": {"loss": "nonsaturating", "minibatch_std": False},
    "minimax": {"loss": "minimax", "minibatch_std": False},
    "lsgan": {"loss": "lsgan", "minibatch_std": False},
    "hinge": {"loss": "hinge", "minibatch_std": False},
    "wgan": {"loss": "wgan", "minibatch_std": False},
}


def run_one(args: tuple[str, int, int, float | None, str]) -> dict:
    import torch

    torch.set_num_threads(1)
    from gensdk import api
    from gensdk.toy import toy_recipe

    name, seed, steps, ema, out = args
    recipe = toy_recipe(steps=steps, seed=seed, **CONFIGS[name])
    recipe["train"]["ema_decay"] = ema
    start = time.time()
    model = api.train(recipe, out=Path(out) / f"{name}-seed{seed}", overwrite=True, progress=False)
    seconds = time.time() - start
    results = api.evaluate_recipe(model, recipe)
    return {"config": name, "seed": seed, "seconds": round(seconds, 1), **results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=["wgan-gp", "nonsaturating-mbstd", "minimax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12])
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/bench-ring")
    parser.add_argument("--results", default="benchmarks/results/ring")
    args = parser.parse_args()

    jobs = [(c, s, args.steps, args.ema, args.out) for c in args.configs for s in args.seeds]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(run_one, jobs))
    summary = {}
    for name in args.configs:
        mine = [r for r in rows if r["config"] == name]
        summary[name] = {"modes_mean": statistics.mean(r["modes"] for r in mine),
                         "high_quality_mean": statistics.mean(r["high_quality"] for r in mine),
                         "all_8_modes_and_hq_90": all(r["modes"] == 8 for r in mine)
                         and statistics.mean(r["high_quality"] for r in mine) >= 0.9}
    record = {**provenance(), "title": "8-Gaussians ring (radius 2, std 0.02)", "steps": args.steps,
              "ema_decay": args.ema, "parallel_runs": args.workers, "runs": rows, "summary": summary}
    record["device"] = record["device"].split(" (")[0] + f" ({platform.machine()}), 1 thread per run, {args.workers} runs in parallel"
    lines = [f"{args.steps} trainer steps (D updates), batch 256, EMA {args.ema}; recipe: gensdk.toy.toy_recipe", "",
             "| config | seed | modes (of 8) | high quality | Frechet dist. | train s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['seed']} | {r['modes']} | {r['high_quality']:.3f} | "
                     f"{r['frechet_distance']:.4f} | {r['seconds']} |")
    lines += ["", "| config | mean modes | mean high quality | 8/8 and >= 90% |", "|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['modes_mean']:.2f} | {s['high_quality_mean']:.3f} | {s['all_8_modes_and_hq_90']} |")
    write_results(args.results, record, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
