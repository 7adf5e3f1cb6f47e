"""Bulk jobs on a real Ray cluster: ``ray start --head`` and two worker nodes of one CPU each, separate process
groups on 127.0.0.1, shared by this module and torn down at its end (also on failure). A job run with ``--ray``
writes the same files as with local processes; a worker node killed in the middle of a job costs only its
unfinished tasks (its batch), which Ray runs again on the other node: nothing lost, nothing written twice.

With GENSDK_RAY_FAULT_RESULTS=PATH (e.g. benchmarks/results/ray_fault) the fault test writes its counts there.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import DRUG_SMILES, ENV, assert_user_error, gensdk

pytest.importorskip("ray")

from gensdk.core.executor import Backend  # noqa: E402
from gensdk.core.raycluster import LocalRayCluster  # noqa: E402

TESTS = Path(__file__).resolve().parent
# datasets of about a second each: long enough for a kill to land in the middle of one
SPEC = "rows: [100, 300]\nfeatures: [3, 8]\nclasses: [2, 3]\ngroups: [general, statistical, landmarking]\nsummary: [mean]\n"
N = 16


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    log = tmp_path_factory.mktemp("ray") / "bulk.jsonl"
    path = os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])
    started = time.monotonic()
    with LocalRayCluster(nodes=[1, 1], env={"PYTHONPATH": path, "GENSDK_BULK_LOG": str(log), "OMP_NUM_THREADS": "1"}
                         ) as running:
        running.bulk_log = log
        running.start_seconds = time.monotonic() - started
        yield running
        import ray

        ray.shutdown()  # this process's own connection (the actor test), before its cluster goes


def ray_gensdk(cluster, *args, **kw):
    return gensdk(*args, "--ray", cluster.address, **kw)


def family_files(folder: Path) -> dict[str, bytes]:
    """Every file of a family folder; timings (a dataset's seconds, the run's) left out."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name in ("meta_features.json", "family.json"):
                record = json.loads(data)
                record.pop("seconds", None), record.pop("seconds_this_run", None)
                data = json.dumps(record, sort_keys=True).encode()
            files[str(path.relative_to(folder))] = data
    return files


@pytest.fixture(scope="module")
def local_family(tmp_path_factory):
    """The family made by two local processes (in this process: a fork pool, before it ever connects to Ray)."""
    from gensdk_plugins.tabular.family import FamilySpec, generate_family

    folder = tmp_path_factory.mktemp("family")
    (folder / "spec.yaml").write_text(SPEC)
    generate_family(FamilySpec.load(folder / "spec.yaml"), N, folder / "local", workers=2, progress=False)
    return folder


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, monkeypatch):
    from gensdk.core.executor import connect
    from gensdk.errors import UserError

    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    result = gensdk("tabular", "family", "--n", 1, "--out", tmp_path / "f", "--ray", f"127.0.0.1:{port}")
    assert_user_error(result, f"--ray 127.0.0.1:{port}: cannot reach a Ray cluster there")
    assert not (tmp_path / "f").exists()  # refused before anything was written
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # --ray alone: the cluster RAY_ADDRESS names
    with pytest.raises(UserError, match="cannot reach a Ray cluster there"):
        connect("auto")


def test_a_family_on_ray_is_the_family_made_locally(cluster, local_family):
    ray_gensdk(cluster, "tabular", "family", "--n", N, "--spec", local_family / "spec.yaml", "--out",
               local_family / "ray", "--quiet", check=True)
    assert family_files(local_family / "ray") == family_files(local_family / "local")
    assert len(list((local_family / "ray").glob("ds-*"))) == N


