"""Test NLL on binarized 8x8 digits (scikit-learn, 1,437 train / 359 test): VAE (importance-weighted
bound, k samples) against MADE and PixelCNN (exact), all trained with the recipes in recipes/.

    python benchmarks/digits_nll.py --steps 6000 --k 1000

Writes benchmarks/results/digits_nll.md and its record results/raw/digits_nll.json.
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

# (family, run name, recipe, overrides). Within a family the variant with the best validation NLL is
# the family's result (model selection on the validation split; the test split is only reported).
RUNS = [
    ("vae", "vae", "recipes/digits-vae.yaml", []),
    ("made", "made-1mask", "recipes/digits-made.yaml", ["model.num_masks=1"]),
    ("made", "made-8masks", "recipes/digits-made.yaml", ["model.num_masks=8"]),
    ("pixelcnn", "pixelcnn-f64-l5", "recipes/digits-pixelcnn.yaml", ["model.filters=64", "model.layers=5"]),
    ("pixelcnn", "pixelcnn-f32-l5", "recipes/digits-pixelcnn.yaml", ["model.filters=32", "model.layers=5"]),
    ("pixelcnn", "pixelcnn-f32-l3", "recipes/digits-pixelcnn.yaml", ["model.filters=32", "model.layers=3"]),
    ("pixelcnn", "pixelcnn-f16-l3", "recipes/digits-pixelcnn.yaml", ["model.filters=16", "model.layers=3"]),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--pixelcnn-steps", type=int, default=None,
                        help="a smaller budget for PixelCNN (slow on a CPU; it overfits within ~1,000 steps here)")
    parser.add_argument("--k", type=int, default=1000, help="importance samples for the VAE bound")
    parser.add_argument("--runs", nargs="+", default=[name for _, name, _, _ in RUNS])
    parser.add_argument("--out", default="runs/bench-digits")
    parser.add_argument("--results", default="benchmarks/results/digits_nll")
    args = parser.parse_args()
    rows = {}
    for family, name, recipe_path, overrides in RUNS:
        if name not in args.runs:
            continue
        steps = args.pixelcnn_steps if family == "pixelcnn" and args.pixelcnn_steps else args.steps
        recipe = api.load_recipe(recipe_path, [f"train.steps={steps}", "evaluate={}", *overrides])
        start = time.time()
        model = api.train(recipe, out=Path(args.out) / name, overwrite=True, progress=False)
        seconds = time.time() - start
        test = api.dataset_from({**recipe["data"], "split": "test"})
        torch.manual_seed(0)
        row = api.evaluate(model.to(model.device), test, nll_options={"k": args.k} if family == "vae" else None)
        if family == "vae":
            with torch.no_grad():
                row["elbo_nll_nats"] = float(-model.elbo(test.x.to(model.device)).mean())
        log = [json.loads(line) for line in (Path(args.out) / name / "log.jsonl").read_text().splitlines()]
        best = min((r for r in log if "valid_nll" in r), key=lambda r: r["valid_nll"])
        rows[name] = {**row, "family": family, "train_seconds": round(seconds, 1), "recipe": recipe_path,
                      "overrides": overrides, "steps": steps, "best_step": best["step"], "best_valid_nll": best["valid_nll"]}
        print(name, rows[name], flush=True)
        report(rows, args)


def report(rows: dict, args: argparse.Namespace) -> None:
    """Write the results so far (called after every run: a cut-short benchmark keeps what it measured)."""
    for r in rows.values():
        r.pop("chosen_by_validation", None)
    for family in {r["family"] for r in rows.values()}:
        chosen = min((n for n, r in rows.items() if r["family"] == family), key=lambda n: rows[n]["best_valid_nll"])
        rows[chosen]["chosen_by_validation"] = True
    record = {**provenance(), "title": "Binarized 8x8 digits: test negative log-likelihood", "steps": args.steps,
              "vae_importance_samples": args.k, "results": rows}
    lines = [f"Train 1,259 / valid 179 / test 359 images, 64 binary pixels; up to {args.steps} steps, batch 128, "
             f"seed 0 (PixelCNN: {args.pixelcnn_steps or args.steps} steps), early stopping: the weights with the best validation NLL (checked every 250 steps) are kept. "
             f"VAE: importance-weighted estimate with k = {args.k} (an upper bound on the true NLL in expectation); "
             "MADE and PixelCNN: exact.", "",
             "| run | chosen by valid | test NLL (nats) | +- stderr | bits/dim | best step | valid NLL | FD (CNN) | precision | recall | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {'yes' if r.get('chosen_by_validation') else ''} | {r['nll_nats']:.2f} | {r['stderr']:.2f} | {r['bits_per_dim']:.4f} | {r['best_step']} | "
                     f"{r['best_valid_nll']:.2f} | {r.get('fd_cnn', float('nan')):.1f} | {r.get('precision', float('nan')):.2f} | "
                     f"{r.get('recall', float('nan')):.2f} | {r['train_seconds']} |")
    if "vae" in rows:
        lines += ["", f"VAE -ELBO (k = 1) on test: {rows['vae']['elbo_nll_nats']:.2f} nats."]
    write_results(args.results, record, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
