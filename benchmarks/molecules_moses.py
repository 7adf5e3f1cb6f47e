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
import copy
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance  # noqa: E402
from gensdk.core.io import atomic_write, write_json  # noqa: E402
from gensdk.core.trainer import TrainConfig, Trainer  # noqa: E402
from plugins.molecules.data import load_smiles  # noqa: E402
from plugins.molecules.models import MoleculeGenerator, load_generator  # noqa: E402

RUNS = Path("runs/moses")
# batch sizes per kind: large enough to fill an H100 (MOSES itself used 64 for its CharRNN)
BATCH = {"char-rnn": 256, "transformer": 512, "vae": 512, "graph": 512}
LR = {"char-rnn": 2e-3, "transformer": 6e-4, "vae": 1e-3, "graph": 1e-3}


def train(args: argparse.Namespace) -> None:
    run = RUNS / args.kind
    smiles, report = load_smiles("moses:train", canonicalize=False)
    print(f"MOSES train: {report.summary()}", flush=True)
    plan_path = run / "plan.json"
    if args.resume:
        plan = json.loads(plan_path.read_text())
        generator = MoleculeGenerator.create(args.kind, smiles, **plan["options"])
    else:
        options = json.loads(args.options) if args.options else {}
        options.setdefault("lr", LR[args.kind])
        generator = MoleculeGenerator.create(args.kind, smiles, **options)
        batch = args.batch_size or BATCH[args.kind]
        seconds_per_step = probe(generator, smiles, batch)
        steps = int(args.minutes * 60 / seconds_per_step)
        plan = {"options": options, "batch_size": batch, "steps": steps, "seconds_per_step": seconds_per_step,
                "minutes": args.minutes, "parameters": sum(p.numel() for p in generator.model.parameters()),
                "epochs": steps * batch / len(smiles), **provenance()}
        run.mkdir(parents=True, exist_ok=True)
        write_json(plan_path, plan)
    print(json.dumps({k: plan[k] for k in ("steps", "batch_size", "seconds_per_step", "epochs", "parameters")}),
          flush=True)
    config = TrainConfig(steps=plan["steps"], batch_size=plan["batch_size"], lr_schedule="cosine",
                         warmup_steps=min(1000, plan["steps"] // 20), checkpoint_every=500, log_every=200,
                         progress=False, seed=0)
    started = time.perf_counter()
    generator.fit(smiles, config, out_dir=run, resume=args.resume, overwrite=not args.resume)
    spent = json.loads((run / "spent.json").read_text()) if (run / "spent.json").exists() and args.resume else {}
    spent = {"train_seconds": spent.get("train_seconds", 0.0) + time.perf_counter() - started}
    write_json(run / "spent.json", spent)
    print(f"trained {args.kind}: {spent['train_seconds'] / 60:.1f} min in this and earlier commands", flush=True)


def probe(generator: MoleculeGenerator, smiles: list[str], batch: int) -> float:
    """Seconds per training step of this model on this device (60 steps after 20 warm-up ones)."""
    trial = MoleculeGenerator(generator.kind, copy.deepcopy(generator.model), generator.representation)
    encoded = trial.encode(smiles[:200_000])
    trainer = Trainer(trial.model, (encoded.ids,), TrainConfig(steps=20, batch_size=batch, progress=False))
    trainer.fit()
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    trainer.config.steps = 80
    started = time.perf_counter()
    trainer.fit(resume=False, overwrite=True)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    return (time.perf_counter() - started) / 60


def sample(args: argparse.Namespace) -> None:
    run = RUNS / args.kind
    generator = load_generator(run / "model")
    generator.sample(1000, batch_size=args.batch_size, seed=1)  # warm-up (kernels, allocator)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    started = time.perf_counter()
    out = generator.sample(args.n, batch_size=args.batch_size, seed=0, temperature=args.temperature)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    seconds = time.perf_counter() - started
    from plugins.molecules.data import clean_smiles

    started = time.perf_counter()
    valid, report = clean_smiles(out)
    validate_seconds = time.perf_counter() - started
    unique = len(set(valid))
    record = {"kind": args.kind, "n": args.n, "batch_size": args.batch_size, "temperature": args.temperature,
              "sample_seconds": seconds, "validate_seconds": validate_seconds, "valid": len(valid),
              "unique_valid": unique, "valid_unique_per_s": unique / (seconds + validate_seconds),
              "molecules_per_s": args.n / seconds, **provenance()}
    write_json(run / "sampling.json", record)
    atomic_write(run / "samples.smi.gz", lambda tmp: gzip.open(tmp, "wt").write("\n".join(out) + "\n"))
    print(json.dumps(record), flush=True)


def evaluate(args: argparse.Namespace) -> None:
    from plugins.molecules.metrics import evaluate_smiles, moses_reference, moses_smiles

    run = RUNS / args.kind
    generated = gzip.open(run / "samples.smi.gz", "rt").read().splitlines()[:args.n]
    started = time.perf_counter()
    train_smiles = moses_smiles("train")
    test, test_sf = moses_reference("test"), moses_reference("test_scaffolds")
    reference_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate_smiles(generated, train=train_smiles, test=test, test_scaffolds=test_sf)
    seconds = time.perf_counter() - started
    record = {"kind": args.kind, "metrics": metrics, "evaluate_seconds": seconds,
              "reference_seconds": reference_seconds, **provenance()}
    write_json(run / "moses_metrics.json", record)
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
    p = sub.add_parser("sample")
    p.add_argument("--kind", required=True)
    p.add_argument("--n", type=int, default=30_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=1.0)
    p = sub.add_parser("evaluate")
    p.add_argument("--kind", required=True)
    p.add_argument("--n", type=int, default=30_000)
    args = parser.parse_args()
    {"train": train, "sample": sample, "evaluate": evaluate}[args.step](args)


if __name__ == "__main__":
    main()
