"""Correctness anchor for the MOSES metrics: a random sample of MOSES train, scored against the MOSES
test and test-scaffold sets, should reproduce MOSES's published "Train" row (Polykovskiy et al. 2020,
Table 2). Also compares our reference statistics with the ones molsets ships (test_stats.npz), and
times the reference build and the scoring.

    python benchmarks/molecules_metrics_check.py --n 30000 [--device cpu] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import provenance, write_results
from gensdk_plugins.molecules import metrics as M

# MOSES's "Train" row: the training set scored as if it were generated
MOSES_TRAIN_ROW = {
    "valid": 1.0, "unique@1000": 1.0, "unique@10000": 1.0,
    "FCD/Test": 0.008, "SNN/Test": 0.642, "Frag/Test": 1.000, "Scaf/Test": 0.991,
    "FCD/TestSF": 0.476, "SNN/TestSF": 0.586, "Frag/TestSF": 0.999, "Scaf/TestSF": 0.0,
    "IntDiv": 0.857, "IntDiv2": 0.851, "Filters": 1.0, "novelty": 0.0,
}


def compare_with_molsets_stats(reference: M.Reference, split: str) -> dict[str, float]:
    """How far our statistics of ``split`` are from the ones molsets precomputed with MOSES's code.
    Their file holds pickled Counters, so it is opened with allow_pickle here, and only here."""
    stats = np.load(M._moses_folder() / "dataset" / "data" / f"{split}_stats.npz",
                    allow_pickle=True)["stats"].item()
    theirs_fps = np.packbits(np.asarray(stats["SNN"]["fps"], np.uint8), axis=1)
    from scipy.stats import wasserstein_distance

    out = {
        "FCD(ours, molsets)": M.frechet_distance(reference.fcd_mu, reference.fcd_sigma,
                                                 stats["FCD"]["mu"], stats["FCD"]["sigma"]),
        "max |mu diff|": float(np.abs(reference.fcd_mu - stats["FCD"]["mu"]).max()),
        "fingerprints equal": float(len(theirs_fps) == len(reference.fingerprints)
                                    and np.mean(np.all(theirs_fps == reference.fingerprints, axis=1))),
        "Frag cos(ours, molsets)": M.cosine_similarity(reference.fragments, dict(stats["Frag"]["frag"])),
        "Scaf cos(ours, molsets)": M.cosine_similarity(reference.scaffolds, dict(stats["Scaf"]["scaf"])),
    }
    for name in M.PROPERTIES:
        out[f"W1 {name}(ours, molsets)"] = float(wasserstein_distance(reference.properties[name],
                                                                      stats[name]["values"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/results/molecules_metrics_check")
    args = parser.parse_args()

    timings = {}
    start = time.perf_counter()
    references = {split: M.moses_reference(split, device=args.device, workers=args.workers)
                  for split in ("test", "test_scaffolds")}
    timings["references (build or cache read), s"] = time.perf_counter() - start
    train = M.moses_smiles("train")
    sample = list(np.random.default_rng(args.seed).choice(train, size=args.n, replace=False))
    start = time.perf_counter()
    metrics = M.evaluate_smiles(sample, train=train, test=references["test"],
                                test_scaffolds=references["test_scaffolds"], device=args.device,
                                workers=args.workers)
    timings[f"evaluate {args.n} molecules, s"] = time.perf_counter() - start

    lines = [f"MOSES train sample of {args.n} (seed {args.seed}) vs MOSES's published Train row", "",
             "| metric | gensdk | MOSES |", "|---|---|---|"]
    for name, value in metrics.items():
        published = MOSES_TRAIN_ROW.get(name)
        lines.append(f"| {name} | {value:.4f} | {'' if published is None else f'{published:.3f}'} |")
    checks = {split: compare_with_molsets_stats(reference, split) for split, reference in references.items()}
    lines += ["", "Our reference statistics vs molsets' precomputed *_stats.npz", "",
              "| check | test | test_scaffolds |", "|---|---|---|"]
    for name in checks["test"]:
        lines.append(f"| {name} | {checks['test'][name]:.4g} | {checks['test_scaffolds'][name]:.4g} |")
    lines += ["", "| timing | value |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    print("\n".join(lines))
    write_results(args.out, {"title": "MOSES metrics check", **provenance(), "metrics": metrics,
                             "moses_train_row": MOSES_TRAIN_ROW, "molsets_stats": checks, "timings": timings},
                  lines)


if __name__ == "__main__":
    main()
