"""Diffusion and flow matching against the best GAN and VAE recipes, with the same training budget.

    python benchmarks/diffusion_engine.py --minutes 2                     # everything (about 25 GPU minutes)
    python benchmarks/diffusion_engine.py --minutes 2 --tasks ring        # one task, or --models ... for some
    python benchmarks/diffusion_engine.py --tiny                          # a few steps each on a CPU: the plumbing

Each model trains from its recipe through the one Trainer (``api.train``) with ``train.minutes`` as its
budget (the step count is planned from the measured rate), CUDA graphs on where the model's step is
static (diffusion and flow), bf16 on CUDA, EMA as its recipe says. Then:
  ring    8-Gaussians ring: mode coverage and high-quality rate of 10,000 samples (metrics.mode_coverage)
          for ring-diffusion, ring-flow, ring-wgan-gp, ring-nonsaturating-mbstd, and a Gaussian VAE set up
          here (no ring VAE recipe exists).
  digits  8x8 digits: Frechet distance, KID, precision/recall in the feature space of a small CNN trained on
          the real grey 8x8 digits (features.py), of 1,797 samples, for digits-diffusion, digits-flow,
          digits-dcgan, digits-sagan (32x32, average-pooled to 8x8) and digits-vae (trained on the grey digits
          here, data.binarize=false; its samples are decoder means). Every sample is mapped to [0, 1] at 8x8.
For diffusion and flow models it also measures sampling time (CUDA-synchronised, after one warm-up call)
and the metric against the number of sampler steps (5, 10, 20, 50, 100) for each sampler.

Results accumulate in RESULTS.jsonl, one line per (task, model), so the work can be split over several
calls; RESULTS.json and RESULTS.md are rewritten from all lines after every run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import merged_provenance, provenance, record_path, write_results  # noqa: E402

from gensdk import api  # noqa: E402
from gensdk.core import metrics  # noqa: E402
from gensdk.core.data import load_dataset  # noqa: E402
from gensdk.core.features import extract, train_classifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RING_VAE = {"data": {"name": "ring", "n": 100000, "seed": 0},
            "model": {"name": "vae", "latent_dim": 2, "hidden": [256, 256], "likelihood": "gaussian", "lr": 1.0e-3},
            "train": {"batch_size": 256, "seed": 0, "ema_decay": 0.999}}
REFERENCE = {"ring": "real (a fresh draw)", "digits": "real (a bootstrap resample)"}  # the metrics' reference rows
MODELS = {
    "ring": {"diffusion": "ring-diffusion", "flow": "ring-flow", "wgan-gp": "ring-wgan-gp",
             "nonsaturating-mbstd": "ring-nonsaturating-mbstd", "vae": RING_VAE},
    "digits": {"diffusion": "digits-diffusion", "flow": "digits-flow", "dcgan": "digits-dcgan",
               "sagan": "digits-sagan", "vae": "digits-vae"},
}
OVERRIDES = {("digits", "vae"): {"data": {"binarize": False}}}
SAMPLERS = {"diffusion": ["ddim", "dpm++2m"], "flow": ["euler", "heun"]}
STEP_COUNTS = [5, 10, 20, 50, 100]


def recipe_for(task: str, name: str, args: argparse.Namespace) -> dict:
    source = MODELS[task][name]
    recipe = api.load_recipe(copy.deepcopy(source) if isinstance(source, dict) else ROOT / "recipes" / f"{source}.yaml")
    for section, values in OVERRIDES.get((task, name), {}).items():
        recipe[section].update(values)
    train = recipe["train"]
    for key in ("steps", "validate_every"):  # a minutes budget, and no early stopping: the same budget for all
        train.pop(key, None)
    recipe["valid"] = {}
    if args.tiny:
        train.update(steps=args.tiny_steps, batch_size=32, log_every=5, checkpoint_every=1000)
        if "width" in recipe["model"] or recipe["model"]["name"] in ("diffusion", "flow"):
            recipe["model"]["width"] = 16
    else:
        train.update(minutes=args.minutes, checkpoint_every=10**9, log_every=1000, cuda_graph=True)
    recipe["evaluate"] = {}
    return recipe


def synced(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


# --- the two tasks' measures ---------------------------------------------------------------------
class Ring:
    def __init__(self, n: int):
        self.data = load_dataset("ring", n=100_000, seed=0)
        self.n = n

    def measure(self, model, **options) -> dict:
        torch.manual_seed(0)
        samples, seconds = synced(lambda: model.sample(self.n, **options))
        return {**self.score(samples), "sample_s": round(seconds, 4)}

    def score(self, samples: torch.Tensor) -> dict:
        cov = metrics.mode_coverage(samples.float().cpu(), torch.tensor(self.data.meta["centers"]), self.data.meta["std"])
        return {"modes": cov["modes"], "high_quality": round(cov["high_quality"], 4)}

    def reference(self) -> dict:
        """The measure of a fresh draw of the real ring: its high-quality rate is the ceiling of a perfect
        model (a 2-D Gaussian lies within 3 std of its centre with probability 1 - exp(-4.5) = 0.989)."""
        return self.score(load_dataset("ring", n=self.n, seed=1).x)


class Digits:
    """Every model's samples as grey 8x8 images in [0, 1], against the real ones in one feature space."""

    def __init__(self, n: int):
        self.data = load_dataset("digits", split="all", binarize=False, scale="unit")
        self.n = min(n, len(self.data))
        self.net = train_classifier(self.data.x, self.data.y, 10, seed=0)
        self.real_feats, _ = extract(self.net, self.data.x[:self.n])

    @staticmethod
    def common(x: torch.Tensor, recipe: dict) -> torch.Tensor:
        x = x.float().cpu()
        if recipe["data"].get("scale") == "tanh":
            x = (x + 1) / 2
        if x.shape[-1] != 8:
            x = F.adaptive_avg_pool2d(x, 8)  # the 32x32 data were bilinear upsamplings of these 8x8 digits
        return x.clamp(0, 1)

    def measure(self, model, recipe: dict, **options) -> dict:
        torch.manual_seed(0)
        chunks, seconds = [], 0.0
        for i in range(0, self.n, 500):
            out, s = synced(lambda: model.sample(min(500, self.n - i), **options))
            chunks.append(self.common(out, recipe))
            seconds += s
        return {**self.score(torch.cat(chunks)), "sample_s": round(seconds, 4)}

    def score(self, images: torch.Tensor) -> dict:
        feats, _ = extract(self.net, images)
        kid, kid_std = metrics.kernel_inception_distance(self.real_feats, feats, subset_size=min(1000, self.n))
        pr = metrics.precision_recall(self.real_feats, feats, k=3)
        return {"fd_cnn": round(metrics.frechet_distance(self.real_feats, feats), 3), "kid_cnn": round(kid, 4),
                "kid_cnn_std": round(kid_std, 4), "precision": round(pr["precision"], 3), "recall": round(pr["recall"], 3)}

    def reference(self) -> dict:
        """The measure of a bootstrap resample of the real digits (as many images, drawn with replacement,
        about 63% of them distinct): what drawing real images at random scores. It is no floor: the models
        train on these same images, and copies of them would score lower (the metrics do not see novelty)."""
        pick = torch.randint(len(self.data.x), (self.n,), generator=torch.Generator().manual_seed(1))
        return self.score(self.data.x[pick])


