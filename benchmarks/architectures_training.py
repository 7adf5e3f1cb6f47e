"""Real-training evaluation of described networks: how well a short training budget ranks architectures
as a long one does (Spearman correlation of test accuracies), and architectures evaluated per minute.

    python benchmarks/architectures_training.py --n 30 --short 50 --long 400 --device cpu
    python benchmarks/architectures_training.py --n 60 --device cuda --search-budget 60   # on the GPU

With ``--search-budget B`` it also runs each search method over the CNN space with the real-training
evaluator (``--short`` steps per architecture), B evaluations each, and reports what each found.

The architectures are random small CNNs (``spaces.random_cnn``) for scikit-learn's 8x8 digits.
Writes ``benchmarks/results/architectures_training_<device>.md`` and its record under ``results/raw/``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, provenance, record_path, write_report  # noqa: E402
from gensdk.core.io import write_json  # noqa: E402
from gensdk_plugins.architectures.language import format_description  # noqa: E402
from gensdk_plugins.architectures.spaces import random_cnn  # noqa: E402
from gensdk_plugins.architectures.training import train_and_score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--short", type=int, default=50)
    parser.add_argument("--long", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search-budget", type=int, default=0, help="Evaluations per search method (0: none).")
    args = parser.parse_args()
    from scipy.stats import spearmanr

    rng = random.Random(args.seed)
    rows = []
    started = time.perf_counter()
    for i in range(args.n):
        description = random_cnn(rng, name=f"cnn-{i}")
        short, long = (timed(train_and_score, description, steps=steps, device=args.device, seed=args.seed)
                       for steps in (args.short, args.long))
        rows.append({"description": format_description(description), "parameters": short["parameters"],
                     "short": short, "long": long})
        print(f"{i}: {short['parameters']:,} parameters, short {short['test_accuracy']:.3f}, "
              f"long {long['test_accuracy']:.3f}", flush=True)
    wall = time.perf_counter() - started
    rho = float(spearmanr([r["short"]["test_accuracy"] for r in rows], [r["long"]["test_accuracy"] for r in rows])[0])
    rho_valid = float(spearmanr([r["short"]["valid_accuracy"] for r in rows],
                                [r["long"]["test_accuracy"] for r in rows])[0])
    per_minute = {budget: 60 * len(rows) / sum(r[budget]["train_seconds"] for r in rows) for budget in ("short", "long")}
    # with data loading, compiling and scoring on the validation and test images: what a search pays
    per_minute_all = {budget: 60 * len(rows) / sum(r[budget]["seconds"] for r in rows) for budget in ("short", "long")}
    record = {"n": args.n, "short_steps": args.short, "long_steps": args.long, "spearman_test": rho,
              "spearman_valid_short_vs_test_long": rho_valid, "per_minute": per_minute, "per_minute_with_scoring": per_minute_all, "wall_seconds": wall,
              "rows": rows, **provenance()}
    tag = "gpu" if "cuda" in record["device"].lower() or "nvidia" in record["device"].lower() else "cpu"
    out = RESULTS / f"architectures_training_{tag}"
    write_json(record_path(out), record)
    lines = ["# Real-training evaluation: short vs long budget", "",
             *(f"- {k}: {record[k]}" for k in ("date", "device", "command", "commit")), "",
             f"{args.n} random small CNNs (`spaces.random_cnn`) on scikit-learn's 8x8 digits (train 70%, "
             f"valid 10%, test 20%), batch 128, AdamW 1e-3, cosine schedule.", "",
             "| figure | value |", "|---|---|",
             f"| Spearman, test accuracy after {args.short} vs {args.long} steps | {rho:.3f} |",
             f"| Spearman, valid accuracy after {args.short} vs test accuracy after {args.long} | {rho_valid:.3f} |",
             f"| architectures trained per minute, {args.short} steps | {per_minute['short']:.1f} |",
             f"| architectures trained per minute, {args.long} steps | {per_minute['long']:.1f} |",
             f"| architectures evaluated per minute (training + scoring), {args.short} steps | "
             f"{per_minute_all['short']:.1f} |",
             f"| architectures evaluated per minute (training + scoring), {args.long} steps | "
             f"{per_minute_all['long']:.1f} |",
             f"| test accuracy after {args.long} steps, min / max | "
             f"{min(r['long']['test_accuracy'] for r in rows):.3f} / {max(r['long']['test_accuracy'] for r in rows):.3f} |"]
    if args.search_budget:
        lines += ["", *searches(args, record)]
        write_json(record_path(out), record)
    write_report(out, lines)
    print("\n".join(lines))


def timed(train, description, **options) -> dict:
    started = time.perf_counter()
    result = train(description, **options)
    return {**result, "seconds": time.perf_counter() - started}


def searches(args: argparse.Namespace, record: dict) -> list[str]:
    """Each search method over the CNN space with the real-training evaluator, one seed each."""
    from gensdk_plugins.architectures.generative import generative_search
    from gensdk_plugins.architectures.search import random_search, regularized_evolution
    from gensdk_plugins.architectures.spaces import CnnSpace
    from gensdk_plugins.architectures.training import training_evaluator

    space = CnnSpace((1, 8, 8), 10)
    methods = {"random": random_search, "evolution": regularized_evolution, "generative": generative_search,
               "generative+predictor": lambda *a, **k: generative_search(*a, screen=5, **k)}
    lines = [f"## Searches with the real-training evaluator ({args.short} steps each, {args.search_budget} "
             f"evaluations, seed {args.seed})", "",
             "| method | best valid | its test | mean valid of the last half | failed | seconds | evaluations per minute |",
             "|---|---|---|---|---|---|---|"]
    for name, search in methods.items():
        evaluate = training_evaluator(space, steps=args.short, device=args.device, seed=args.seed)
        started = time.perf_counter()
        trace = search(space, evaluate, args.search_budget, seed=args.seed)
        seconds = time.perf_counter() - started
        best = trace.best()
        half = trace.valid[len(trace.valid) // 2:]
        record.setdefault("searches", []).append({"method": name, "best_valid": trace.valid[best],
                                                  "best_test": trace.test[best], "valid": trace.valid,
                                                  "test": trace.test, "errors": trace.errors, "seconds": seconds,
                                                  "best": format_description(space.describe(trace.archs[best]))})
        lines.append(f"| {name} | {trace.valid[best]:.4f} | {trace.test[best]:.4f} | {sum(half) / len(half):.4f} | "
                     f"{len(trace.errors)} | {seconds:.0f} | {60 * len(trace.archs) / seconds:.1f} |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    main()
