"""Search benchmark: best and top-10 mean score after 1,000 / 5,000 / 20,000 scored molecules on QED,
penalized logP and an MPO (QED, SA, similarity to celecoxib), for REINVENT on a language-model prior,
latent optimization in the SMILES VAE, and random sampling from the prior.

    python benchmarks/molecules_search.py --prior runs/moses/char-rnn/model --vae runs/moses/vae/model \
        --budget 20000 --out runs/moses/search

Penalized logP is unbounded, so REINVENT's reward for it is REINVENT's sigmoid of the score between
-2 and 8 (the score reported is plogp itself).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402
from gensdk.core.io import write_json  # noqa: E402
from gensdk_plugins.molecules.models import load_generator  # noqa: E402
from gensdk_plugins.molecules.objectives import Objective  # noqa: E402
from gensdk_plugins.molecules.search import optimize  # noqa: E402

REWARD = {"plogp": {"type": "sigmoid", "low": -2.0, "high": 8.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", required=True)
    parser.add_argument("--vae")
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--tasks", default="qed,plogp,mpo")
    parser.add_argument("--methods", default="random,reinvent,latent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, help="Scoring processes (default: one per CPU).")
    parser.add_argument("--out", type=Path, default=Path("runs/moses/search"))
    args = parser.parse_args()
    checkpoints = [c for c in (1000, 5000, 20000) if c <= args.budget] or [args.budget]
    records = []
    args.out.mkdir(parents=True, exist_ok=True)
    for task in args.tasks.split(","):
        objective = Objective.standard(task)
        for method in args.methods.split(","):
            if method == "latent" and not args.vae:
                continue
            generator = load_generator(args.vae if method == "latent" else args.prior, args.device)
            options = {"reward": REWARD[task]} if method == "reinvent" and task in REWARD else {}
            started = time.perf_counter()
            result = optimize(generator, objective, method, args.budget, checkpoints=checkpoints, seed=args.seed,
                              workers=args.workers, **options)
            seconds = time.perf_counter() - started
            result.write_csv(args.out / f"{task}_{method}.csv")
            top = result.ranked()[:3]
            record = {"task": task, "method": method, "budget": args.budget, "seed": args.seed, "trace": result.trace,
                      "unique_valid": len(result.found), "invalid": result.invalid, "seconds": seconds,
                      "top3": [(f.canonical, f.score) for f in top], "errors": result.errors}
            print(json.dumps(record), flush=True)
            records.append(record)
            write_json(args.out / "search.json", {"results": records, **provenance()})


if __name__ == "__main__":
    main()
