"""Run untrusted commands: compilers, and the binaries they build from generated programs.

Generated code is hostile input. Each command runs in a new session, with its working directory in a
fresh private folder (``Sandbox.path``), a minimal environment, stdout and stderr going to files in
that folder, and rlimits on CPU time, address space, file size, processes and core dumps; a wall
clock kills its process group.

As root (the CI and the harness machines) each sandbox also gets an unprivileged uid of its own, in
new network and mount namespaces: there is no network (only a loopback that is down), and the
world-writable directories (/tmp, /var/tmp, /dev/shm, ...) are read-only, so the sandbox folder is
the only place the command can write. The uid makes RLIMIT_NPROC bite (root ignores it) and lets
every run end by killing everything of that uid: a fork bomb or a daemon that left its session
(setsid) does not outlive the run. While a sandbox is open its process is a child subreaper, so those
orphans come back to it and are reaped, not left as zombies under an init that may never reap them
(zombies would still count against the uid's RLIMIT_NPROC). Setuid programs run unprivileged
(no_new_privs).

Not root: the rlimits hold (RLIMIT_NPROC counts all of the user's processes, so it is set above the
current count) and the network is cut off through a user namespace where the kernel allows one; but
/tmp stays writable, and a process that leaves its process group can survive the run: there is no
uid of its own to kill. ``Sandbox.network_isolated`` says whether the namespaces worked (a warning
says so once when they did not: the commands then run without them).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import math
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from gensdk.core.executor import Backend

MB = 1 << 20
UID_BASE, UID_SLOTS = 61000, 4000  # below nobody (65534), so inside any container's uid map
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
# Where any uid may write: made read-only inside the sandbox (the sandbox folder stays writable).
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue", tempfile.gettempdir())

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@dataclass(frozen=True)
class Limits:
    seconds: float = 10.0  # wall clock; the CPU limit (RLIMIT_CPU) is ceil(seconds) + 1
    memory_mb: int | None = 1024  # RLIMIT_AS; None or 0: not set (ASan reserves terabytes of shadow)
    file_mb: int = 64  # RLIMIT_FSIZE: every file written, stdout and stderr included
    processes: int = 64  # RLIMIT_NPROC (threads count too)
    keep_output: int = 1 << 20  # bytes of stdout / stderr read back


@dataclass
class Outcome:
    returncode: int | None  # exit code; None when killed by a signal or on timeout
    signal: int | None  # the signal that ended it (SIGKILL when the wall clock did)
    timed_out: bool  # wall clock or CPU limit
    stdout: bytes
    stderr: bytes
    seconds: float  # wall time

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.signal is None and not self.timed_out

    @property
    def status(self) -> str:
        """One word or two for reports: ``timeout``, ``exit 0``, ``signal SIGSEGV``."""
        if self.timed_out:
            return "timeout"
        if self.signal is not None:
            return f"signal {_signal_name(self.signal)}"
        return f"exit {self.returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class Sandbox:
    """``with Sandbox() as box: box.write("a.c", src); box.run(["gcc", "a.c"])``."""

    network_isolated: bool | None = None  # per process: None until the first run has tried
    _reaping = 0  # sandboxes open in this process as root: the process is a subreaper while there are any

    def __init__(self, dir: str | os.PathLike | None = None):
        self._dir = dir
        self.path: Path | None = None
        self.uid: int | None = None  # the sandbox's own uid (root only)
        self._lock: int | None = None

    def __enter__(self) -> Sandbox:
        self.path = Path(tempfile.mkdtemp(prefix="gensdk-sandbox-", dir=self._dir))
        try:
            if os.geteuid() == 0:
                self.uid, self._lock = _take_uid()
                Sandbox._reaping += 1
                _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))  # orphans come back to be reaped
                os.chown(self.path, self.uid, self.uid)
                os.chmod(self.path, 0o700)
                _kill_processes_of(self.uid)  # of an earlier process that held this uid and died
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.uid is not None:
            _kill_processes_of(self.uid)
            Sandbox._reaping -= 1
            if Sandbox._reaping == 0:  # other code's orphans go back to init, as they expect
                _libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        if self.path is not None:
            _remove(self.path)
        if self._lock is not None:
            os.close(self._lock)  # frees the uid for another sandbox
            self._lock = None

    def write(self, name: str, data: str | bytes) -> Path:
        """A file in the sandbox folder, readable and writable by the sandboxed commands."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"{name!r}: not a plain file name")
        path = self.path / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # whatever an earlier run left under that name (a symlink, say) is never followed
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            if self.uid is not None:
                os.fchown(fd, self.uid, self.uid)
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def run(self, argv: list[str], limits: Limits = Limits(), env: dict | None = None,
            stdin: bytes | None = None) -> Outcome:
        """Run ``argv`` in the sandbox folder under ``limits``. A command that cannot be executed
        (not found, not executable by the sandbox uid) gives exit status 127 / 126 as a shell would."""
        if Sandbox.network_isolated is None:
            Sandbox.network_isolated = self._probe()
        environ = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C", **(env or {}),
                   "HOME": str(self.path), "TMPDIR": str(self.path)}
        setup = _child_setup(self._isolation() if Sandbox.network_isolated else None, _rlimits(limits, self.uid),
                             self.uid)
        with contextlib.ExitStack() as stack:
            # Unnamed files (O_TMPFILE) in the sandbox folder: RLIMIT_FSIZE caps them, nothing to clean up.
            out, err = (stack.enter_context(tempfile.TemporaryFile(dir=self.path)) for _ in range(2))
            if stdin is None:
                inp = subprocess.DEVNULL
            else:
                inp = stack.enter_context(tempfile.TemporaryFile(dir=self.path))
                inp.write(stdin)
                inp.seek(0)
            start = time.monotonic()
            try:
                proc = subprocess.Popen(argv, cwd=self.path, env=environ, stdin=inp, stdout=out, stderr=err,
                                        start_new_session=True, preexec_fn=setup)
            except OSError as e:
                if e.filename is None:  # not exec's failure (that names the program): ours, so raise
                    raise
                code = 127 if isinstance(e, FileNotFoundError) else 126
                return Outcome(code, None, False, b"", f"{argv[0]}: {e.strerror}\n".encode(), 0.0)
            timed_out = False
            try:
                proc.wait(timeout=limits.seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # a timeout, or an exception (Ctrl-C) while waiting: nothing may outlive the run
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if self.uid is not None:
                    _kill_processes_of(self.uid)
            seconds = time.monotonic() - start
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(limits.keep_output), err.read(limits.keep_output)
        code = proc.returncode
        sig = -code if code < 0 else None
        timed_out = timed_out or sig == signal.SIGXCPU
        return Outcome(None if sig or timed_out else code, sig, timed_out, stdout, stderr, seconds)

    def _isolation(self) -> tuple[int, bytes, tuple[bytes, ...], tuple[tuple[bytes, bytes], ...]]:
        """(unshare flags, sandbox folder, folders to make read-only, id maps to write): all computed
        here, in the parent, so the child only makes system calls."""
        if self.uid is not None:
            shared = {os.path.realpath(d) for d in SHARED_DIRS if _world_writable(d)}
            return (CLONE_NEWNS | CLONE_NEWNET, os.fsencode(self.path), tuple(map(os.fsencode, sorted(shared))), ())
        # Not root: a user namespace grants the right to a network namespace; map our own ids into it.
        uid, gid = os.geteuid(), os.getegid()
        maps = ((b"/proc/self/setgroups", b"deny"), (b"/proc/self/uid_map", b"%d %d 1" % (uid, uid)),
                (b"/proc/self/gid_map", b"%d %d 1" % (gid, gid)))
        return CLONE_NEWUSER | CLONE_NEWNET, b"", (), maps

    def _probe(self) -> bool:
        """Can this process isolate a child? If not, say so once and run without."""
        try:
            subprocess.run(["/bin/sh", "-c", "exit 0"], cwd=self.path, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
                           preexec_fn=_child_setup(self._isolation(), (), None))
            return True
        except (OSError, subprocess.SubprocessError) as e:
            warnings.warn(f"sandbox: no network or mount namespace for sandboxed commands ({e}): they can reach "
                          "the network", RuntimeWarning, stacklevel=3)
            return False


def _child_setup(isolation, rlimits, uid):
    """The preexec function: only system calls on values prepared by the parent (it runs between fork
    and exec, after setsid). Order matters: namespaces need root, rlimits are set before giving it up."""
    def setup():
        if isolation is not None:
            flags, box, shared, maps = isolation
            _check(_libc.unshare(flags))
            for path, data in maps:
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, data)
                os.close(fd)
            if shared:
                _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))  # nothing leaks out
                _check(_libc.mount(box, box, None, MS_BIND, None))  # its own mount: stays writable below
                for d in shared:
                    _check(_libc.mount(d, d, None, MS_BIND | MS_REC, None))
                    _check(_libc.mount(None, d, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None))
        for what, value in rlimits:
            resource.setrlimit(what, value)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))  # setuid binaries stay unprivileged
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    return setup


