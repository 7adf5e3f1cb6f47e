"""NAS-Bench-Graph searches: best test accuracy found (choosing by validation accuracy) against the
number of architectures evaluated, mean over seeds, and the evaluations each needs to reach the
table's top 1% of test accuracy. Table lookups only, so it runs on a CPU in seconds.

    python benchmarks/architectures_nbg.py --datasets cora,citeseer --seeds 10 --budget 300

Writes ``benchmarks/results/architectures_nbg.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402
from gensdk.core.io import atomic_write, write_json  # noqa: E402
from plugins.architectures.benchmark import (load_table, random_search, regularized_evolution,  # noqa: E402
                                             table_evaluator)

METHODS = {"random": random_search, "evolution": regularized_evolution}
AT = (10, 20, 50, 100, 200, 300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "architectures_nbg")
    args = parser.parse_args()
    record = {"results": [], **provenance()}
    lines = ["# NAS-Bench-Graph: baseline searches", "", *(f"- {k}: {record[k]}" for k in
                                                          ("date", "device", "command", "commit")), "",
             "Best test accuracy of the best-by-validation architecture after N evaluations (mean over "
             f"{args.seeds} seeds), and evaluations to reach the table's top 1% by test accuracy (median over "
             "the seeds that reached it; how many did in brackets). The generative searches are not built yet.", "",
             "| data set | top-1% threshold | best in table | method | " + " | ".join(f"@{n}" for n in AT)
             + " | evaluations to top 1% |", "|---" * (5 + len(AT)) + "|"]
    for dataset in args.datasets.split(","):
        table = load_table(dataset)
        threshold, best = table.top_fraction_threshold(0.01), table.test_accuracies()[0]
        for method, search in METHODS.items():
            traces = [search(table_evaluator(table), args.budget, seed=s) for s in range(args.seeds)]
            curve = {n: statistics.mean(t.best_test[n - 1] for t in traces) for n in AT if n <= args.budget}
            reach = [t.evaluations_to_reach(threshold) for t in traces]
            hit = [r for r in reach if r is not None]
            record["results"].append({"dataset": dataset, "method": method, "threshold": threshold, "best": best,
                                      "curve": curve, "evaluations_to_top1": reach})
            median = f"{statistics.median(hit):.0f} ({len(hit)}/{len(reach)})" if hit else f"- (0/{len(reach)})"
            lines.append(f"| {dataset} | {threshold:.4f} | {best:.4f} | {method} | "
                         + " | ".join(f"{curve[n]:.4f}" for n in curve) + f" | {median} |")
    write_json(args.out.with_suffix(".json"), record)
    atomic_write(args.out.with_suffix(".md"), lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
