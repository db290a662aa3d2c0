"""A sandbox forked and confined ahead of the next spawn (``ForkServer.prepare_ahead``).

A grading worker keeps one sandbox ready so that its fork, its confinement and the kernel's
wait when it joins its cgroups overlap with the tests of the submission before. It must be
exactly a fresh sandbox: no student code before its cells arrive, its own uid slot while the
previous one still runs, replaced when it died while waiting or when a spawn wants other
limits, and gone with the fork server.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from autograder.sandbox import ForkServer, Limits

LIMITS = Limits(call_wall_s=5, call_cpu_s=5)


@pytest.fixture()
def server():
    with ForkServer(LIMITS) as srv:
        srv.prepare_ahead = True
        yield srv


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_the_next_spawn_gets_the_prepared_sandbox(server):
    with server.spawn(["secret = 'first student'\n"]) as first:
        ahead = server._ahead
        assert ahead is not None and ahead.pid is None  # asked for; the reply not read yet
        assert ahead.launched()  # (what taking it does first)
        assert ahead.alive and ahead.status == "starting"
        assert not ahead.cells  # no code has run in it
        if first.uid is not None:
            assert ahead.uid != first.uid  # both alive: two uid slots
        assert set(ahead.cgroups).isdisjoint(first.cgroups)
    with server.spawn(["y = 2\n"]) as second:
        assert second is ahead and second.pid == ahead.pid
        assert second.read_global("y") == ("value", 2)
        assert second.read_global("secret") == ("undefined", None)  # a fresh process
        assert server._ahead is not None and server._ahead is not second


def test_a_prepared_sandbox_that_died_is_replaced(server):
    with server.spawn(["x = 1\n"]):
        pass
    dead = server._ahead
    assert dead.launched()
    os.kill(dead.pid, signal.SIGKILL)  # as the OOM killer or an operator might
    assert _wait_gone(dead.pid)
    with server.spawn(["x = 3\n"]) as sub:
        assert sub is not dead and sub.status == "ok"
        assert sub.read_global("x") == ("value", 3)
    assert not dead.alive or dead._closed


def test_other_limits_get_a_sandbox_of_their_own(server):
    with server.spawn(["x = 1\n"]):
        pass
    prepared = server._ahead
    other = Limits(call_wall_s=3, call_cpu_s=3, memory_mb=LIMITS.memory_mb // 2)
    with server.spawn(["x = 4\n"], limits=other) as sub:
        assert sub is not prepared
        assert sub.limits.memory_mb == other.memory_mb
    assert prepared._closed and _wait_gone(prepared.pid)


def test_closing_the_server_kills_the_prepared_sandbox():
    with ForkServer(LIMITS) as srv:
        srv.prepare_ahead = True
        with srv.spawn(["x = 1\n"]):
            pass
        ahead = srv._ahead
        assert ahead.launched()
        pid = ahead.pid
    assert _wait_gone(pid)


def test_a_prepared_sandbox_never_taken_is_closed_with_the_server():
    # its launch was only asked for: closing reads the fork server's reply, then kills it
    with ForkServer(LIMITS) as srv:
        srv.prepare_ahead = True
        with srv.spawn(["x = 1\n"]):
            pass
        ahead = srv._ahead
        assert ahead.pid is None
    assert ahead._closed and ahead.pid is not None
    assert _wait_gone(ahead.pid)


BUSY = """
import os, threading
def spin():
    while True:
        with open("keep.txt", "a") as f:
            f.write("x")
threading.Thread(target=spin, daemon=True).start()
secret = "first student"
"""


def test_a_background_close_is_done_before_the_next_request_returns(server):
    # a submission that keeps working after its grading (a thread writing to its directory)
    # is killed by the fork server's next task; the next sandbox (prepared before, with a
    # uid slot, cgroups and namespaces of its own) sees nothing of it, and any request answered
    # after the close finds it dead and reaped, its slot free
    first = server.spawn([BUSY])
    pid, uid, workdir = first.pid, first.uid, first.workdir
    first.close(wait=False)
    with server.spawn(["import os\nseen = sorted(os.listdir('.'))\n"]) as second:
        server.zygote_modules()  # a request sent after the cleanup: its reply comes after
        assert not os.path.exists(f"/proc/{pid}")  # killed and reaped, not just signalled
        if workdir:
            assert not os.path.exists(os.path.join(workdir, "keep.txt"))
        assert second.read_global("secret") == ("undefined", None)
        assert second.read_global("seen") == ("value", [])
        if uid is not None:
            assert second.uid != uid or not _processes_of(uid)


def _processes_of(uid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    if f"\nUid:\t{uid}\t" in f.read():
                        out.append(int(entry))
            except OSError:
                pass
    return out


def test_a_background_close_survives_a_dead_fork_server():
    # the reply never comes: the request fails, the child is killed from here as a fallback
    # (and dies with its fork server anyway), and the next spawn reports the server gone
    from autograder.sandbox import SandboxError

    with ForkServer(LIMITS) as srv:
        sub = srv.spawn(["x = 1\n"])
        pid = sub.pid
        os.kill(srv.zygote_pid, signal.SIGKILL)
        sub.close(wait=False)
        with pytest.raises(SandboxError):
            srv.spawn(["x = 2\n"])
        assert _wait_gone(pid)


def test_off_by_default():
    with ForkServer(LIMITS) as srv, srv.spawn(["x = 1\n"]):
        assert srv._ahead is None