def _rlimits(limits: Limits, uid: int | None) -> list[tuple[int, tuple[int, int]]]:
    cpu = math.ceil(limits.seconds) + 1
    # A non-root user's processes all count against RLIMIT_NPROC: allow this many more than now.
    processes = limits.processes + (0 if uid is not None else _tasks_of(os.getuid()))
    files = limits.file_mb * MB
    wanted = [(resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_FSIZE, files, files), (resource.RLIMIT_CORE, 0, 0),
              (resource.RLIMIT_NPROC, processes, processes)]
    if limits.memory_mb:
        wanted.append((resource.RLIMIT_AS, limits.memory_mb * MB, limits.memory_mb * MB))
    result = []
    for what, soft, hard in wanted:
        _, current = resource.getrlimit(what)
        if current != resource.RLIM_INFINITY:  # never ask for more than the hard limit we have
            soft, hard = min(soft, current), min(hard, current)
        result.append((what, (soft, hard)))
    return result


# A fixed place for the uid slots, whatever TMPDIR says: every sandbox on the machine must see the same locks.
UID_LOCKS = Path("/run/gensdk-sandbox-uids" if os.path.isdir("/run") else "/tmp/gensdk-sandbox-uids")


def _take_uid() -> tuple[int, int]:
    """A uid no other live sandbox on this machine holds: a slot is an flock'ed file, released when
    the sandbox closes it or its process dies."""
    folder = UID_LOCKS
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{folder}: not a root-owned private folder; remove it")
    start = os.getpid() % UID_SLOTS
    for i in range(UID_SLOTS):
        uid = UID_BASE + (start + i) % UID_SLOTS
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except BlockingIOError:
            os.close(fd)
    raise RuntimeError(f"all {UID_SLOTS} sandbox uids are in use")