def test_augment_on_ray_writes_the_same_images_and_manifest(cluster, tmp_path):
    rng = np.random.default_rng(0)
    for label in "ab":
        (tmp_path / "in" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(tmp_path / "in" / label / f"{i}.png")
    from gensdk_plugins.characters.augmentation import augment

    augment(tmp_path / "in", tmp_path / "local", factor=2, progress=False)
    ray_gensdk(cluster, "augment", tmp_path / "in", tmp_path / "ray", "--factor", 2, "--quiet", check=True)
    local = {p.relative_to(tmp_path / "local"): p.read_bytes() for p in (tmp_path / "local").rglob("*.png")}
    assert len(local) == 6 * 3
    for path, data in local.items():
        assert (tmp_path / "ray" / path).read_bytes() == data, path
    assert (tmp_path / "ray" / "manifest.csv").read_text() == (tmp_path / "local" / "manifest.csv").read_text()


def test_sampling_actors_draw_what_the_direct_sampler_draws(cluster, tmp_path):
    """Molecule sampling on Ray runs in actors that each load the model once (num_gpus=0 here: CPU actors)."""
    pytest.importorskip("rdkit")
    from gensdk.core.trainer import TrainConfig
    from gensdk_plugins.molecules.models import MoleculeGenerator, sample_smiles

    generator = MoleculeGenerator.create("char-rnn", DRUG_SMILES, d_model=16, layers=1)
    generator.fit(DRUG_SMILES, TrainConfig(steps=5, batch_size=16, device="cpu", progress=False), out_dir=tmp_path / "run")
    direct = sample_smiles(tmp_path / "run", 120, batch_size=20, seed=3, device="cpu")  # one thread, as each actor
    ray_gensdk(cluster, "molecules", "sample", tmp_path / "run", "-n", 120, "--batch-size", 20, "--seed", 3,
               "--device", "cpu", "--quiet", "-o", tmp_path / "ray.smi", check=True)
    assert (tmp_path / "ray.smi").read_text().splitlines() == direct and len(set(direct)) > 1


def test_a_dead_actor_s_task_goes_to_a_live_one(cluster, tmp_path):
    """This process connects to the cluster here (after the fork pools of the fixtures above)."""
    import functools

    import ray_tasks

    from gensdk.errors import UserError

    with pytest.raises(UserError, match="not a saved model"):  # a failed load comes back as the user's error
        list(Backend(ray=cluster.address).map(str, range(2), setup=ray_tasks.no_model))

    results = list(Backend(ray=cluster.address).map(functools.partial(ray_tasks.die_once, str(tmp_path / "died")),
                                                    range(8), setup=functools.partial(ray_tasks.loaded, "model")))
    assert [task for _, task, _ in results] == list(range(8)) and (tmp_path / "died").exists()
    assert all(state == f"model in {pid}" for state, _, pid in results)  # each actor loaded its own copy once


def test_batches_keep_every_core_busy_and_the_results_in_order(cluster):
    from gensdk.core.executor import MAX_BATCH, batch_size

    assert batch_size(10_000, 1) == MAX_BATCH and batch_size(16, 2) == 2 and batch_size(3, 16) == 1
    assert batch_size(300, 4) == 19  # ceil(300 / 16): about four batches per core
    tasks = list(range(50))  # 2 CPUs: batches of 7, the last one of 1
    backend = Backend(ray=cluster.address)
    assert list(backend.map(str, tasks)) == [str(t) for t in tasks]
    assert sorted(backend.map(str, tasks, ordered=False)) == sorted(str(t) for t in tasks)


def test_a_killed_node_costs_only_its_unfinished_tasks(cluster, local_family):
    """Node 1 is killed (every process of it, SIGKILL) while it runs a dataset; the job finishes on node 0. Its
    batch (2 datasets here) runs again there: a dataset of it already written is found, not written again."""
    out = local_family / "fault"
    cluster.bulk_log.write_text("")
    started = time.monotonic()
    job = subprocess.Popen([sys.executable, "-m", "gensdk", "tabular", "family", "--n", str(N), "--spec",
                            str(local_family / "spec.yaml"), "--out", str(out), "--quiet", "--ray", cluster.address],
                           env={**ENV, "GENSDK_BULK_LOG": str(cluster.bulk_log)}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        while killed is None and time.monotonic() - started < 120 and job.poll() is None:
            node = cluster.node_pids(1)
            events = _events(cluster.bulk_log)
            written = {Path(e["path"]).name for e in events if e["event"] == "write"}
            running = [e["task"] for e in events if e["event"] == "attempt" and e["pid"] in node
                       and _dataset(e["task"]) not in written]
            if running and written:  # node 1 is in the middle of a dataset, and the job is under way
                cluster.kill_node(1)
                killed = _dataset(running[-1])
            time.sleep(0.02)
        stdout, stderr = job.communicate(timeout=300)
    finally:
        job.kill()
    assert killed is not None, "node 1 never ran a dataset"
    assert job.returncode == 0, stderr
    seconds = time.monotonic() - started

    events = _events(cluster.bulk_log)
    attempts = Counter(_dataset(e["task"]) for e in events if e["event"] == "attempt")
    writes = Counter(Path(e["path"]).name for e in events if e["event"] == "write"
                     and Path(e["path"]).parent == out.resolve())
    expected = {f"ds-{i:05d}" for i in range(N)}
    counts = {"tasks": N, "task_attempts": sum(attempts.values()), "tasks_retried": sum(v > 1 for v in attempts.values()),
              "outputs_lost": len(expected - {p.name for p in out.glob("ds-*")}),
              "outputs_written_twice": sum(writes[name] > 1 for name in expected),
              "outputs_written": sum(writes[name] for name in expected), "killed_during": killed,
              "job_seconds": round(seconds, 1)}
    assert attempts[killed] >= 2 and counts["tasks_retried"] >= 1, counts
    assert counts["outputs_lost"] == 0 and counts["outputs_written_twice"] == 0, counts
    assert set(attempts) == expected and counts["outputs_written"] == N, counts
    assert family_files(out) == family_files(local_family / "local")  # the same bytes as the local job's
    if os.environ.get("GENSDK_RAY_FAULT_RESULTS"):
        _record(Path(os.environ["GENSDK_RAY_FAULT_RESULTS"]), counts)


def _events(log: Path) -> list[dict]:
    """The bulk log's records (a line being appended as it is read is left for the next read)."""
    events = []
    for line in log.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return events


def _dataset(task: str) -> str:
    """The dataset a family task builds: its task key is repr((spec, index, targets, out))."""
    index = int(task.split(", ")[-3]) if task.count(", ") >= 3 else -1
    return f"ds-{index:05d}"


def _record(path: Path, counts: dict) -> None:
    sys.path.insert(0, str(TESTS.parent / "benchmarks"))
    from common import provenance, write_results

    setup = (f"a cluster of `ray start` processes on this machine: a head (0 CPUs) and 2 worker nodes of 1 CPU; "
             f"`gensdk tabular family --n {N} --ray` (pymfe general+statistical+landmarking, about a second a "
             f"dataset; Ray tasks of 2 datasets each); every process of node 1 SIGKILLed while it built a dataset; "
             f"the outputs compared byte for byte with the local backend's")
    record = {"title": "Ray backend: a worker node killed mid-job", **provenance(),
              "command": f"GENSDK_RAY_FAULT_RESULTS={path} python -m pytest tests/test_ray_backend.py",
              "setup": setup, "load_average": [round(x, 2) for x in os.getloadavg()], **counts}
    table = [setup + f". Load average at the end: {record['load_average']}.", "",
             "| tasks | task attempts | tasks retried | outputs lost | outputs written twice | job seconds |",
             "|---|---|---|---|---|---|",
             f"| {counts['tasks']} | {counts['task_attempts']} | {counts['tasks_retried']} | {counts['outputs_lost']} | "
             f"{counts['outputs_written_twice']} | {counts['job_seconds']} |"]
    write_results(path, record, table)
