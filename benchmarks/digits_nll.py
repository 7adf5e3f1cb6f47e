"""Test NLL on binarized 8x8 digits (scikit-learn, 1,437 train / 359 test): VAE (importance-weighted
bound, k samples) against MADE and PixelCNN (exact), all trained with the recipes in recipes/.

    python benchmarks/digits_nll.py --steps 10000 --k 1000

Writes benchmarks/results/digits_nll.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance, write_results  # noqa: E402
from gensdk import api  # noqa: E402

RECIPES = {"vae": "recipes/digits-vae.yaml", "made": "recipes/digits-made.yaml", "pixelcnn": "recipes/digits-pixelcnn.yaml"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--k", type=int, default=1000, help="importance samples for the VAE bound")
    parser.add_argument("--models", nargs="+", default=list(RECIPES))
    parser.add_argument("--out", default="runs/bench-digits")
    parser.add_argument("--results", default="benchmarks/results/digits_nll")
    args = parser.parse_args()
    rows = {}
    for name in args.models:
        recipe = api.load_recipe(RECIPES[name], [f"train.steps={args.steps}", "evaluate={}"])
        start = time.time()
        model = api.train(recipe, out=Path(args.out) / name, overwrite=True, progress=False)
        seconds = time.time() - start
        test = api.dataset_from({**recipe["data"], "split": "test"})
        options = {"k": args.k} if name == "vae" else None
        torch.manual_seed(0)
        row = api.evaluate(model, test, nll_options=options)
        if name == "vae":
            with torch.no_grad():
                row["elbo_nll_nats"] = float(-model.elbo(test.x).mean())
        log = [json.loads(line) for line in (Path(args.out) / name / "log.jsonl").read_text().splitlines()]
        best = min((r for r in log if "valid_nll" in r), key=lambda r: r["valid_nll"], default={})
        rows[name] = {**row, "train_seconds": round(seconds, 1), "recipe": RECIPES[name],
                      "best_step": best.get("step"), "best_valid_nll": best.get("valid_nll")}
        print(name, rows[name], flush=True)
    record = {**provenance(), "title": "Binarized 8x8 digits: test negative log-likelihood", "steps": args.steps,
              "vae_importance_samples": args.k, "results": rows}
    lines = [f"Train 1,259 / valid 179 / test 359 images, 64 binary pixels; up to {args.steps} steps, batch 128, "
             "seed 0, early stopping: the weights with the best validation NLL (checked every 250 steps) are kept. "
             f"VAE: importance-weighted estimate with k = {args.k} (an upper bound on the true NLL in expectation); "
             "MADE and PixelCNN: exact.", "",
             "| model | test NLL (nats) | +- stderr | bits/dim | best step | valid NLL | FD (CNN) | precision | recall | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['nll_nats']:.2f} | {r['stderr']:.2f} | {r['bits_per_dim']:.4f} | {r['best_step']} | "
                     f"{r['best_valid_nll']:.2f} | {r.get('fd_cnn', float('nan')):.1f} | {r.get('precision', float('nan')):.2f} | "
                     f"{r.get('recall', float('nan')):.2f} | {r['train_seconds']} |")
    if "vae" in rows:
        lines.append(f"| vae (-ELBO, k=1) | {rows['vae']['elbo_nll_nats']:.2f} | | | |")
    write_results(args.results, record, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