def _kill_processes_of(uid: int) -> None:
    """Kill every process of the sandbox uid and reap the orphans among them. A shell running as
    that uid sends kill(-1, SIGKILL): it reaches exactly that uid's processes, wherever they went
    (setsid, double fork), and the kernel lets no fork slip past it. (A shell, not os.fork: no
    Python runs in a child of a process that may have threads.)"""
    for _ in range(200):
        subprocess.run(["/bin/sh", "-c", "kill -s KILL -- -1"], user=uid, group=uid, extra_groups=[],
                       env={"PATH": os.defpath}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        alive = False
        for pid, state in _processes_of(uid):
            if state != "Z":
                alive = True  # dying, or not yet signalled: go round again
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # ours as subreaper; someone else's stays theirs
        if not alive:
            return
        time.sleep(0.005)
    warnings.warn(f"sandbox: processes of uid {uid} survived SIGKILL", RuntimeWarning)


def reap_abandoned() -> None:
    """Kill what still runs under a sandbox uid that no live sandbox holds: what a process killed in
    the middle of a sandboxed run (a pool worker stopped by ``Pool.terminate``) left behind."""
    if os.geteuid() != 0:
        return
    running = set()
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if name.isdigit() and UID_BASE <= (uid := os.stat(f"/proc/{name}").st_uid) < UID_BASE + UID_SLOTS:
                running.add(uid)
    for uid in sorted(running):
        try:
            fd = os.open(UID_LOCKS / str(uid), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live sandbox: not ours to kill
            _kill_processes_of(uid)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)


def _processes_of(uid: int) -> list[tuple[int, str]]:
    """(pid, state letter) of each process whose effective uid is ``uid`` (zombies included)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        found.append((int(name), f.read().rpartition(b")")[2].split()[0].decode()))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass  # gone meanwhile
    return found


def _tasks_of(uid: int) -> int:
    """Threads count against RLIMIT_NPROC, so count tasks, not processes."""
    total = 0
    for pid, _ in _processes_of(uid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/task"))
    return total


def _world_writable(path: str) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and bool(info.st_mode & stat.S_IWOTH)


def _remove(path: Path) -> None:
    """rmtree, even where the sandboxed code left folders without write or search permission (root
    needs none of this; a plain user does)."""
    if os.geteuid() != 0:
        for folder, subfolders, _ in os.walk(path):
            for name in subfolders:
                sub = os.path.join(folder, name)
                if not os.path.islink(sub):
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
    shutil.rmtree(path, ignore_errors=True)


class parallel:
    """``imap`` over a pool of forked processes that run sandboxes, or ``map`` in this process for
    one worker, or over a Ray cluster (``backend``: the core's backend with an address; each node's
    sandboxes live in its own temporary folder there). Results come in completion order, or in input
    order with ``ordered``.

    On an error (Ctrl-C included) the workers are killed at once (``Pool.terminate``, SIGTERM with its
    default action: a Python handler in the workers could miss a signal that lands just before they
    block on the pool's queue, and hang the pool). What they were running in their sandboxes is then
    killed (``reap_abandoned``) and their sandbox folders, kept under one scratch folder, removed.
    This pool is the sandboxes' own, not the core's local backend: it lives across many ``imap``
    calls (one per batch of generated programs) and owns the scratch folder its workers write in."""

    def __init__(self, workers: int | None, ordered: bool = False, backend: Backend | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.ordered = ordered
        self.backend = backend if backend is not None and backend.ray is not None else None
        self.pool = None
        self.scratch: str | None = None

    def __enter__(self):
        if self.backend is not None:
            return functools.partial(_ray_imap, self.backend, self.ordered)
        if self.workers == 1:
            return map
        import multiprocessing

        self.scratch = tempfile.mkdtemp(prefix="gensdk-pool-")
        os.chmod(self.scratch, 0o711)  # each sandbox's uid passes through to its own folder
        self.pool = multiprocessing.get_context("fork").Pool(self.workers, initializer=_worker_init,
                                                              initargs=(self.scratch,))
        return functools.partial(self.pool.imap if self.ordered else self.pool.imap_unordered, chunksize=1)

    def __exit__(self, *exc):
        if self.pool is None:
            return
        if exc[0] is None:
            self.pool.close()
        else:
            self.pool.terminate()
        self.pool.join()
        reap_abandoned()
        _remove(Path(self.scratch))


def _ray_imap(backend: Backend, ordered: bool, function, items):
    return backend.map(function, list(items), ordered=ordered)


def _worker_init(scratch: str) -> None:
    # Ctrl-C is the parent's to handle; a worker's sandboxes live in the pool's scratch folder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tempfile.tempdir = scratch
