"""A hyper-parameter sweep on the 8-Gaussians ring, one run per CPU core, results as JSON lines.

    python benchmarks/ring_sweep.py benchmarks/ring_sweep.yaml --workers 16 --out runs/sweep --jsonl sweep.jsonl

Each sweep entry overrides ``gensdk.toy.toy_recipe`` (model options, ``train`` options, ``loss``,
``minibatch_std``, ``steps``, ``seed``). Both the EMA and the raw generator are evaluated, so the sweep
also says whether the EMA helps. Used to choose the settings of benchmarks/ring.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(entry: dict, out: str) -> dict:
    import torch

    torch.set_num_threads(1)
    from gensdk import api
    from gensdk.toy import toy_recipe

    entry = dict(entry)
    name = entry.pop("name")
    recipe = toy_recipe(loss=entry.pop("loss"), steps=entry.pop("steps"), seed=entry.pop("seed", 0),
                        minibatch_std=entry.pop("minibatch_std", False))
    recipe["train"].update({"device": "cpu", "ema_decay": 0.999, **entry.pop("train", {})})
    recipe["model"].update(entry)
    start = time.time()
    model = api.train(recipe, out=Path(out) / name, overwrite=True, progress=False)
    seconds = time.time() - start
    ema = api.evaluate_recipe(model, recipe)
    raw_state = torch.load(Path(out) / name / "checkpoint.pt", weights_only=True)["model"]
    model.load_state_dict(raw_state)
    raw = api.evaluate_recipe(model, recipe)
    return {"name": name, "seconds": round(seconds, 1), "ema": ema, "raw": raw, "recipe": recipe}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--jsonl", default="sweep.jsonl")
    args = parser.parse_args()
    entries = yaml.safe_load(Path(args.sweep).read_text())
    from common import provenance

    with open(args.jsonl, "a") as fh:
        fh.write(json.dumps({"provenance": provenance()}) + "\n")
    # spawn, not fork: the parent may have touched CUDA (provenance), which a forked child cannot use
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run, e, args.out) for e in entries]
        for future in as_completed(futures):
            row = future.result()
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(row["name"], row["seconds"], "ema", row["ema"], "raw", row["raw"], flush=True)


if __name__ == "__main__":
    main()
