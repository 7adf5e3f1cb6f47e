"""GPU sampling through Ray actors against the direct sampler, on one GPU.

A molecule generator of the default GPU size (the `transformer`, about 25M parameters; `--model char-rnn` for the
14M LSTM) is trained briefly on a few drug-like SMILES (speed does not depend on what it learnt) and saved. Then
`sample_smiles` draws --n molecules in batches of --batch-size three ways, each timed in full (the model's load
included) after one warm-up run of its own:

- direct: the backend of this process (`gensdk molecules sample` without --ray);
- ray: a Ray cluster of this machine with one GPU (`ray start --head --num-gpus 1`): one actor holds the model on
  the GPU and draws every batch (`gensdk molecules sample --ray`), the batches' SMILES coming back to the driver.

Both draw the same batches with the same seeds, so the molecules are compared too.

    python benchmarks/ray_gpu_sampling.py --n 200000 --batch-size 4096

Writes benchmarks/results/ray_gpu_sampling.json and .md. Needs ray and rdkit (see the README's GPU notes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from common import provenance, write_results  # noqa: E402


def timed(function, *args, **kw) -> tuple[float, list[str]]:
    """Seconds of one call (the GPU's queue drained before and after) and what it returned."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    started = time.perf_counter()
    out = function(*args, **kw)
    sync()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--model", default="transformer", help="transformer or char-rnn (their GPU sizes)")
    parser.add_argument("--steps", type=int, default=200, help="training steps before sampling")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only checks this script (CPU actors)")
    parser.add_argument("--option", action="append", default=[], help="model option key=value (e.g. d_model=32)")
    args = parser.parse_args()
    options = {key: int(value) if value.isdigit() else value for key, value in (o.split("=", 1) for o in args.option)}

    import torch

    from gensdk.core.executor import Backend
    from gensdk.core.raycluster import LocalRayCluster
    from gensdk.core.trainer import TrainConfig
    from gensdk_plugins.molecules.models import MoleculeGenerator, sample_smiles
    from helpers import DRUG_SMILES

    gpu = args.device.startswith("cuda")
    assert torch.cuda.is_available() or not gpu, "this benchmark needs a GPU"
    folder = Path(tempfile.mkdtemp(prefix="ray-gpu-")) / "run"
    generator = MoleculeGenerator.create(args.model, DRUG_SMILES, **options)
    generator.fit(DRUG_SMILES, TrainConfig(steps=args.steps, batch_size=32, device=args.device, progress=False),
                  out_dir=folder)
    parameters = sum(p.numel() for p in generator.model.parameters())
    del generator
    common = {"batch_size": args.batch_size, "seed": 0, "device": args.device}

    sample_smiles(folder, args.batch_size, **common)  # warm-up: CUDA context, kernels
    direct_seconds, direct = timed(sample_smiles, folder, args.n, **common)
    with LocalRayCluster(nodes=[], head_cpus=2, head_gpus=1 if gpu else 0) as cluster:
        backend = Backend(ray=cluster.address)
        started = time.perf_counter()
        sample_smiles(folder, args.batch_size, backend=backend, **common)  # warm-up: the cluster's workers
        warm_up = time.perf_counter() - started
        ray_seconds, through_ray = timed(sample_smiles, folder, args.n, backend=backend, **common)
        import ray

        ray.shutdown()

    record = {"title": "GPU sampling: Ray actor vs the direct sampler", **provenance(), "model": args.model,
              "options": options, "sampling_device": args.device,
              "parameters": parameters, "n": args.n, "batch_size": args.batch_size,
              "direct": {"seconds": round(direct_seconds, 2), "molecules_per_second": round(args.n / direct_seconds)},
              "ray": {"seconds": round(ray_seconds, 2), "molecules_per_second": round(args.n / ray_seconds),
                      "first_call_seconds": round(warm_up, 2)},
              "ray_over_direct": round(ray_seconds / direct_seconds, 3), "same_molecules": through_ray == direct}
    table = [f"{args.model} ({parameters / 1e6:.1f}M parameters), {args.n:,} SMILES in batches of {args.batch_size}, "
             "each timed with its model load, after a warm-up run.", "",
             "| sampler | seconds | molecules/s |", "|---|---|---|",
             f"| direct (this process) | {record['direct']['seconds']} | {record['direct']['molecules_per_second']:,} |",
             f"| Ray, {'one actor on the GPU' if gpu else 'an actor per CPU (a check of the script)'} | "
             f"{record['ray']['seconds']} | {record['ray']['molecules_per_second']:,} |",
             "", f"Ray / direct: {record['ray_over_direct']}; the same molecules: {record['same_molecules']}."]
    write_results(ROOT / "benchmarks" / "results" / "ray_gpu_sampling", record, table)
    print("\n".join(table))


if __name__ == "__main__":
    main()
