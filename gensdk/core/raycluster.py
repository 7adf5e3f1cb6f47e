"""A Ray cluster made of processes on this machine: a head and worker nodes, each started by ``ray start`` on
127.0.0.1 in its own process group. Tests and benchmarks use it to run ``--ray`` jobs on a real cluster, and
to kill one node alone (its process group) in the middle of a job. It is torn down by killing those process
groups, never by ``ray stop``, which stops every Ray process of the machine, other users' clusters too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gensdk.extras import require


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    """``with LocalRayCluster(nodes=[1, 1]) as cluster:`` a head that runs no tasks (``head_cpus=0``) and one
    worker node per entry of ``nodes`` with that many CPUs; ``cluster.address`` for ``--ray``. ``head_gpus``:
    GPUs the head offers. ``env``: extra environment of every node's processes (the workers inherit it:
    PYTHONPATH, GENSDK_BULK_LOG)."""

    def __init__(self, nodes: list[int], head_cpus: int = 0, head_gpus: int = 0, env: dict[str, str] | None = None,
                 object_store_mb: int = 100):
        require("ray", "ray")
        self.nodes, self.head_cpus, self.head_gpus = list(nodes), head_cpus, head_gpus
        self.object_store_mb = object_store_mb
        # health checks every 0.5 s: a killed node is declared dead in seconds, not half a minute
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
                    "RAY_health_check_failure_threshold": "3", **(env or {})}
        self.groups: list[int] = []  # process group of the head, then of each worker node
        self.temp = ""
        self.address = ""

    def _ray_start(self, *args: str) -> int:
        """Run ``ray start ARGS`` in a new session; its process group (its pid), where the daemons it
        leaves running stay after it exits."""
        # this interpreter's ray (the `ray` script may be missing from PATH, as in a --target install)
        process = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--node-ip-address=127.0.0.1",
                                    f"--object-store-memory={self.object_store_mb << 20}", "--disable-usage-stats",
                                    *args],
                                   env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        self.groups.append(process.pid)
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{output}")
        return process.pid

    def start(self) -> LocalRayCluster:
        # a short folder of our own: Ray's socket paths live under it (at most 107 characters)
        self.temp = tempfile.mkdtemp(prefix="gsray-", dir="/tmp")
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        try:
            self._ray_start("--head", f"--port={port}", f"--num-cpus={self.head_cpus}",
                            f"--num-gpus={self.head_gpus}", "--include-dashboard=false", f"--temp-dir={self.temp}")
            for cpus in self.nodes:
                self._ray_start(f"--address={self.address}", f"--num-cpus={cpus}", "--num-gpus=0")
            self.wait_for_nodes(1 + len(self.nodes))
        except BaseException:
            self.stop()
            raise
        return self

    def alive_nodes(self) -> int:
        """Nodes the cluster counts as alive (asked of its GCS by `ray status`' own client)."""
        from ray._raylet import GcsClient  # the GCS client that `ray status` uses; no driver needed

        return sum(1 for node in GcsClient(address=self.address).get_all_node_info().values() if node.state == 0)

    def wait_for_nodes(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_nodes() != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster at {self.address} has {self.alive_nodes()} live nodes, "
                                   f"not {count}, after {timeout:g} s")
            time.sleep(0.25)

    def node_pids(self, index: int) -> set[int]:
        """The processes of worker node ``index`` (0-based): its process group (raylet, agents) and their
        descendants (the worker processes that run tasks, each in a session of its own)."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgid
        found = {pid for pid, (_, group) in parents.items() if group == self.groups[1 + index]}
        while True:
            more = {pid for pid, (parent, _) in parents.items() if parent in found} - found
            if not more:
                return found
            found |= more

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of worker node ``index``, as if its machine died."""
        for pid in self.node_pids(index):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for group in reversed(self.groups):
            _kill_group(group)
        self.groups.clear()
        if self.temp:
            shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