def run_one(task: str, name: str, measure, args: argparse.Namespace) -> dict:
    recipe = recipe_for(task, name, args)
    torch.manual_seed(0)
    start = time.perf_counter()
    model = api.train(recipe, out=Path(args.out) / f"{task}-{name}", overwrite=True, progress=False)
    train_s = time.perf_counter() - start
    log = [json.loads(line) for line in (Path(args.out) / f"{task}-{name}" / "log.jsonl").read_text().splitlines()]
    options = (lambda **kw: measure.measure(model, **kw)) if task == "ring" else \
        (lambda **kw: measure.measure(model, recipe, **kw))
    model.sample(16)  # warm-up: lazy CUDA initialisation and allocations stay out of the timings
    row = {"task": task, "model": name, "recipe": MODELS[task][name] if isinstance(MODELS[task][name], str) else "script",
           "samples": measure.n, "steps": log[-1]["step"], "train_s": round(train_s, 1),
           "examples_per_s": log[-1].get("examples_per_s"),
           **options()}
    if name in SAMPLERS:
        row["default_sampler"] = f"{model.sampler}, {model.sample_steps} steps"
        sweep = []
        for sampler in SAMPLERS[name]:
            for steps in (STEP_COUNTS if not args.tiny else [2, 5]):
                sweep.append({"sampler": sampler, "steps": steps, **options(sampler=sampler, steps=steps)})
        row["sweep"] = sweep
    return row


