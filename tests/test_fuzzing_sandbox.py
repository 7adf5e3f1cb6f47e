"""The sandbox holds hostile programs: an infinite loop, a fork bomb, endless output, writes outside
its folder, the network, a daemon that escapes its session. Root-only properties (its own uid, no
writes outside the folder) are skipped for a plain user."""

import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest

from gensdk_plugins.fuzzing.sandbox import Limits, Sandbox, _processes_of, parallel

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid drop and mount isolation need root")
needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not installed")


def build(box: Sandbox, name: str, source: str) -> str:
    box.write(f"{name}.c", source)
    built = box.run(["gcc", "-w", f"{name}.c", "-o", name])
    assert built.ok, built.stderr
    return f"./{name}"


def sh(box: Sandbox, script: str, limits: Limits = Limits(seconds=10)):
    return box.run(["/bin/sh", "-c", script], limits)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_outcome_fields_stdin_env_and_home():
    with Sandbox() as box:
        done = box.run(["/bin/sh", "-c", 'cat; echo "$X $HOME $TMPDIR"; echo oops >&2; exit 3'],
                       env={"X": "x"}, stdin=b"in\n")
        assert (done.returncode, done.signal, done.timed_out, done.ok) == (3, None, False, False)
        assert done.stdout == f"in\nx {box.path} {box.path}\n".encode() and done.stderr == b"oops\n"
        killed = sh(box, "kill -SEGV $$")
        assert (killed.returncode, killed.signal, killed.status) == (None, signal.SIGSEGV, "signal SIGSEGV")
        assert sh(box, "exit 0").ok and sh(box, "exit 0").status == "exit 0"
        missing = box.run(["no-such-program-here"])
        assert missing.returncode in (126, 127) and not missing.ok


def test_infinite_loop_is_killed_at_the_wall_clock():
    with Sandbox() as box:
        start = time.monotonic()
        done = sh(box, "while :; do :; done", Limits(seconds=1))
        assert done.timed_out and done.returncode is None and not done.ok and done.status == "timeout"
        assert 1 <= done.seconds < 3 and time.monotonic() - start < 3


@needs_gcc
def test_fork_bomb_stops_and_leaves_nothing():
    with Sandbox() as box:
        bomb = build(box, "bomb", "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n")
        start = time.monotonic()
        done = box.run([bomb], Limits(seconds=2, processes=32))
        assert done.timed_out and time.monotonic() - start < 5
        if ROOT:
            assert _processes_of(box.uid) == []  # killed and reaped: not even zombies
        assert sh(box, "echo alive").stdout == b"alive\n"  # the next run in the same box works


@needs_gcc
def test_memory_limit_makes_malloc_fail():
    with Sandbox() as box:
        hog = build(box, "hog", '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n'
                                'int main(void) { char *p = malloc(512 << 20); if (!p) { puts("no"); return 1; }\n'
                                'memset(p, 1, 512 << 20); puts("yes"); return 0; }\n')
        assert box.run([hog], Limits(memory_mb=128)).stdout == b"no\n"
        assert box.run([hog], Limits(memory_mb=None)).stdout == b"yes\n"


def test_endless_output_stops_at_the_file_limit():
    with Sandbox() as box:
        start = time.monotonic()
        done = box.run(["yes"], Limits(seconds=20, file_mb=1, keep_output=1000))
        assert not done.ok and not done.timed_out and done.signal == signal.SIGXFSZ
        assert done.stdout == b"y\n" * 500 and time.monotonic() - start < 10


def test_writes_stay_inside_the_sandbox(tmp_path):
    outside = Path(tempfile.mkdtemp())  # root's own temp folder (mode 0700)
    shared = Path(tempfile.gettempdir()) / f"gensdk-test-{os.getpid()}"  # world-writable /tmp
    try:
        with Sandbox() as box:
            done = sh(box, f"echo in > inside; echo out > {outside}/f; echo out > {shared}")
            assert (box.path / "inside").read_text() == "in\n"
            if ROOT:
                assert not (outside / "f").exists() and not shared.exists() and done.returncode != 0
    finally:
        shutil.rmtree(outside)
        shared.unlink(missing_ok=True)


def test_write_never_follows_a_link_the_sandbox_left(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep")
    with Sandbox() as box:
        assert sh(box, f"ln -s {target} program.c").ok
        box.write("program.c", "int main(void) { return 0; }\n")
        assert target.read_text() == "keep" and not (box.path / "program.c").is_symlink()
        with pytest.raises(ValueError):
            box.write("../escape.c", "")


def test_no_network():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        with Sandbox() as box:
            devices = sh(box, "cat /proc/net/dev").stdout.decode()
            if not Sandbox.network_isolated:
                pytest.skip("this machine gives no network namespace")
            assert [line.split(":")[0].strip() for line in devices.splitlines()[2:]] == ["lo"]
            done = box.run(["bash", "-c", f"echo hello > /dev/tcp/127.0.0.1/{port}"], Limits(seconds=5))
            assert done.returncode != 0
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came
    finally:
        listener.close()


@needs_root
def test_a_daemon_that_escaped_its_session_is_gone_after_the_run():
    with Sandbox() as box:
        # double fork + setsid: the daemon leaves the process group that a timeout would kill
        done = sh(box, "(setsid sh -c 'echo $$ > pid; exec sleep 300' &); sleep 0.3; echo started")
        assert done.stdout == b"started\n"
        pid = int((box.path / "pid").read_text())
        assert not alive(pid) and _processes_of(box.uid) == []


@needs_root
def test_each_sandbox_has_its_own_uid():
    with Sandbox() as a, Sandbox() as b:
        assert a.uid != b.uid and os.stat(a.path).st_uid == a.uid
        assert sh(a, "id -u").stdout == f"{a.uid}\n".encode()
        assert sh(a, f"ls {b.path}").returncode != 0  # one sandbox cannot look into another


def test_the_folder_is_removed_even_when_locked_down():
    with Sandbox() as box:
        assert sh(box, "mkdir -p d/e && touch d/e/f && chmod 000 d/e && chmod 500 d && chmod 400 d/e/f 2>/dev/null;"
                       " true").ok
        box.write("readonly.c", "x")
        path = box.path
    assert not path.exists()


def _sleep_in_a_sandbox(seconds: int) -> bool:
    with Sandbox() as box:
        return box.run(["sleep", str(seconds)], Limits(seconds=60)).ok


def _sleeping(seconds: int) -> list[int]:
    """The pids of ``sleep SECONDS`` processes."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sleep\0%d\0" % seconds and alive(int(pid)):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids need root")
def test_an_error_in_the_parent_stops_the_pool_and_what_its_sandboxes_ran():
    """Workers stuck in 37-second runs: an error in the parent ends it all in seconds, kills the sandboxed
    sleeps and removes the sandbox folders. Repeated while the workers are idle too (the pool once hung
    there: a SIGTERM handler in the workers could miss its signal)."""
    start = time.monotonic()
    with pytest.raises(KeyError):
        with parallel(2) as imap:
            results = imap(_sleep_in_a_sandbox, [37, 37])
            time.sleep(1.5)
            assert len(_sleeping(37)) == 2
            raise KeyError("stop")
    assert time.monotonic() - start < 15
    assert _sleeping(37) == []
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("gensdk-pool-")]
    for _ in range(30):
        with pytest.raises(KeyError):
            with parallel(2, ordered=True) as imap:
                assert list(imap(abs, [-1, 2])) == [1, 2]
                raise KeyError("idle")
    del results
