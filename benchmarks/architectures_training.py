"""Real-training evaluation of described networks: how well a short training budget ranks architectures
as a long one does (Spearman correlation of test accuracies), and architectures evaluated per minute.

    python benchmarks/architectures_training.py --n 30 --short 50 --long 400 --device cpu

The architectures are random small CNNs (``spaces.random_cnn``) for scikit-learn's 8x8 digits.
Writes ``benchmarks/results/architectures_training_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402
from gensdk.core.io import atomic_write, write_json  # noqa: E402
from plugins.architectures.language import format_description  # noqa: E402
from plugins.architectures.spaces import random_cnn  # noqa: E402
from plugins.architectures.training import train_and_score  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--short", type=int, default=50)
    parser.add_argument("--long", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from scipy.stats import spearmanr

    rng = random.Random(args.seed)
    rows = []
    started = time.perf_counter()
    for i in range(args.n):
        description = random_cnn(rng, name=f"cnn-{i}")
        short = train_and_score(description, steps=args.short, device=args.device, seed=args.seed)
        long = train_and_score(description, steps=args.long, device=args.device, seed=args.seed)
        rows.append({"description": format_description(description), "parameters": short["parameters"],
                     "short": short, "long": long})
        print(f"{i}: {short['parameters']:,} parameters, short {short['test_accuracy']:.3f}, "
              f"long {long['test_accuracy']:.3f}", flush=True)
    wall = time.perf_counter() - started
    rho = float(spearmanr([r["short"]["test_accuracy"] for r in rows], [r["long"]["test_accuracy"] for r in rows])[0])
    rho_valid = float(spearmanr([r["short"]["valid_accuracy"] for r in rows],
                                [r["long"]["test_accuracy"] for r in rows])[0])
    per_minute = {budget: 60 * len(rows) / sum(r[budget]["train_seconds"] for r in rows) for budget in ("short", "long")}
    record = {"n": args.n, "short_steps": args.short, "long_steps": args.long, "spearman_test": rho,
              "spearman_valid_short_vs_test_long": rho_valid, "per_minute": per_minute, "wall_seconds": wall,
              "rows": rows, **provenance()}
    tag = "gpu" if "cuda" in record["device"].lower() or "nvidia" in record["device"].lower() else "cpu"
    out = Path(__file__).resolve().parent / "results" / f"architectures_training_{tag}"
    write_json(out.with_suffix(".json"), record)
    lines = ["# Real-training evaluation: short vs long budget", "",
             *(f"- {k}: {record[k]}" for k in ("date", "device", "command", "commit")), "",
             f"{args.n} random small CNNs (`spaces.random_cnn`) on scikit-learn's 8x8 digits (train 70%, "
             f"valid 10%, test 20%), batch 128, AdamW 1e-3, cosine schedule.", "",
             "| figure | value |", "|---|---|",
             f"| Spearman, test accuracy after {args.short} vs {args.long} steps | {rho:.3f} |",
             f"| Spearman, valid accuracy after {args.short} vs test accuracy after {args.long} | {rho_valid:.3f} |",
             f"| architectures trained per minute, {args.short} steps | {per_minute['short']:.1f} |",
             f"| architectures trained per minute, {args.long} steps | {per_minute['long']:.1f} |",
             f"| test accuracy after {args.long} steps, min / max | "
             f"{min(r['long']['test_accuracy'] for r in rows):.3f} / {max(r['long']['test_accuracy'] for r in rows):.3f} |"]
    atomic_write(out.with_suffix(".md"), lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
