"""NAS-Bench-Graph searches: best test accuracy found (choosing by validation accuracy) against the
number of architectures evaluated, mean over seeds, and the evaluations each needs to reach the
table's top 1%: of test accuracy (the architecture chosen by validation accuracy reaches it), and of
validation accuracy (the best validation accuracy found reaches it; what a search can see). Table
lookups only, so it runs on a CPU in minutes.

    python benchmarks/architectures_nbg.py --datasets cora,citeseer --seeds 10 --budget 300

Writes ``benchmarks/results/architectures_nbg.md`` and its record ``results/raw/architectures_nbg.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, provenance, record_path, write_report  # noqa: E402
from gensdk.core.io import write_json  # noqa: E402
from gensdk_plugins.architectures.nasbench import distinct_archs, load_table, table_evaluator  # noqa: E402
from gensdk_plugins.architectures.generative import fit, generative_search, make_generator, sample_genomes  # noqa: E402
from gensdk_plugins.architectures.search import random_search, regularized_evolution  # noqa: E402
from gensdk_plugins.architectures.spaces import NasBenchGraphSpace, arch_key  # noqa: E402

SCREEN = 10
# the generative settings were chosen on cora with seeds 100-109 (warm-up, batch, elite, screen); the
# table reports seeds 0-9
METHODS = {"random": random_search, "evolution": regularized_evolution,
           "generative": lambda space, evaluate, budget, seed: generative_search(space, evaluate, budget, seed=seed,
                                                                                 elite=5),
           "generative+predictor": lambda space, evaluate, budget, seed: generative_search(space, evaluate, budget,
                                                                                           seed=seed, screen=SCREEN)}


def unsupervised_dvae(steps: int):
    """A D-VAE trained on every distinct architecture of the space, without accuracies (no evaluation is
    spent on it), for the latent search; the same model serves every seed and data set."""
    import torch

    from gensdk.core.trainer import TrainConfig, Trainer
    from gensdk_plugins.architectures.dvae import DagVAE, to_graph

    types, adj = to_graph(distinct_archs())
    torch.manual_seed(0)
    model = DagVAE(lr=3e-3, predictor_weight=0.0)
    Trainer(model, (types, adj, torch.zeros(len(types))),
            TrainConfig(steps=steps, batch_size=256, device="cpu", progress=False, lr_schedule="cosine")).fit()
    return model


AT = (10, 20, 50, 100, 200, 300)


def generator_table(args: argparse.Namespace, record: dict) -> list[str]:
    """10,000 samples of each generator: valid (a description that validates), unique, novel (not among
    the architectures the generator was trained on: cora's top 5% by validation accuracy)."""
    import random

    import torch

    from gensdk_plugins.architectures.compiler import validate
    from gensdk_plugins.architectures.spaces import nas_bench_graph_description

    table, space = load_table("cora"), NasBenchGraphSpace()
    ranked = sorted(distinct_archs(), key=lambda a: table.lookup(*a)["valid_perf"], reverse=True)
    training = ranked[:len(ranked) // 20]
    torch.manual_seed(0)
    model = make_generator(space)
    fit(space, model, [space.genome(*a) for a in training], 300, model.make_optimizers()["model"])
    trained_keys = {arch_key(a) for a in training}
    rng = random.Random(0)
    samples = {"grammar LM (trained on cora's top 5%)": [space.arch(g) for g in sample_genomes(space, model, 10_000)],
               "random grammar (uniform)": [space.arch(space.random(rng)) for _ in range(10_000)]}
    lines = ["## Generators: 10,000 samples", "", f"Training set: the {len(training):,} best of cora's "
             f"{len(ranked):,} distinct architectures by validation accuracy.", "",
             "| generator | valid | unique | novel | mean cora test accuracy |", "|---|---|---|---|---|"]
    for name, archs in samples.items():
        valid = 0
        for arch in archs:
            try:
                validate(nas_bench_graph_description(*arch, features=1433, classes=7, hidden=16))
                valid += 1
            except Exception:  # noqa: BLE001 - counted, not raised
                pass
        keys = [arch_key(a) for a in archs]
        unique = set(keys)
        novel = len(unique - trained_keys) / len(unique)
        accuracy = sum(table.lookup(*a)["perf"] for a in archs) / len(archs)
        record.setdefault("generators", []).append({"generator": name, "valid": valid / len(archs),
                                                     "unique": len(unique) / len(archs), "novel": novel,
                                                     "mean_test": accuracy})
        lines.append(f"| {name} | {valid / len(archs):.4f} | {len(unique) / len(archs):.4f} | {novel:.4f} | "
                     f"{accuracy:.4f} |")
    return lines


def censored_median(reach: list[int | None], budget: int) -> str:
    """The median of evaluations-to-reach (statistics.median: the mean of the two middle seeds of an even
    count) and how many seeds reached it. A miss (None) is only known to need more than ``budget``: where
    a middle seed is one, the median is written as a lower bound, '>' the value with the miss at ``budget``."""
    hit = sorted(r for r in reach if r is not None)
    values = hit + [budget] * (len(reach) - len(hit))
    bound = ">" if len(values) // 2 >= len(hit) else ""  # the upper middle seed missed
    return f"{bound}{statistics.median(values):g} ({len(hit)}/{len(reach)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "architectures_nbg")
    parser.add_argument("--dvae-steps", type=int, default=3000, help="Training steps of the latent search's D-VAE.")
    args = parser.parse_args()
    from gensdk_plugins.architectures.dvae import latent_search

    dvae = unsupervised_dvae(args.dvae_steps)
    methods = {**METHODS, "latent": lambda space, evaluate, budget, seed: latent_search(dvae, evaluate, budget, seed=seed)}
    at = [n for n in AT if n <= args.budget]  # the budgets the table reports
    record = {"results": [], "dvae_steps": args.dvae_steps, **provenance()}
    lines = ["# NAS-Bench-Graph: searches", "", *(f"- {k}: {record[k]}" for k in
                                                ("date", "device", "command", "commit")), "",
             f"Best test accuracy of the best-by-validation architecture after N evaluations (mean over {args.seeds} "
             "seeds), and the evaluations each search needed to reach the table's top 1% (median over the seeds, the "
             f"mean of the middle two; a seed that did not get there within {args.budget} counts as more, so a median "
             "with such a seed in the middle is a lower bound, '>'; the brackets say how many seeds got there): "
             "**by test**, the architecture chosen by validation accuracy is in the top 1% of test accuracy; **by "
             "valid**, the best validation accuracy found is in the top 1% of validation accuracy (what a search "
             "sees and can be judged on; NAS-Bench-Graph's validation and test accuracies disagree enough that only "
             "12% (cora) / 15% (citeseer) of the top 1% by validation are in the top 1% by test). generative: the "
             "grammar-constrained GRU fine-tuned on the 5 best-by-validation architectures after each batch of 5 "
             f"(10 uniform ones first); generative+predictor: fine-tuned on the 10 best, each batch picked from "
             f"{SCREEN}x as many samples by a random forest fitted to the evaluated architectures (one-hot choices -> validation "
             "accuracy); latent: gradient ascent on a predictor refitted to the evaluated architectures, in the latent "
             f"space of a D-VAE trained for {args.dvae_steps:,} steps on the whole space without accuracies. The generative "
             "settings (warm-up, batch, elite, screen) were chosen on cora with seeds 100-109; the table is seeds 0-9.", "",
             "| data set | method | " + " | ".join(f"@{n}" for n in at) + " | to top 1% by test | to top 1% by valid |",
             "|---" * (4 + len(at)) + "|"]
    notes = []
    for dataset in args.datasets.split(","):
        table = load_table(dataset)
        space = table.space()
        threshold, best = table.top_fraction_threshold(0.01), table.test_accuracies()[0]
        valid_threshold = table.top_fraction_threshold(0.01, "valid_perf")
        both = sum(r["perf"] >= threshold for r in table.rows.values() if r["valid_perf"] >= valid_threshold)
        notes.append(f"- {dataset}: top-1% thresholds: test {threshold:.4f}, valid {valid_threshold:.4f}; best test in "
                     f"the table {best:.4f}; {both} of the {sum(r['valid_perf'] >= valid_threshold for r in table.rows.values())} "
                     "top-1%-by-valid architectures are top 1% by test.")
        for method, search in methods.items():
            traces = [search(space, table_evaluator(table), args.budget, seed=s) for s in range(args.seeds)]
            curve = {n: statistics.mean(t.best_test[n - 1] for t in traces) for n in at}
            reach = {by: [t.evaluations_to_reach(threshold if by == "test" else valid_threshold, by) for t in traces]
                     for by in ("test", "valid")}
            record["results"].append({"dataset": dataset, "method": method, "threshold": threshold,
                                      "valid_threshold": valid_threshold, "best": best, "curve": curve,
                                      "evaluations_to_top1": reach["test"], "evaluations_to_top1_valid": reach["valid"]})
            lines.append(f"| {dataset} | {method} | " + " | ".join(f"{curve[n]:.4f}" for n in curve) + " | "
                         + " | ".join(censored_median(reach[by], args.budget) for by in ("test", "valid")) + " |")
            print(lines[-1], flush=True)
    lines += ["", *notes]
    lines += ["", *generator_table(args, record)]
    write_json(record_path(args.out), record)
    write_report(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