# --- the report ---------------------------------------------------------------------------------
def report(rows: list[dict], args: argparse.Namespace, path: Path) -> None:
    record = {"title": "Diffusion and flow matching vs GAN and VAE recipes, same training budget",
              **merged_provenance(rows),  # a later run replaces its models' rows only
              "minutes_per_model": None if args.tiny else args.minutes, "tiny": args.tiny, "runs": rows}
    budget = f"{args.tiny_steps} steps each (--tiny)" if args.tiny else f"{args.minutes} minutes of training each"
    lines = [f"Budget: {budget}; every model trained by its recipe through the gensdk Trainer (see the script's "
             "docstring for what each measure is). The first row of each table measures real data the same way: on "
             "the ring a fresh draw of the data, the ceiling of a perfect model; on the digits a bootstrap resample "
             "of the real images (about 63% distinct), what drawing real images at random scores. The digits models "
             "train on those same images, so a score below that row says the metrics cannot tell the samples from "
             "the training images; it does not say they are new (copies would score as well).", ""]
    dash = lambda r, key, fmt: "-" if key not in r else format(r[key], fmt)  # noqa: E731  (reference rows)
    ring = sorted((r for r in rows if r["task"] == "ring"), key=lambda r: r["model"] != REFERENCE["ring"])
    if ring:
        lines += [f"## 8-Gaussians ring ({ring[0]['samples']:,} samples)", "", "| model | recipe | steps | modes (of 8) | high quality | "
                  "sample s | train s |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['recipe']} | {r.get('steps', '-')} | {r['modes']} | {r['high_quality']:.3f} | "
                  f"{dash(r, 'sample_s', '.3f')} | {r.get('train_s', '-')} |" for r in ring]
    digits = sorted((r for r in rows if r["task"] == "digits"), key=lambda r: r["model"] != REFERENCE["digits"])
    if digits:
        lines += ["", f"## 8x8 digits ({digits[0]['samples']:,} samples, grey 8x8 in [0, 1], small-CNN features)", "",
                  "| model | recipe | steps | FD | KID (std over subsets) | precision | recall | sample s | train s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['recipe']} | {r.get('steps', '-')} | {r['fd_cnn']:.2f} | {r['kid_cnn']:.2f}"
                  f"{' (' + format(r['kid_cnn_std'], '.2f') + ')' if 'kid_cnn_std' in r else ''} | "
                  f"{r['precision']:.2f} | {r['recall']:.2f} | {dash(r, 'sample_s', '.3f')} | {r.get('train_s', '-')} |"
                  for r in digits]
    swept = [r for r in rows if "sweep" in r]
    if swept:
        lines += ["", "## Sampler steps: quality and sampling time", "",
                  "| task | model | sampler | steps | net calls | modes / FD | high quality / precision | sample s |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in swept:
            for s in r["sweep"]:
                calls = 2 * s["steps"] if s["sampler"] == "heun" else s["steps"]
                quality = (f"{s['modes']} | {s['high_quality']:.3f}" if r["task"] == "ring"
                           else f"{s['fd_cnn']:.2f} | {s['precision']:.2f}")
                lines.append(f"| {r['task']} | {r['model']} | {s['sampler']} | {s['steps']} | {calls} | {quality} | "
                             f"{s['sample_s']:.3f} |")
    if args.note:
        lines += ["", args.note]
        record["note"] = args.note
    write_results(path, record, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["ring", "digits"], choices=list(MODELS))
    parser.add_argument("--models", nargs="+", default=None, help="a subset of each task's models")
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per model")
    parser.add_argument("--tiny", action="store_true", help="a few steps each, small samples: proves the plumbing on a CPU")
    parser.add_argument("--tiny-steps", type=int, default=20)
    parser.add_argument("--out", default="runs/bench-diffusion")
    parser.add_argument("--results", default=None, help="default: benchmarks/results/diffusion_engine[_tiny]")
    parser.add_argument("--note", default="", help="a closing paragraph (how the rows were run, GPU minutes)")
    args = parser.parse_args()
    path = Path(args.results or ROOT / "benchmarks" / "results" / ("diffusion_engine_tiny" if args.tiny else "diffusion_engine"))
    jsonl = record_path(path, ".jsonl")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    for task in args.tasks:
        names = [m for m in MODELS[task] if args.models is None or m in args.models]
        if not names:
            continue
        measure = Ring(200 if args.tiny else 10_000) if task == "ring" else Digits(300 if args.tiny else 10_000)
        reference = {"task": task, "model": REFERENCE[task], "recipe": "-", "samples": measure.n, **measure.reference(),
                     **provenance()}
        rows = [r for r in rows if (r["task"], r["model"]) != (task, reference["model"])] + [reference]
        for name in names:
            row = {**run_one(task, name, measure, args), **provenance()}
            print(json.dumps({k: v for k, v in row.items() if k != "sweep"}), flush=True)
            rows = [r for r in rows if (r["task"], r["model"]) != (task, name)] + [row]
            jsonl.parent.mkdir(parents=True, exist_ok=True)
            jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
            report(rows, args, path)
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
