"""Throughput of one CPU-bound bulk job on the local backend and on Ray, in one run.

The job is `gensdk tabular family --n N` (an SCM-prior dataset and its pymfe meta-features per task; the spec
below). For each k of --workers: the family made by k local processes (`--workers k`), then by a Ray cluster of
this machine that runs k worker processes (`ray start --head --num-cpus k`, started before the clock, as a
user's cluster would be), each into a fresh folder (on Ray, several datasets per Ray task:
`gensdk.core.executor.batch_size`). The clock runs from the command's start to its end: process start, imports,
Ray's connection and its workers' start-up are part of the price. Each pair's files are checked to be the same
(timings aside); the datasets' own build times are summed too, so that what a backend adds shows apart from
how fast the machine ran the work itself. The machine's load average is recorded before and after every run: on a shared
machine the figures move with it.

    python benchmarks/ray_backend.py --n 120 --workers 1 2 4 --tag cpu2 --note "..."
    bash benchmarks/gpu_ray.sh cpu|cpu16      # on the GPU machine's 16 cores (its wheels: see that script)

Writes benchmarks/results/ray_backend-TAG.md and its record results/raw/ray_backend-TAG.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import provenance, write_results  # noqa: E402

SPEC = """# about 0.4 s per dataset on one core: CPU-bound, no I/O to speak of
rows: [100, 300]
features: [3, 8]
classes: [2, 3]
groups: [general, statistical, landmarking]
summary: [mean]
"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def timed_family(n: int, spec: Path, out: Path, extra: list[str]) -> dict:
    before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gensdk", "tabular", "family", "--n", str(n), "--spec", str(spec),
                    "--out", str(out), "--quiet", *extra], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - started
    inside = json.loads((out / "family.json").read_text())["seconds_this_run"]
    # the datasets' own build times: what the job costs beyond them is the backend's
    tasks = sum(json.loads(path.read_text())["seconds"] for path in out.glob("ds-*/meta_features.json"))
    return {"seconds": round(seconds, 2), "seconds_in_job": inside, "seconds_in_tasks": round(tasks, 1),
            "datasets_per_second": round(n / seconds, 3), "load_before": round(before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def same_files(a: Path, b: Path) -> bool:
    def files(folder: Path) -> dict[str, bytes]:
        found = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name not in ("family.json",):
                data = path.read_bytes()
                if path.name == "meta_features.json":
                    record = json.loads(data)
                    record.pop("seconds")
                    data = json.dumps(record).encode()
                found[str(path.relative_to(folder))] = data
        return found
    return files(a) == files(b)


def report(args: argparse.Namespace, rows: list[dict]) -> None:
    """Write the results of the runs so far (after each k: a long run that stops early keeps its rows)."""
    one = next((r for r in rows if r["workers"] == 1), None)
    record = {"title": "Ray backend vs local processes: gensdk tabular family", **provenance(),
              "cpu": f"{cpu_name()}, {os.cpu_count()} logical cores", "note": args.note, "n": args.n,
              "spec": SPEC, "load_average_at_end": os.getloadavg(), "runs": rows,
              "ray_overhead_at_1_worker": None if one is None else round(one["ray_over_local"] - 1, 3)}
    table = [f"CPU: {record['cpu']}. Family of {args.n} datasets (spec in the JSON). " + (args.note or ""), "",
             "| workers | local s | Ray s | Ray / local | local datasets/s | Ray datasets/s | in-job s (local, Ray) "
             "| in-task s (local, Ray) | datasets per Ray task | load avg before (local, Ray) | same files |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['workers']} | {r['local']['seconds']} | {r['ray']['seconds']} | {r['ray_over_local']} | "
                     f"{r['local']['datasets_per_second']} | {r['ray']['datasets_per_second']} | "
                     f"{r['local']['seconds_in_job']}, {r['ray']['seconds_in_job']} | "
                     f"{r['local']['seconds_in_tasks']}, {r['ray']['seconds_in_tasks']} | {r['ray_batch']} | "
                     f"{r['local']['load_before']}, {r['ray']['load_before']} | {r['same_files']} |")
    if one is not None:
        verdict = "within" if record["ray_overhead_at_1_worker"] <= 0.15 else "NOT within"
        table += ["", f"Ray's overhead at 1 worker: {record['ray_overhead_at_1_worker']:+.1%} ({verdict} 15%)."]
    write_results(ROOT / "benchmarks" / "results" / f"ray_backend-{args.tag}", record, table)
    print("\n".join(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=150, help="datasets in the family")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker processes to compare")
    parser.add_argument("--tag", default="cpu", help="results file suffix")
    parser.add_argument("--note", default="", help="a line for the record (e.g. provisional: shared machine)")
    args = parser.parse_args()

    from gensdk.core.executor import batch_size
    from gensdk.core.raycluster import LocalRayCluster

    scratch = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    spec = scratch / "spec.yaml"
    spec.write_text(SPEC)
    rows = []
    try:
        for k in args.workers:
            local = timed_family(args.n, spec, scratch / f"local-{k}", ["--workers", str(k)])
            with LocalRayCluster(nodes=[], head_cpus=k) as cluster:
                ray = timed_family(args.n, spec, scratch / f"ray-{k}", ["--ray", cluster.address])
            rows.append({"workers": k, "local": local, "ray": ray, "ray_batch": batch_size(args.n, k),
                         "ray_over_local": round(ray["seconds"] / local["seconds"], 3),
                         "same_files": same_files(scratch / f"local-{k}", scratch / f"ray-{k}")})
            print(json.dumps(rows[-1]), flush=True)
            report(args, rows)
            for name in (f"local-{k}", f"ray-{k}"):
                shutil.rmtree(scratch / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
