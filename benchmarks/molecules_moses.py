"""MOSES benchmark of gensdk's molecule generators: train on the MOSES train split within a wall-clock
budget, sample 30,000 molecules, time the sampling, and score them with the MOSES metrics.

Steps (each resumable; run folder ``runs/moses/<kind>``):

    python benchmarks/molecules_moses.py train --kind transformer --minutes 16
    python benchmarks/molecules_moses.py train --kind transformer --resume     # continue after a kill
    python benchmarks/molecules_moses.py sample --kind transformer --n 30000
    python benchmarks/molecules_moses.py evaluate --kind transformer

``train`` first times 60 steps of a throwaway copy of the model, then sets the step count so that the
run fills ``--minutes`` (the cosine learning-rate schedule needs the total in advance); the plan is
saved in ``plan.json`` so ``--resume`` continues the same schedule. The training SMILES are MOSES's
own strings (already RDKit-canonical), tokenized as they are.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance  # noqa: E402
from gensdk.core.io import atomic_write, write_json  # noqa: E402
from gensdk.core.model import build_model  # noqa: E402
from gensdk.core.trainer import TrainConfig, Trainer  # noqa: E402
from gensdk_plugins.molecules.data import load_smiles, parallel_map, randomized_smiles  # noqa: E402
from gensdk_plugins.molecules import graph, vae  # noqa: E402,F401 - register "mol-graph", "smiles-vae"
from gensdk_plugins.molecules.models import MoleculeGenerator, load_generator  # noqa: E402

RUNS = Path("runs/moses")
# batch sizes per kind: large enough to fill an H100 (MOSES itself used 64 for its CharRNN)
BATCH = {"char-rnn": 256, "transformer": 512, "vae": 512, "graph": 512}
GRAPH_MAX_ATOMS = 27  # the largest MOSES molecule has 27 heavy atoms
LR = {"char-rnn": 2e-3, "transformer": 6e-4, "vae": 1e-3, "graph": 1e-3}


def run_folder(args: argparse.Namespace) -> Path:
    return RUNS / (args.name or args.kind)


def samples_tag(temperature: float) -> str:
    return "" if temperature == 1.0 else f"-t{temperature:g}"


def train(args: argparse.Namespace) -> None:
    run = run_folder(args)
    plan_path = run / "plan.json"
    if args.resume:
        plan = json.loads(plan_path.read_text())
        generator, data = prepare(args.kind, run, plan["options"], args.limit)
    else:
        options = json.loads(args.options) if args.options else {}
        options.setdefault("lr", LR[args.kind])
        run.mkdir(parents=True, exist_ok=True)
        generator, data = prepare(args.kind, run, options, args.limit)
        if args.prepare_only:
            print(f"prepared {len(data)} training rows in {run / PREPARED}", flush=True)
            return
        batch = args.batch_size or BATCH[args.kind]
        plan = {"options": options, "batch_size": batch, "minutes": args.minutes,
                "parameters": sum(p.numel() for p in generator.model.parameters()), "molecules": len(data),
                **provenance()}
        write_json(plan_path, plan)  # before training: a resumed command rebuilds the model from it
    # the Trainer plans the steps that fit in the minutes from the rate of its first steps, and keeps
    # the plan in its checkpoint for a resumed command
    config = TrainConfig(minutes=plan["minutes"], batch_size=plan["batch_size"], lr_schedule="cosine",
                         warmup_steps=1000, checkpoint_every=500, log_every=200, progress=False, seed=0)
    trainer = Trainer(generator.model, (data,), config, run)
    trainer.fit(resume=args.resume, overwrite=not args.resume, save=generator.save, extra={"plan": plan})
    plan.update(steps=trainer.config.steps, epochs=trainer.config.steps * plan["batch_size"] / len(data),
                **({"steps_per_s": trainer.plan["steps_per_s"]} if "steps_per_s" in trainer.plan else {}))
    write_json(plan_path, plan)
    print(json.dumps({k: plan.get(k) for k in ("steps", "batch_size", "steps_per_s", "epochs", "parameters")}),
          flush=True)
    print(f"trained {args.kind}: {training_minutes(run):.1f} min of steps in this and earlier commands", flush=True)


PREPARED = "prepared.pt"


def prepare(kind: str, run: Path, options: dict, limit: int = 0) -> tuple[MoleculeGenerator, torch.Tensor]:
    """The untrained generator and its training tensor, from MOSES train; cached in the run folder so a
    resumed command skips the minutes of tokenizing (or RDKit parsing, for the graph model); reused
    only when made with the same options and limit."""
    cache, recipe = run / PREPARED, json.dumps({"kind": kind, "options": options, "limit": limit}, sort_keys=True)
    if cache.exists():
        blob = torch.load(cache, weights_only=True)
        if blob.get("recipe") == recipe:
            model = build_model(blob["model"], **json.loads(blob["config"]))
            return MoleculeGenerator(kind, model), blob["data"]
    smiles, report = load_smiles("moses:train", canonicalize=False)
    smiles = smiles[:limit] if limit else smiles
    print(f"MOSES train: {report.summary()}", flush=True)
    options = dict(options)
    copies = options.pop("randomize", 0)
    if kind == "graph":
        from gensdk_plugins.molecules.graph import graph_dataset

        options = {k: v for k, v in options.items() if k != "max_atoms"}
        data, vocab, counts = graph_dataset(smiles, max_atoms=GRAPH_MAX_ATOMS, workers=os.cpu_count())
        print(f"graphs: {counts}", flush=True)
        generator = MoleculeGenerator(kind, build_model("mol-graph", vocab=vocab, max_atoms=GRAPH_MAX_ATOMS, **options))
    elif copies:  # SMILES enumeration: K random forms of each molecule, made once, in parallel
        generator = MoleculeGenerator.create(kind, smiles, **options)  # random forms share the tokens
        global _ENCODER
        _ENCODER = generator
        chunks = [(smiles[i:i + 20_000], copies, i) for i in range(0, len(smiles), 20_000)]
        data = torch.cat(list(parallel_map(_randomized_ids, chunks, os.cpu_count() or 1)))
        print(f"randomized: {copies} forms of each of {len(smiles)} molecules, {len(data)} kept", flush=True)
    else:
        generator = MoleculeGenerator.create(kind, smiles, **options)
        encoded = generator.encode(smiles)
        print(f"encoded: {encoded.report.summary()}", flush=True)
        data = encoded.ids
    torch.save({"model": generator.model.model_name, "config": json.dumps(generator.model.config), "data": data,
                "recipe": recipe}, cache)
    return generator, data


_ENCODER: MoleculeGenerator | None = None  # set before the worker processes fork


def _randomized_ids(task: tuple[list[str], int, int]) -> torch.Tensor:
    smiles, copies, seed = task
    ids = _ENCODER.encode(randomized_smiles(smiles, copies, seed=seed, workers=1)).ids
    return torch.nn.functional.pad(ids, (0, _ENCODER.model.max_len - ids.shape[1]), value=_ENCODER.vocabulary.pad_id)


def training_minutes(run: Path) -> float:
    """Wall-clock minutes of the training steps, from the trainer's log (each record covers the steps
    since the one before at its measured rate), so commands killed and resumed add up correctly."""
    seconds, last, batch = 0.0, 0, json.loads((run / "plan.json").read_text())["batch_size"]
    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        seconds += (record["step"] - last) * batch / record["examples_per_s"]
        last = record["step"]
    return seconds / 60


def sample(args: argparse.Namespace) -> None:
    run, tag = run_folder(args), samples_tag(args.temperature)
    generator = load_generator(run / "model")
    generator.sample(1000, batch_size=args.batch_size, seed=1)  # warm-up (kernels, allocator)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    started = time.perf_counter()
    out = generator.sample(args.n, batch_size=args.batch_size, seed=0, temperature=args.temperature)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    seconds = time.perf_counter() - started
    from gensdk_plugins.molecules.data import clean_smiles

    started = time.perf_counter()
    valid, report = clean_smiles(out)
    validate_seconds = time.perf_counter() - started
    unique = len(set(valid))
    record = {"kind": args.kind, "name": run.name, "n": args.n, "batch_size": args.batch_size, "temperature": args.temperature,
              "sample_seconds": seconds, "validate_seconds": validate_seconds, "valid": len(valid),
              "unique_valid": unique, "valid_unique_per_s": unique / (seconds + validate_seconds),
              "molecules_per_s": args.n / seconds, **provenance()}
    write_json(run / f"sampling{tag}.json", record)
    atomic_write(run / f"samples{tag}.smi.gz", lambda tmp: gzip.open(tmp, "wt").write("\n".join(out) + "\n"))
    print(json.dumps(record), flush=True)


def evaluate(args: argparse.Namespace) -> None:
    from gensdk_plugins.molecules.metrics import evaluate_smiles, moses_reference, moses_smiles

    run, tag = run_folder(args), samples_tag(args.temperature)
    generated = gzip.open(run / f"samples{tag}.smi.gz", "rt").read().splitlines()[:args.n]
    started = time.perf_counter()
    train_smiles = moses_smiles("train")
    test, test_sf = moses_reference("test"), moses_reference("test_scaffolds")
    reference_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate_smiles(generated, train=train_smiles, test=test, test_scaffolds=test_sf)
    seconds = time.perf_counter() - started
    record = {"kind": args.kind, "temperature": args.temperature, "metrics": metrics, "evaluate_seconds": seconds,
              "reference_seconds": reference_seconds, **provenance()}
    write_json(run / f"moses_metrics{tag}.json", record)
    print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("train")
    p.add_argument("--kind", required=True)
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--options", help="JSON of model options, e.g. '{\"d_model\": 384}'")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="Train on the first N molecules only (tests).")
    p.add_argument("--prepare-only", action="store_true",
                   help="Build the training tensor (cached in the run folder, reused by train) and stop.")
    p = sub.add_parser("sample")
    p.add_argument("--kind", required=True)
    p.add_argument("--n", type=int, default=30_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=1.0)
    p = sub.add_parser("evaluate")
    p.add_argument("--kind", required=True)
    p.add_argument("--n", type=int, default=30_000)
    for p in sub.choices.values():
        p.add_argument("--name", help="Run folder under runs/moses (default: the kind).")
    sub.choices["evaluate"].add_argument("--temperature", type=float, default=1.0, help="Which samples to score.")
    args = parser.parse_args()
    {"train": train, "sample": sample, "evaluate": evaluate}[args.step](args)


if __name__ == "__main__":
    main()
