"""The shipped codec's GPU work (issue 21), one step per device command (10 minutes at most each):

    python benchmarks/compression_vr.py crops --photos .wallpapers --out /tmp/cvr/crops.npy
    python benchmarks/compression_vr.py speed --crops /tmp/cvr/crops.npy --out OUT [--old-code DIR]
    python benchmarks/compression_vr.py train --crops /tmp/cvr/crops.npy --run /tmp/cvr/run --steps TOTAL \
        --minutes 8.5 --out OUT [--carry SHARDS]
    python benchmarks/compression_vr.py finish --crops /tmp/cvr/crops.npy --run /tmp/cvr/run --out OUT

``speed``: training steps/s of one mean-scale hyperprior (q3, 128/192 channels, batch 16 of 256x256
crops), of the variable-rate model and of the channel-context one, eagerly, as one CUDA graph, and
through torch.compile; with
``--old-code`` (a copy of gensdk at an earlier commit) also that code's eager step, the "before".

``train``: the channel-context variable-rate hyperprior on a cosine schedule of TOTAL steps, trained in slices of
``--minutes`` (Trainer.fit's stop_after); each slice writes the checkpoint as shards of at most
16 MiB to OUT (weight_shards.py split-checkpoint), which the next session carries back (``--carry``).
``record.json`` accumulates the GPU seconds of every slice.

``finish``: prepare the trained model for coding (calibration on 32 training crops), export it as
the shipped codec (OUT/shipped/), and measure it on the 6 test photos at every quality: GPU encode
and decode megapixels/s, and cross-device decoding (files written on the GPU decoded on the CPU and
the reverse, pixel for pixel).

``--tiny --device cpu`` runs train and finish with 16/24 channels on the CPU: a check of the script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import provenance, write_report  # noqa: E402

ARCH = "channel-context-hyperprior"  # the shipped codec's architecture
BATCH = 16


# --- crops -----------------------------------------------------------------------------------------
def _crops_of(job):
    from gensdk_plugins.compression.data import random_crops

    path, n, size, seed = job
    return random_crops([path], n, size, seed)


def crops(args) -> None:
    """``--n`` random 256x256 crops, spread evenly over the photos, each photo with its own seed."""
    from gensdk_plugins.compression.data import image_files, save_crops

    files = image_files(args.photos)
    jobs = [(f, args.n // len(files) + (i < args.n % len(files)), 256, 1000 + i) for i, f in enumerate(files)]
    with Pool(min(16, len(jobs))) as pool:
        array = np.concatenate(pool.map(_crops_of, jobs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_crops(args.out, array)
    print(f"{len(array)} crops of {len(files)} photos -> {args.out}", flush=True)


def _data(path: Path) -> torch.Tensor:
    from gensdk_plugins.compression.data import load_crops

    return torch.from_numpy(np.ascontiguousarray(load_crops(path))).permute(0, 3, 1, 2).contiguous()


# --- speed -----------------------------------------------------------------------------------------
SPEED_VARIANTS = {"eager": {}, "cuda-graph": {"cuda_graph": True}, "compile": {"compile": True},
                  "cuda-graph-bf16": {"cuda_graph": True, "bf16": True},
                  "cuda-graph-channels-last": {"cuda_graph": True, "channels_last": True},
                  "cuda-graph-bf16-channels-last": {"cuda_graph": True, "bf16": True, "channels_last": True}}


def speed_one(arch: str, variant: str, data: torch.Tensor, steps: int, device: str = "cuda") -> dict:
    from gensdk.core.trainer import Trainer, TrainConfig
    from gensdk_plugins.compression.models import build_codec

    torch.manual_seed(0)
    model = build_codec(arch, 3)
    options = SPEED_VARIANTS[variant]
    config = TrainConfig(steps=steps, batch_size=BATCH, device=device, lr_schedule="cosine", warmup_steps=20,
                         log_every=steps // 4, progress=False, checkpoint_every=10**9, **{"bf16": False, **options})
    start = time.perf_counter()
    trainer = Trainer(model, data, config)
    trainer.fit()
    images_per_s = trainer.throughput  # after the first logging window (warm-up, capture, compilation)
    return {"arch": arch, "variant": variant, "steps": steps, "steps_per_s": round(images_per_s / BATCH, 1),
            "images_per_s": round(images_per_s, 1), "seconds_with_warmup": round(time.perf_counter() - start, 1),
            "last_loss": trainer.history[-1]["loss"]}


def speed(args) -> None:
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    data = _data(args.crops)[:4096]
    rows = []
    if args.old_code:  # the step as it was before this work, in its own process on its own code
        # -P: the working folder's own gensdk and plugins/ must not shadow the old copy's
        path = f"{args.old_code.resolve()}:{ROOT / 'benchmarks'}:{os.environ.get('PYTHONPATH', '')}"
        rows.append(json.loads(subprocess.run(
            [sys.executable, "-P", "-c", OLD_SPEED, str(args.crops), str(args.steps)], check=True, capture_output=True,
            text=True, env={**os.environ, "PYTHONPATH": path}).stdout.splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    # compilation takes minutes of device time: tried on the mean-scale model only
    plan = [("mean-scale-hyperprior", v) for v in args.variants.split(",")] + [
        ("variable-rate-hyperprior", "cuda-graph"), (ARCH, "eager"), (ARCH, "cuda-graph")]
    for arch, variant in plan:
        rows.append(speed_one(arch, variant, data, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    write(args.out / "compression_speed.json", {"title": "codec training speed", **provenance(), "batch": BATCH,
                                                "crop": 256, "rows": rows})


# the eager step of an earlier commit's code (its train_codec set cudnn.benchmark and TF32 the same way)
OLD_SPEED = """
import json, sys, numpy as np, torch
from gensdk.core.trainer import Trainer, TrainConfig
from plugins.compression.data import load_crops
from plugins.compression.models import build_codec
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
data = torch.from_numpy(np.ascontiguousarray(load_crops(sys.argv[1]))).permute(0, 3, 1, 2).contiguous()[:4096]
steps = int(sys.argv[2])
torch.manual_seed(0)
trainer = Trainer(build_codec("mean-scale-hyperprior", 3), data, TrainConfig(steps=steps, batch_size=16,
    device="cuda", bf16=False, lr_schedule="cosine", warmup_steps=20, log_every=steps // 4, progress=False,
    checkpoint_every=10**9))
