"""Bulk jobs as tasks, run by local processes (the default) or on a Ray cluster (``--ray [ADDRESS]``).

The commands that do bulk work (``gensdk augment``, ``tabular family``, ``molecules sample|evaluate``,
``fuzzing run``, ``architectures evaluate``) cut it into tasks and hand them to ``Backend.map``. What makes a
job's outputs the same on every backend, and safe when a task runs twice:

- a task is deterministic: its seed comes from the job's seed and the task's own key, never from the order
  of work or from the worker that runs it;
- a task writes its outputs atomically (``gensdk.core.io``) under names that its key decides, and skips an
  output that is already there, so a task run twice writes nothing twice;
- the driver alone writes a job's manifest or index, from the records the tasks return; a resumed job
  leaves out the tasks whose outputs exist.

On Ray, tasks travel in batches (``batch_size``): Ray's own cost of a task, about 25 ms measured on 2 cores,
is paid once per batch. A batch whose worker or node dies is retried elsewhere by Ray itself (``MAX_RETRIES``);
by the rules above a retry neither loses nor duplicates an output, and its tasks that had finished only find
their outputs there. Work that needs a model loaded once (GPU sampling) runs in actors that each hold one copy
(``setup``); a task of an actor that died goes to a live one.
Paths handed to tasks are absolute, and must name storage that every node sees.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import socket
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from gensdk.core.io import bulk_log
from gensdk.errors import UserError
from gensdk.extras import require

RAY_HELP = ("Run on a Ray cluster: alone, the cluster of RAY_ADDRESS or the one this machine is part of (ray start); "
            "or at ADDRESS (host:port, ray://host:10001). Inputs and outputs must be on storage every node sees.")
MAX_RETRIES = 3  # Ray runs a task again this many times when its worker or node dies
MAX_BATCH = 64  # tasks per Ray task at most: at ~0.1 s a task, Ray's cost per batch is then under 1%


@dataclass(frozen=True)
class Backend:
    """Where a job's tasks run: ``workers`` local processes (1: this process), or the Ray cluster at ``ray``
    ("auto": RAY_ADDRESS, else the cluster this machine is part of). A Ray backend connects when made, so
    that a cluster out of reach fails the command before it writes anything."""

    workers: int = 1
    ray: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be positive, got {self.workers}")
        if self.ray is not None:
            connect(self.ray)

    def map(self, function: Callable, tasks: Iterable[Any], *, ordered: bool = True,
            setup: Callable[[], Any] | None = None, gpus: float = 0) -> Iterator[Any]:
        """``function(task)`` for each task, results in task order (or as they finish: ``ordered=False``).

        ``function`` (and ``setup``) must be importable module-level functions or partials of them. With
        ``setup``, each worker process (on Ray: each actor) calls it once and tasks run as
        ``function(state, task)`` on what it returned: a model loaded once per worker. ``gpus``: GPUs each
        Ray task or actor holds. Close the iterator (``contextlib.closing``) to stop the workers at once
        when the caller fails."""
        if self.ray is not None:
            return _ray_map(self.ray, function, list(tasks), ordered, setup, gpus)
        return _local_map(self.workers, function, tasks, ordered, setup)

    def resolve_device(self, device: str) -> tuple[str, float]:
        """The device the workers use ("auto", "cpu", "cuda" or "cuda:N") and the GPUs each one holds. Locally
        this machine's (``gensdk.core.device``); on Ray, "auto" means GPUs where the cluster has them, and an
        actor sees its own GPU as "cuda"."""
        if self.ray is None:
            from gensdk.core.device import resolve_device

            return str(resolve_device(device)), 0
        if device == "cpu":
            return "cpu", 0
        has_gpus = connect(self.ray).cluster_resources().get("GPU", 0) >= 1
        if device == "auto":
            return ("cuda", 1) if has_gpus else ("cpu", 0)
        if not device.startswith("cuda"):
            raise UserError(f"unknown device {device!r}: expected 'auto', 'cpu' or 'cuda[:N]'")
        if not has_gpus:
            raise UserError(f"--device {device}: the Ray cluster at {self.ray} has no GPUs")
        return "cuda", 1  # each actor holds one GPU, which it sees as cuda:0


def batch_size(tasks: int, cpus: int) -> int:
    """Tasks per Ray task: multiprocessing's chunksize rule (about four batches per core, so that the cores
    finish together), at most MAX_BATCH."""
    return max(1, min(MAX_BATCH, -(-tasks // (4 * max(cpus, 1)))))


def _call(function: Callable, task: Any, *state: Any) -> Any:
    """``function(task)``, or ``function(state, task)`` in a worker that has a ``setup`` state."""
    if os.environ.get("GENSDK_BULK_LOG"):  # (the repr of a large task is not free)
        bulk_log({"event": "attempt", "task": _key(task), "pid": os.getpid()})
    return function(*state, task)


def _key(task: Any) -> str:
    """A short name of a task for the bulk log (a fault test counts attempts by it): its repr, or the head and
    tail of a long one (the tail holds the index or path of a task tuple)."""
    text = repr(task)
    return text if len(text) <= 240 else f"{text[:80]}...{text[-160:]}"


# --- local processes ------------------------------------------------------------------------------------

_state: tuple = ()  # (what ``setup`` returned,) in a local worker process, or () without setup


def _local_init(setup: Callable[[], Any] | None) -> None:
    global _state
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _state = (setup(),) if setup is not None else ()


def _local_call(function: Callable, task: Any) -> Any:
    return _call(function, task, *_state)


def _local_map(workers: int, function: Callable, tasks: Iterable[Any], ordered: bool,
               setup: Callable[[], Any] | None) -> Iterator[Any]:
    if workers == 1:
        state = (setup(),) if setup is not None else ()
        for task in tasks:
            yield _call(function, task, *state)
        return
    # fork: workers start at once and inherit the imports (spawn would cost seconds each). The tasks run
    # RDKit, pandas, compilers or a CPU model, never CUDA, so forking after this process started CUDA is safe.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_local_init, initargs=(setup,))
    mapper = pool.imap if ordered else pool.imap_unordered
    try:
        yield from mapper(functools.partial(_local_call, function), tasks, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()  # an error, Ctrl-C or the caller's close(): stop the workers now, not after their tasks
        raise
    finally:
        pool.join()


# --- Ray ------------------------------------------------------------------------------------------------


def connect(address: str) -> Any:
    """The ``ray`` module, connected to the cluster at ``address``; a cluster that cannot be reached is a
    UserError of one line (ray.init itself would wait minutes on an address where nothing listens)."""
    ray = require("ray", "ray")
    if ray.is_initialized():
        return ray
    target = os.environ.get("RAY_ADDRESS", "auto") if address == "auto" else address
    if target != "auto":
        _probe(target)
    try:
        # workers' output stays in the cluster's logs; errors come back as exceptions
        ray.init(address=target, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = "no Ray cluster found (run `ray start`, set RAY_ADDRESS or give --ray ADDRESS)" if target == "auto" \
            else f"cannot connect to the Ray cluster at {target}"
        raise UserError(f"--ray: {where}: {str(error).splitlines()[0] if str(error) else type(error).__name__}") \
            from None
    return ray


def _probe(address: str) -> None:
    """Check that something listens at host:port (or ray://host:port) before ray.init waits on it."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address}: expected host:port or ray://host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as error:
        raise UserError(f"--ray {address}: cannot reach a Ray cluster there ({error.strerror or error})") from None


class _Holder:
    """A Ray actor: ``setup`` once (a model onto its GPU), then tasks on what it returned. An error of
    ``setup`` comes back with each task, as a task's own error would."""

    def __init__(self, setup: Callable[[], Any]):
        try:
            self.state, self.error = setup(), None
        except Exception as error:  # noqa: BLE001 - raised again by run(), on the driver
            self.state, self.error = None, error

    def run(self, function: Callable, task: Any) -> Any:
        if self.error is not None:
            raise self.error
        return _call(function, task, self.state)


def _ray_map(address: str, function: Callable, tasks: list[Any], ordered: bool,
             setup: Callable[[], Any] | None, gpus: float) -> Iterator[Any]:
    ray = connect(address)
    resources = ray.cluster_resources()
    if setup is None:
        # batches of plain tasks, retried by Ray on another node when their worker or node dies
        cpus = int(resources.get("CPU", 1))
        size = batch_size(len(tasks), cpus)
        batches = [tasks[start:start + size] for start in range(0, len(tasks), size)]
        remote = ray.remote(_call_batch).options(num_cpus=1, num_gpus=gpus, max_retries=MAX_RETRIES,
                                                 retry_exceptions=False)
        window = max(4, 2 * cpus)  # enough queued to keep every core busy
        done = _submit_tasks(ray, lambda batch: remote.remote(function, batch), batches, window)
        results = ((number * size + offset, result) for number, batch in done for offset, result in enumerate(batch))
    else:
        results = _submit_to_actors(ray, function, tasks, setup, gpus, resources)
    return _in_order(results) if ordered else (result for _, result in results)


def _call_batch(function: Callable, batch: list[Any]) -> list[Any]:
    return [_call(function, task) for task in batch]


def _get(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the task's own exception (a UserError: one line, exit 2)
        raise error.cause from None


def _submit_tasks(ray: Any, submit: Callable[[Any], Any], tasks: list[Any], window: int
                  ) -> Iterator[tuple[int, Any]]:
    pending: dict[Any, int] = {}
    following = iter(enumerate(tasks))
    try:
        while True:
            for index, task in following:
                pending[submit(task)] = index
                if len(pending) >= window:
                    break
            if not pending:
                return
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(ref), _get(ray, ref)
    finally:
        for ref in pending:  # the caller failed or stopped: what is still queued goes
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _submit_to_actors(ray: Any, function: Callable, tasks: list[Any], setup: Callable[[], Any], gpus: float,
                      resources: dict[str, float]) -> Iterator[tuple[int, Any]]:
    """Tasks over actors that each hold what ``setup`` made: one actor per ``gpus`` GPUs of the cluster (per CPU
    with gpus=0), two tasks queued on each. Actors are not restarted (a restart would wait for the GPU that a
    lost node took with it): the tasks of an actor that died go back to the queue for the live ones."""
    count = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1))
    if count < 1:
        raise UserError("the Ray cluster has no GPUs for the model's workers; pass --device cpu")
    holder = ray.remote(_Holder).options(num_cpus=0 if gpus else 1, num_gpus=gpus, max_restarts=0,
                                         max_task_retries=0)
    actors = [holder.remote(setup) for _ in range(min(count, len(tasks)))]
    queue = collections.deque(enumerate(tasks))
    free = [a for a in actors for _ in range(2)]
    pending: dict[Any, tuple[Any, int, Any]] = {}
    try:
        while queue or pending:
            while queue and free:
                actor, (index, task) = free.pop(), queue.popleft()
                pending[actor.run.remote(function, task)] = (actor, index, task)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            actor, index, task = pending.pop(ref)
            try:
                result = _get(ray, ref)
            except ray.exceptions.RayActorError:
                queue.appendleft((index, task))
                free = [a for a in free if a is not actor]
                actors = [a for a in actors if a is not actor]
                if not actors:
                    raise UserError("every Ray worker that held the model died; see the cluster's logs") from None
                continue
            free.append(actor)
            yield index, result
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)


def _in_order(results: Iterator[tuple[int, Any]]) -> Iterator[Any]:
    """(index, result) pairs in any order -> results in index order."""
    waiting, following = {}, 0
    for index, result in results:
        waiting[index] = result
        while following in waiting:
            yield waiting.pop(following)
            following += 1
