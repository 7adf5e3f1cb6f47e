"""Train the ``mol-graph`` model on MOSES train SMILES and score samples: validity (no repair),
uniqueness, novelty against its training molecules, training and sampling throughput.

  python benchmarks/molecules_graph_probe.py --n-train 20000 --steps 1000 --batch-size 64 \
      --hidden 64 --layers 3 --samples 1000 --out runs/mol_graph_probe            # CPU probe
  python benchmarks/molecules_graph_probe.py --n-train 0 --steps 20000 --batch-size 512 --hidden 128 \
      --layers 4 --workers 16 --samples 30000 --device cuda --out runs/mol_graph_gpu   # GPU, all of MOSES train

``--resume`` continues a run in ``--out`` from its last checkpoint (for runs longer than one sitting).

Writes ``<out>/probe.json`` (with date, device, command) and prints it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import provenance  # noqa: E402
from gensdk_plugins.molecules.graph import train_graph_model  # noqa: E402


def moses_train(n: int) -> list[str]:
    folder = importlib.util.find_spec("moses").submodule_search_locations[0]
    smiles = pd.read_csv(Path(folder) / "dataset" / "data" / "train.csv.gz")["SMILES"].tolist()
    return smiles[:n] if n > 0 else smiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000, help="first N MOSES train SMILES; 0 = all")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-atoms", type=int, default=27)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1, help="processes for SMILES parsing")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/mol_graph_probe")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    train_smiles = moses_train(args.n_train)
    model, report = train_graph_model(
        train_smiles, args.out, steps=args.steps, batch_size=args.batch_size, max_atoms=args.max_atoms,
        hidden=args.hidden, layers=args.layers, lr=args.lr, workers=args.workers, resume=args.resume,
        device=args.device,
        seed=args.seed, lr_schedule="cosine", warmup_steps=min(200, args.steps // 10),
        log_every=max(1, min(100, args.steps // 10)), checkpoint_every=max(1, args.steps // 4), progress=False)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    samples = model.sample(args.samples, temperature=args.temperature)
    sample_s = time.perf_counter() - start
    valid = [s for s in samples if s]
    unique = set(valid)
    known = set(train_smiles)  # MOSES train SMILES are RDKit-canonical (4,999 of the first 5,000 here)
    record = {
        **provenance(), "args": vars(args), **report,
        "samples": len(samples), "validity": len(valid) / len(samples),
        "uniqueness": len(unique) / max(1, len(valid)),
        "novelty": len(unique - known) / max(1, len(unique)),
        "sample_s": round(sample_s, 2), "valid_unique_per_s": round(len(unique) / sample_s, 1),
        "examples": sorted(unique)[:10],
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "probe.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