trainer.fit()
print(json.dumps({"arch": "mean-scale-hyperprior", "variant": "eager, before (old code)", "steps": steps,
                  "steps_per_s": round(trainer.throughput / 16, 1), "images_per_s": round(trainer.throughput, 1)}))
"""


# --- training in slices ----------------------------------------------------------------------------
def train(args) -> None:
    from gensdk.core.trainer import Trainer, TrainConfig
    from gensdk_plugins.compression.models import build_codec
    from weight_shards import join_checkpoint, read_shards, split_checkpoint

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    args.run.mkdir(parents=True, exist_ok=True)
    checkpoint = args.run / "checkpoint.pt"
    record = {"slices": []}
    # the record of the slices before: the carried one, else the one this machine's run folder keeps
    for earlier in ([args.carry / "record.json"] if args.carry else []) + [args.run / "record.json"]:
        if earlier.is_file():
            record = json.loads(earlier.read_text())
            break
    if args.carry and not checkpoint.is_file():
        join_checkpoint(args.carry, checkpoint)
        (args.run / "log.jsonl").write_text(record.get("log_jsonl", ""))
    torch.manual_seed(args.seed)
    model = build_codec(ARCH, lr=args.lr, **sizes(args))
    if args.init_weights and not checkpoint.is_file():  # a new schedule from carried weights, with a fresh optimizer
        unexpected = model.load_state_dict(read_shards(args.init_weights, "weights"), strict=False).unexpected_keys
        assert not unexpected, f"weights the model does not have: {unexpected[:5]}"
    config = TrainConfig(steps=args.steps, batch_size=BATCH, seed=args.seed, device=args.device, bf16=False,
                         cuda_graph=True, lr_schedule="cosine", warmup_steps=min(1000, args.steps // 10),
                         checkpoint_every=5000, log_every=min(500, args.steps), progress=False)
    start = time.perf_counter()
    trainer = Trainer(model, _data(args.crops), config, out_dir=args.run)
    first = record["slices"][-1]["to_step"] if record["slices"] else 0
    trainer.fit(resume=checkpoint.is_file(), stop_after=args.minutes * 60)
    seconds = time.perf_counter() - start
    record["slices"].append({**provenance(), "from_step": first, "to_step": trainer.step, "gpu_seconds": round(seconds, 1),
                             "steps_per_s": round(trainer.throughput / BATCH, 1) if trainer.throughput else None})
    record.update({"total_steps": args.steps, "steps_done": trainer.step, "finished": trainer.finished,
                   "gpu_minutes": round(sum(s["gpu_seconds"] for s in record["slices"]) / 60, 2),
                   "crops": str(args.crops), "lr": args.lr, "seed": args.seed})
    # the training log rides inside record.json; the full model's 7 shards and their index fill the 8 files a device
    # command returns, so --record-to can put the record elsewhere (finish returns it)
    if (args.run / "log.jsonl").is_file():
        record["log_jsonl"] = (args.run / "log.jsonl").read_text()
    split_checkpoint(checkpoint, args.out)
    write(args.record_to or args.out / "record.json", record)
    write(args.run / "record.json", record)
    last = trainer.history[-1] if trainer.history else {}
    print(json.dumps({"step": trainer.step, "finished": trainer.finished, "seconds": round(seconds, 1),
                      **{k: last.get(k) for k in ("loss", "bpp", "psnr")}}), flush=True)


# --- finish: prepare, export, measure ----------------------------------------------------------------
def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def _cpu_side(job):
    """Encode on the CPU, and decode the GPU's file and the CPU's own on the CPU."""
    shipped, name, quality, image, gpu_file = job
    from gensdk_plugins.compression.codec import compress, decompress
    from gensdk_plugins.compression.training import open_codec

    torch.set_num_threads(1)
    cpu = open_codec(shipped, "cpu")
    cpu_file = compress(cpu, image, quality=quality)
    return name, quality, cpu_file, decompress(gpu_file, cpu), decompress(cpu_file, cpu)


def finish(args) -> None:
    from gensdk_plugins.compression.codec import compress, decompress
    from gensdk_plugins.compression.models import build_codec
    from gensdk_plugins.compression.data import load_test_photos
    from gensdk_plugins.compression.evaluate import codec_point
    from gensdk_plugins.compression.training import CALIBRATION_CROPS, export_codec, open_codec

    record = json.loads((args.record).read_text()) if args.record and args.record.is_file() else {}
    # the weights from the checkpoint, which every slice leaves (a finished schedule also leaves model/)
    model = build_codec(ARCH, **sizes(args))
    model.load_state_dict(torch.load(args.run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"])
    model.to(args.device)
    data = _data(args.crops)
    model.prepare_codec([data[i:i + 1].float().div(255) for i in range(CALIBRATION_CROPS)])
    shipped = args.out / "shipped"
    export_codec(model, shipped, {**{k: v for k, v in record.items() if k != "log_jsonl"}, "data": f"{len(data)} random 256x256 crops of the {args.photos_count} "
                                  "photographs listed in plugins/compression/data.py (WALLPAPER_PHOTOS)",
                                  "calibration": f"the first {CALIBRATION_CROPS} crops"})
    gpu = open_codec(shipped, args.device)
    images = load_test_photos()
    result = {"title": "shipped codec on the GPU", **provenance(), "points": [], "cross_device": []}
    jobs = []
    for quality in gpu.qualities:
        result["points"].append(codec_point(gpu, images, quality=quality))
        point = result["points"][-1]
        print(f"q{quality}: {point['bpp']:.3f} bpp {point['psnr']:.2f} dB, GPU encode {point['encode_mpix_s']:.1f} "
              f"decode {point['decode_mpix_s']:.1f} MP/s", flush=True)
        jobs += [(shipped, name, quality, image, compress(gpu, image, quality=quality)) for name, image in images.items()]
    with Pool(args.workers) as pool:
        for (name, quality, cpu_file, cpu_of_gpu, cpu_of_cpu), job in zip(pool.imap(_cpu_side, jobs), jobs):
            gpu_file = job[4]
            gpu_of_gpu, gpu_of_cpu = decompress(gpu_file, gpu), decompress(cpu_file, gpu)
            result["cross_device"].append({
                "image": name, "quality": quality, "gpu_file_bytes": len(gpu_file), "cpu_file_bytes": len(cpu_file),
                "gpu_file_cpu_decode_identical": bool(np.array_equal(gpu_of_gpu, cpu_of_gpu)),
                "cpu_file_gpu_decode_identical": bool(np.array_equal(cpu_of_cpu, gpu_of_cpu)),
                "digests": [digest(a) for a in (gpu_of_gpu, cpu_of_gpu, cpu_of_cpu, gpu_of_cpu)]})
    checks = [r[k] for r in result["cross_device"] for k in ("gpu_file_cpu_decode_identical", "cpu_file_gpu_decode_identical")]
    result["cross_device_identical"] = f"{sum(checks)} of {len(checks)}"
    print(f"cross-device identical: {result['cross_device_identical']}", flush=True)
    write(args.out / "compression_shipped_gpu.json", result)
    if record:
        write(args.out / "record.json", record)


# --- report: benchmarks/results/compression_vr.md from the records under results/raw/compression_vr/ ----------
RAW = ROOT / "benchmarks" / "results" / "raw" / "compression_vr"


def report(args) -> None:
    load = lambda name: json.loads((args.raw / name).read_text())  # noqa: E731
    training, shipped = load("training_record.json"), load("shipped_gpu.json")
    speeds = [load(name) for name in ("speed_old_code.json", "speed.json", "speed_compile.json", "speed_bf16.json")]
    lines = ["# The shipped codec: training, speed and cross-device decoding on the GPU (issue 21)", "",
             "Records: `benchmarks/results/raw/compression_vr/`. The `commit` field of the first session's records is stale "
             "(the device's copy of the tree reported 55ef07e; the code that ran is the one named below); "
             "speed_bf16.json's (e29dbad) is right. Rate-distortion and BD-rates "
             "against the classical codecs, measured on this machine's CPU from the same model's files: "
             "`compression_rd.md`.", "",
             "## Training", "",
             f"- model: {ARCH} (N=128, M=192, 4 channel groups, 8 qualities by gain units), batch {BATCH} of random "
             "256x256 crops", f"- data: {training['data']}", f"- schedule: {training['schedule']}",
             f"- code: {training['code']}", f"- GPU minutes of training: {training['gpu_minutes']} (the slices below; "
             "the crops, the speed runs and the export came on top)", "",
             "| slice | date | device | steps | schedule | GPU s | steps/s |", "|---|---|---|---|---|---|---|"]
    for i, part in enumerate(training["slices"], 1):
        lines.append(f"| {i} | {part['date']} | {part['device']} | {part['from_step']:,}-{part['to_step']:,} | "
                     f"{part['schedule_steps']:,} | {part['gpu_seconds']} | {part['steps_per_s']} |")
    lines += ["", f"First slice: `{training['slices'][0]['command']}`; the next ones resumed it with longer `--steps` "
              "(commands in the record).", "", "## Training speed (batch 16 of 256x256, 300 steps each)", "",
              "Rows compare only within one device: the H200 rows hold the old code's step; the H100 run (bf16 and "
              "channels_last on top of the CUDA graph) has its own CUDA-graph row as its baseline.", "",
              "| model | step | device | steps/s | images/s | date | command |", "|---|---|---|---|---|---|---|"]
    for record in speeds:
        for row in record["rows"]:
            lines.append(f"| {row['arch']} | {row['variant']} | {record['device'].split(',')[0]} | {row['steps_per_s']} | "
                         f"{row['images_per_s']} | {record['date']} | `{record['command']}` |")
    lines += ["", "## The shipped codec on the GPU (6 test photos, every quality)", "",
              f"- {shipped['date']}, {shipped['device']}", f"- command: `{shipped['command']}`",
              f"- cross-device decoding, pixel-identical: **{shipped['cross_device_identical']}** checks "
              "(each photo and quality: the GPU's file decoded on the CPU, and the CPU's file decoded on the GPU)", "",
              "| quality | bpp | PSNR dB | MS-SSIM | GPU encode MP/s | GPU decode MP/s |", "|---|---|---|---|---|---|"]
    for point in shipped["points"]:
        lines.append(f"| {point['quality']} | {point['bpp']:.4f} | {point['psnr']:.2f} | {point['ms_ssim']:.4f} | "
                     f"{point['encode_mpix_s']:.2f} | {point['decode_mpix_s']:.2f} |")
    write_report(args.out, lines)
    print("\n".join(lines))


def sizes(args) -> dict:
    return {"N": 16, "M": 24} if args.tiny else {}


def write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crops")
    c.add_argument("--photos", type=Path, default=ROOT / ".wallpapers")
    c.add_argument("--n", type=int, default=20000)
    c.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("speed")
    s.add_argument("--crops", type=Path, required=True)
    s.add_argument("--steps", type=int, default=400)
    s.add_argument("--old-code", type=Path, default=None)
    s.add_argument("--variants", default=",".join(SPEED_VARIANTS), help="of the mean-scale model (compile takes minutes)")
    s.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--crops", type=Path, required=True)
    t.add_argument("--run", type=Path, required=True)
    t.add_argument("--steps", type=int, required=True, help="the whole schedule's length")
    t.add_argument("--minutes", type=float, required=True, help="this slice's wall time")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--carry", type=Path, default=None, help="shards of an earlier slice (split-checkpoint)")
    t.add_argument("--init-weights", type=Path, default=None,
                   help="weight shards (weights-*.safetensors) to start a new schedule from, without optimizer state")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--record-to", type=Path, default=None, help="where record.json goes (default: OUT)")
    t.add_argument("--device", default="cuda")
    t.add_argument("--tiny", action="store_true", help="16/24 channels: a CPU check of the script")
    r = sub.add_parser("report")
    r.add_argument("--raw", type=Path, default=RAW)
    r.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compression_vr")
    f = sub.add_parser("finish")
    f.add_argument("--crops", type=Path, required=True)
    f.add_argument("--run", type=Path, required=True)
    f.add_argument("--record", type=Path, default=None, help="the training's record.json")
    f.add_argument("--photos-count", type=int, default=39)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--device", default="cuda")
    f.add_argument("--workers", type=int, default=16)
    f.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    {"crops": crops, "speed": speed, "train": train, "finish": finish, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
