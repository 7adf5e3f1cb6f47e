"""Train a ladder of learned codecs on one GPU within one 10-minute command, then measure them:
rate-distortion on the test photos from real files, encode/decode speed on the GPU and on the CPU,
file size against the model's estimate, and cross-device decoding (files encoded on the GPU
decoded on the CPU and the reverse, compared pixel for pixel).

    python benchmarks/compression_gpu.py --photos .wallpapers --out OUT --minutes 5.3

Every model trains in its own process at the same time (the GPU is shared; the step count of each
follows from the step rate measured at its start: the Trainer's minutes budget). Writes OUT/compression_gpu.json and
OUT/train_logs.tar.gz. ``benchmarks/compression_rd.py`` adds the classical codecs and BD-rates.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

LADDER = [("mean-scale-hyperprior", q) for q in (1, 2, 3, 4)] + [("scale-hyperprior", q) for q in (1, 2, 3, 4)]


def _crops_of(job):
    from gensdk_plugins.compression.data import random_crops

    path, n, size, seed = job
    return random_crops([path], n, size, seed)


def make_crops(photos: Path, n: int, size: int, path: Path) -> None:
    from gensdk_plugins.compression.data import image_files, save_crops

    files = image_files(photos)
    jobs = [(f, n // len(files) + (i < n % len(files)), size, 1000 + i) for i, f in enumerate(files)]
    with Pool(16) as pool:
        crops = np.concatenate(pool.map(_crops_of, jobs))
    save_crops(path, crops)


def train(args) -> None:
    from gensdk_plugins.compression.data import load_crops
    from gensdk_plugins.compression.training import train_codec

    sizes = {"N": 16, "M": 24} if args.tiny else {}
    train_codec(args.model, args.quality, load_crops(args.work / "crops.npy"), args.work / "codecs", steps=0,
                batch_size=args.batch_size, lr=args.lr, device=args.device, progress=False, minutes=args.minutes,
                **sizes)


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def evaluate(args) -> dict:
    from gensdk_plugins.compression.codec import compress, decompress
    from gensdk_plugins.compression.data import load_test_photos
    from gensdk_plugins.compression.evaluate import codec_point
    from gensdk_plugins.compression.training import load_codec, trained_codecs

    images = load_test_photos()
    codecs = args.work / "codecs"
    result = {"points": [], "cross_device": [], "cpu_speed": [], "plans": {}}
    for name, quality in trained_codecs(codecs):
        plan = codecs / f"{name}-q{quality}" / "plan.json"
        result["plans"][f"{name}-q{quality}"] = json.loads(plan.read_text()) if plan.exists() else None
        gpu, cpu = load_codec(codecs, name, quality, args.device), load_codec(codecs, name, quality, "cpu")
        result["points"].append(codec_point(gpu, images))
        enc = dec = pixels = 0.0
        for image_name, image in images.items():
            on_gpu = compress(gpu, image)
            t0 = time.perf_counter()
            on_cpu = compress(cpu, image)
            t1 = time.perf_counter()
            cpu_of_cpu = decompress(on_cpu, cpu)
            t2 = time.perf_counter()
            enc, dec, pixels = enc + t1 - t0, dec + t2 - t1, pixels + image.shape[0] * image.shape[1]
            gpu_of_gpu, cpu_of_gpu, gpu_of_cpu = decompress(on_gpu, gpu), decompress(on_gpu, cpu), decompress(on_cpu, gpu)
            result["cross_device"].append({
                "codec": name, "quality": quality, "image": image_name,
                "gpu_file_bytes": len(on_gpu), "cpu_file_bytes": len(on_cpu), "same_bytes": on_gpu == on_cpu,
                "gpu_file_cpu_decode_identical": bool(np.array_equal(gpu_of_gpu, cpu_of_gpu)),
                "cpu_file_gpu_decode_identical": bool(np.array_equal(cpu_of_cpu, gpu_of_cpu)),
                "digests": [digest(a) for a in (gpu_of_gpu, cpu_of_gpu, cpu_of_cpu, gpu_of_cpu)]})
        result["cpu_speed"].append({"codec": name, "quality": quality, "threads": torch.get_num_threads(),
                                    "encode_mpix_s": pixels / 1e6 / enc, "decode_mpix_s": pixels / 1e6 / dec})
        print(f"{name} q{quality}: {result['points'][-1]['bpp']:.3f} bpp {result['points'][-1]['psnr']:.2f} dB; "
              f"cross-device identical: {all(r['gpu_file_cpu_decode_identical'] and r['cpu_file_gpu_decode_identical'] for r in result['cross_device'] if r['codec'] == name and r['quality'] == quality)}",
              flush=True)
        (args.out / "compression_gpu.partial.json").write_text(json.dumps(result, indent=1))  # if the time runs out
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=Path, default=ROOT / ".wallpapers")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gensdk-compression"))
    parser.add_argument("--minutes", type=float, default=5.3)
    parser.add_argument("--crops", type=int, default=16000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="16/24 channels: a CPU check of the whole script")
    parser.add_argument("--ladder", default="", help="model:q,... instead of the default 8")
    parser.add_argument("--train-one", nargs=2, metavar=("MODEL", "QUALITY"))
    args = parser.parse_args()
    if args.train_one:
        args.model, args.quality = args.train_one[0], int(args.train_one[1])
        return train(args)
    args.out.mkdir(parents=True, exist_ok=True)
    ladder = [(m, int(q)) for m, q in (item.split(":") for item in args.ladder.split(",") if item)] or LADDER
    start = time.time()
    make_crops(args.photos, args.crops, 256, args.work / "crops.npy")
    print(f"crops: {time.time() - start:.0f}s", flush=True)
    base = [sys.executable, __file__, "--out", str(args.out), "--work", str(args.work), "--minutes", str(args.minutes),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--device", args.device] + (["--tiny"] if args.tiny else [])
    procs = [subprocess.Popen(base + ["--train-one", m, str(q)], stdout=open(args.out / f"train_{m}-q{q}.txt", "w"),
                              stderr=subprocess.STDOUT) for m, q in ladder]
    codes = [p.wait() for p in procs]
    print(f"training: {time.time() - start:.0f}s, exit codes {codes}", flush=True)
    result = evaluate(args)
    result.update({"ladder": ladder, "minutes": args.minutes, "crops": args.crops, "batch_size": args.batch_size,
                   "lr": args.lr, "train_exit_codes": codes, "wall_s": time.time() - start,
                   "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                   "torch": torch.__version__, "python": sys.version.split()[0]})
    (args.out / "compression_gpu.json").write_text(json.dumps(result, indent=1))
    with tarfile.open(args.out / "train_logs.tar.gz", "w:gz") as tar:
        for path in sorted((args.work / "codecs").glob("*/log.jsonl")) + sorted((args.work / "codecs").glob("*/plan.json")):
            tar.add(path, arcname=f"{path.parent.name}/{path.name}")
    print(f"done: {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
