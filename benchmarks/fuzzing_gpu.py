"""GPU part of the fuzzing benchmark: train the C Transformer on the GCC torture corpus, then
generate programs with ``gensdk fuzzing generate``'s code path, timed; bring back the model as
bf16 shards, the training log and the programs (a tar.gz).

    python benchmarks/fuzzing_gpu.py --corpus runs/corpus --run .runs/fuzzing/small --steps 6000 \
        --n 10000 --out $OUT
    python benchmarks/fuzzing_gpu.py ... --resume          # continue training from the run's checkpoint

The programs are tested afterwards on the CPU (``benchmarks/fuzzing_eval.py``): the GPU machine
has no clang or tcc.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import provenance  # noqa: E402
from fuzzing_eval import repaired  # noqa: E402
from gensdk.core.trainer import TrainConfig  # noqa: E402
from gensdk_plugins.fuzzing.corpus import build_corpus, load_corpus  # noqa: E402
from gensdk_plugins.fuzzing.generate import generate_programs  # noqa: E402
from gensdk_plugins.fuzzing.model import CodeModel  # noqa: E402


def sweep_point(args: argparse.Namespace, temperature: float, training: set[str]) -> dict:
    """``--sweep-n`` raw samples at ``temperature``: the share that gcc -c compiles made runnable,
    as they are and after ``repair``; how many are distinct, and how many copy a training program.
    "useful": compiles as generated, distinct, and no copy (this machine's gcc: a guide for the
    choice; the reported rates come from the CPU benchmark)."""
    folder = args.out / f"sweep-{temperature:g}"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    generate_programs(args.run, args.sweep_n, folder, runnable=False, temperature=temperature,
                      batch_size=args.sample_batch, seed=1, device=args.device, progress=False)
    seconds = time.perf_counter() - start
    texts = [p.read_text() for p in sorted(folder.glob("prog-*.c"))]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(repaired, texts, chunksize=16))
    rounds = [r for _, r, _ in results]  # None: not repairable
    keys = [" ".join(t.split()) for t in texts]  # programs compared whatever their layout
    seen, useful = set(), 0
    for key, r in zip(keys, rounds):
        useful += r == 0 and key not in seen and key not in training
        seen.add(key)
    n = len(texts)
    kept = [k for _, r, k in results if r is not None]
    point = {"temperature": temperature, "programs": n, "compile_rate": round(sum(r == 0 for r in rounds) / n, 4),
             "repaired_compile_rate": round(len(kept) / n, 4),
             "repaired_median_bytes_kept": round(statistics.median(kept), 3) if kept else None,
             "distinct": len(seen), "training_copies": sum(key in training for key in keys),
             "useful_rate": round(useful / n, 4), "sample_seconds": round(seconds, 1)}
    print(json.dumps(point), flush=True)
    with tarfile.open(args.out / f"sweep-{temperature:g}.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    folder.with_name(folder.name + ".dict").unlink(missing_ok=True)
    return point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("runs/corpus"))
    parser.add_argument("--build-corpus", type=Path, default=None,
                        help="a .tar.gz of C files: build --corpus from it first, on this machine's cores "
                             "(gensdk fuzzing corpus), and bring it back in the bundle")
    parser.add_argument("--run", type=Path, default=Path(".runs/fuzzing/small"))
    parser.add_argument("--size", default="small")
    parser.add_argument("--max-len", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--sample-batch", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--sweep", default="", help="temperatures to try first, e.g. 1.0,0.8,0.6: each samples "
                        "--sweep-n programs, gcc -c checks them, and the highest temperature whose compile rate after "
                        "repair reaches --target (else the best) generates the --n programs: the hotter, the more "
                        "of tcc the programs cover (benchmarks/results/fuzzing.md)")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--sweep-n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"title": "fuzzing: C Transformer trained and sampled on the GPU", **provenance(), "args": {
        k: str(v) for k, v in vars(args).items()}}

    if args.build_corpus and not (args.corpus / "corpus.json").is_file():
        source = Path("/tmp/corpus-source")
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        with tarfile.open(args.build_corpus) as tar:
            tar.extractall(source)
        start = time.perf_counter()
        report = build_corpus(source, args.corpus, workers=args.workers, progress=False)
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        record["corpus"] = {**report.to_dict(), "seconds": round(time.perf_counter() - start, 1), "gcc": gcc}
        print(json.dumps(record["corpus"]), flush=True)
    done = (args.run / "model" / "config.json").is_file() and not args.resume
    # a carried model needs the corpus only for the sweep's count of copied training programs
    programs = load_corpus(args.corpus) if not done or args.sweep else []
    if not done:
        model = CodeModel.create(programs, size=args.size, max_len=args.max_len)
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, device=args.device,
                             validate_every=args.validate_every, checkpoint_every=500, lr_schedule="cosine",
                             warmup_steps=200, progress=False, log_every=100)
        start = time.perf_counter()
        counts = model.fit(programs, config, args.run, resume=args.resume, overwrite=not args.resume)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        record["train"] = {"seconds": round(time.perf_counter() - start, 1), **counts,
                           "parameters": sum(p.numel() for p in model.model.parameters()),
                           "vocabulary": len(model.vocabulary)}
        print(json.dumps(record["train"]), flush=True)
    model_dir = args.run / "model"
    log = args.run / "log.jsonl"  # absent where only the model was carried here
    checks = [line for line in map(json.loads, log.read_text().splitlines()) if "valid_nll" in line] if log.is_file() else []
    if checks:
        best = min(checks, key=lambda line: line["valid_nll"])
        record["valid"] = {"best_step": best["step"], "best_nll_per_program": round(best["valid_nll"], 4),
                           "curve": [(c["step"], round(c["valid_nll"], 4)) for c in checks]}

    # the weights first: a run cut off while sampling still brings the model back (a carried
    # model is already here, so its shards would only take places among the 8 files returned)
    if not done:
        subprocess.run([sys.executable, str(Path(__file__).parent / "weight_shards.py"), "split", str(model_dir),
                        str(args.out), "weights"], check=True)
    if args.sweep:
        training = {" ".join(p.split()) for p in programs}
        record["sweep"] = [sweep_point(args, float(t), training) for t in args.sweep.split(",")]
        good = [p for p in record["sweep"] if p["repaired_compile_rate"] >= args.target]
        pick = max(good, key=lambda p: p["temperature"]) if good else max(record["sweep"],
                                                                          key=lambda p: p["repaired_compile_rate"])
        args.temperature = pick["temperature"]
        record["temperature"] = args.temperature
        (args.out / "fuzzing_gpu.json").write_text(json.dumps(record, indent=2) + "\n")

    # generation, as `gensdk fuzzing generate -m RUN -n N -o DIR --raw` does it (raw: the CPU side
    # makes them runnable, timed there, so that both halves of the pipeline are measured)
    samples = args.out / "samples"
    shutil.rmtree(samples, ignore_errors=True)
    start = time.perf_counter()
    stats = generate_programs(args.run, args.n, samples, runnable=False, temperature=args.temperature,
                              batch_size=args.sample_batch, seed=0, device=args.device, progress=False)
    record["generate"] = {**stats, "programs_per_second": round(args.n / (time.perf_counter() - start), 1)}
    print(json.dumps(record["generate"]), flush=True)
    if log.is_file():
        shutil.copy(log, args.out / "log.jsonl")
    (args.out / "fuzzing_gpu.json").write_text(json.dumps(record, indent=2) + "\n")
    # the device returns at most 8 files: everything but the weights travels in one tarball
    with tarfile.open(args.out / "bundle.tar.gz", "w:gz") as tar:
        for path in [samples, samples.with_name("samples.dict"), args.out / "log.jsonl", args.out / "fuzzing_gpu.json",
                     *sorted(args.out.glob("sweep-*.tar.gz"))]:
            if path.exists():
                tar.add(path, arcname=path.name)
        if args.build_corpus:
            tar.add(args.corpus, arcname="corpus")
    shutil.rmtree(samples)
    (args.out / "DONE").write_text("ok\n")


if __name__ == "__main__":
    main()
