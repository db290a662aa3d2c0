"""Sandbox against hostile submissions: each case checks the outcome, that the grader and the
fork server are fine afterwards, and that no process of the submission survives close()."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time

import numpy as np
import pytest

from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
    SandboxError,
    StudentError,
)
from tests.proc_helpers import processes_of, ticks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.geteuid() == 0
LIMITS = Limits(run_wall_s=4, run_cpu_s=2, call_wall_s=2, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


@pytest.fixture(scope="module")
def loose_server():
    """seccomp and Landlock off, to exercise the other layers (uid, cgroups, netns, rlimits)."""
    with ForkServer(LIMITS, seccomp=False, landlock=False) as fs:
        yield fs


def assert_clean(server, sub):
    """No process of the slot uid or the child's session, cgroups and workdir gone,
    fork server alive and still serving."""
    assert processes_of(sub.uid, sub.pid, getattr(sub, "closed_ticks", None)) == []
    for cg in sub.cgroups:
        assert not os.path.exists(cg)
    assert not os.path.exists(sub.workdir)
    os.kill(server.zygote_pid, 0)
    with server.spawn(["def ok():\n    return 1"]) as s:
        assert s.proxy("ok")() == 1


class run:
    """``with run(server, cells) as sub``: spawn, and note when close() started."""

    def __init__(self, server, cells, limits=None):
        self.sub = server.spawn(cells if isinstance(cells, list) else [cells], limits=limits)

    def __enter__(self):
        return self.sub

    def __exit__(self, *exc):
        self.sub.closed_ticks = ticks()
        self.sub.close()


# ----------------------------------------------------------------------------- time


def test_infinite_loop_at_top_level(server):
    with run(server, ["x = 1", "while True:\n    pass", "y = 2"]) as sub:
        assert sub.status == "timeout"
        assert [c.index for c in sub.cells] == [0]
        with pytest.raises(SandboxDied):
            sub.proxy("x")
    assert_clean(server, sub)


def test_sleep_at_top_level_hits_the_wall_clock(server):
    with run(server, ["import time\ntime.sleep(3600)"]) as sub:
        assert sub.status == "timeout"
        assert "wall-clock" in sub.reason
    assert_clean(server, sub)


@pytest.mark.parametrize("body", ["while True:\n        pass", "import time\n    time.sleep(3600)"])
def test_infinite_loop_inside_a_call(server, body):
    with run(server, f"def f():\n    {body}\ndef g():\n    return 2") as sub:
        assert sub.status == "ok"
        with pytest.raises(CallTimeout):
            sub.proxy("f")()
        with pytest.raises(SandboxDied):
            sub.proxy("g")()
    assert_clean(server, sub)


@pytest.mark.parametrize("prelude", ["", "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"])
def test_cpu_limit_per_call(server, prelude):
    """RLIMIT_CPU (SIGXCPU) stops it; if the student ignores SIGXCPU, the grader's CPU watch."""
    limits = Limits(run_wall_s=10, call_wall_s=60, call_cpu_s=1, memory_mb=512)
    cell = prelude + "def spin():\n    while True:\n        pass"
    with run(server, [cell], limits=limits) as sub:
        with pytest.raises(CallTimeout, match="CPU"):
            sub.proxy("spin")()
        assert sub.status == "timeout"
    assert_clean(server, sub)


def test_thread_swarm_is_bounded(server):
    cell = ("import threading, time\nts = []\ntry:\n    for i in range(200):\n"
            "        t = threading.Thread(target=time.sleep, args=(3600,), daemon=True)\n"
            "        t.start()\n        ts.append(t)\nexcept RuntimeError as e:\n    err = str(e)\n"
            "n = len(ts)\ndef count():\n    return n")
    with run(server, [cell]) as sub:
        if server.protections["rlimit_nproc"] or server.protections["cgroup_pids"]:
            assert sub.proxy("count")() < LIMITS.nproc
    assert_clean(server, sub)


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize("bomb", ["b = bytearray(10**11)", "import numpy as np\na = np.ones(10**11)",
                                  "xs = []\nwhile True:\n    xs.append(bytearray(50 * 2**20))"])
def test_memory_bombs(server, bomb):
    with run(server, [bomb, "after = 1"]) as sub:
        assert sub.cells[0].error.startswith("MemoryError") or \
            "Unable to allocate" in sub.cells[0].error
        assert sub.cells[1].ok
        assert sub.status == "memory"
    assert_clean(server, sub)


OOM_CELL = """
import os, time
for i in range(2):
    if os.fork() == 0:
        held = b'x' * (100 * 2**20)
        time.sleep(3600)
time.sleep(0.5)
chunks = []
for i in range(12):
    chunks.append(b'y' * (25 * 2**20))
"""


def test_memory_cgroup_kills_a_process_swarm(loose_server):
    """RLIMIT_AS is per process; several processes together hit the memory cgroup."""
    if not loose_server.protections["cgroup_memory"]:
        pytest.skip("no memory cgroup")
    limits = Limits(run_wall_s=20, memory_mb=256, nproc=16)  # cgroup: 256 + 64 + 128 MB
    with run(loose_server, [OOM_CELL, "after = 1"], limits=limits) as sub:
        assert sub.status == "memory", (sub.status, sub.reason, sub.output[-500:])
        assert "memory" in sub.reason
        assert not sub.alive
    assert_clean(loose_server, sub)


def test_memory_bomb_inside_a_call(server):
    with run(server, "import numpy as np\ndef f():\n    return np.ones(10**11)") as sub:
        with pytest.raises(StudentError, match="Unable to allocate|MemoryError"):
            sub.proxy("f")()
        assert sub.alive
    assert_clean(server, sub)


# ----------------------------------------------------------------------------- processes


def test_fork_is_refused_under_seccomp(server):
    if not server.protections["seccomp"]:
        pytest.skip("seccomp not available")
    cell = "import os, subprocess\ntry:\n    os.fork()\nexcept OSError as e:\n    err = str(e)\n"
    with run(server, [cell, "subprocess.run(['/bin/true'])"]) as sub:
        assert sub.cells[0].ok
        assert not sub.cells[1].ok and "PermissionError" in sub.cells[1].error
    assert_clean(server, sub)


FORK_SWARM = """
import os, time
pids = []
for i in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        print("fork failed:", e)
        break
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    pids.append(pid)
print("forked", len(pids))
"""


def test_fork_swarm_is_bounded_and_killed(loose_server):
    with run(loose_server, [FORK_SWARM]) as sub:
        assert sub.status == "ok", sub.output
        forked = int(re.search(r"forked (\d+)", sub.output).group(1))
        if loose_server.protections["rlimit_nproc"] or loose_server.protections["cgroup_pids"]:
            assert forked < LIMITS.nproc
            assert "fork failed" in sub.output
    assert_clean(loose_server, sub)


def test_fork_bomb_times_out_and_everything_dies(loose_server):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    with run(loose_server, [bomb]) as sub:
        assert sub.status == "timeout"
    assert_clean(loose_server, sub)


DAEMON = """
import os, time
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        time.sleep(3600)
    os._exit(0)
os.waitpid(pid, 0)
daemon = int(os.read(r, 100))
print("daemon", daemon)
"""


def test_setsid_daemon_is_killed_on_close(loose_server):
    with run(loose_server, [DAEMON]) as sub:
        assert sub.status == "ok", sub.output
        daemon = int(re.search(r"daemon (\d+)", sub.output).group(1))
        assert os.path.exists(f"/proc/{daemon}")
        with open(f"/proc/{daemon}/stat") as f:
            assert int(f.read().rsplit(")", 1)[1].split()[3]) != sub.pid  # left the session
    assert not os.path.exists(f"/proc/{daemon}")
    assert_clean(loose_server, sub)


# ----------------------------------------------------------------------------- exits and signals


def test_exits_inside_cells_and_calls(server):
    with run(server, ["import sys, os\nsys.exit(2)", "def f():\n    sys.exit(5)",
                      "def g():\n    os._exit(9)"]) as sub:
        assert sub.status == "ok" and sub.cells[0].error.startswith("SystemExit")
        with pytest.raises(StudentError, match="SystemExit: 5"):
            sub.proxy("f")()
        with pytest.raises(SandboxDied, match="code 9"):
            sub.proxy("g")()
    assert_clean(server, sub)
    with run(server, ["import os\nos._exit(4)", "never = 1"]) as sub:
        assert sub.status == "died" and "code 4" in sub.reason
        assert sub.cells == []
    assert_clean(server, sub)


def test_exit_while_a_grandchild_holds_the_connection(loose_server):
    cell = "import os, time\nif os.fork() == 0:\n    time.sleep(3600)\nos._exit(3)"
    with run(loose_server, [cell]) as sub:
        assert sub.status == "died" and "code 3" in sub.reason  # noticed, not a time-out
    assert_clean(loose_server, sub)


@pytest.mark.parametrize("srv", ["server", "loose_server"])
def test_signals_cannot_reach_the_grader(request, srv):
    server = request.getfixturevalue(srv)
    me = os.getpid()
    cells = [f"import os, signal\ntry:\n    os.kill({me}, signal.SIGKILL)\nexcept OSError as e:\n    e1 = e",
             "try:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError as e:\n    e2 = e",
             f"try:\n    os.killpg(os.getpgid({me}), signal.SIGKILL)\nexcept OSError as e:\n    e3 = e",
             "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError as e:\n    e4 = e",
             "print('still here')"]
    with run(server, cells) as sub:
        if ROOT:
            assert {"e1", "e2", "e3"} <= sub.names()
        # kill(-1) either failed (seccomp) or killed only the sandbox's own uid, itself included
        assert sub.status in ("ok", "died")
    assert_clean(server, sub)


# ----------------------------------------------------------------------------- output and files


def test_output_flood_is_capped_and_stopped(server):
    with run(server, ["while True:\n    print('x' * 1000)"]) as sub:
        assert sub.status in ("output", "timeout")
        assert len(sub.output) < LIMITS.output_bytes + 200
        assert "output truncated" in sub.output
    assert_clean(server, sub)


def test_moderate_output_is_truncated_but_the_run_goes_on(server):
    with run(server, ["print('y' * 200_000)", "z = 1"]) as sub:
        assert sub.status == "ok" and sub.cells[1].ok
        assert "output truncated" in sub.output
    assert_clean(server, sub)


def test_file_size_and_count_limits(server):
    cells = ["with open('big', 'wb') as f:\n    f.write(b'x' * (2 << 20))",
             "fs = [open(f'f{i}', 'w') for i in range(100)]",
             "import os\nhere = os.getcwd()"]
    with run(server, cells) as sub:
        assert "File too large" in sub.cells[0].error
        assert "Too many open files" in sub.cells[1].error
        assert sub.cells[2].ok
    assert_clean(server, sub)


def test_disk_quota_of_the_working_directory(server):
    if not server.protections["disk_quota"]:
        pytest.skip("no private tmpfs on this machine")
    cell = ("n = 0\nwhile n < 100:\n    with open(f'f{n}', 'wb') as f:\n"
            "        f.write(b'x' * 900_000)\n    n += 1")
    limits = Limits(run_wall_s=10, memory_mb=512, fsize_mb=1, disk_mb=4)
    with run(server, [cell, "import os\nfiles = len(os.listdir('.'))\ndef count():\n"
                            "    return files"], limits=limits) as sub:
        assert "No space left on device" in sub.cells[0].error
        assert sub.proxy("count")() <= 5
        assert os.listdir(sub.workdir) == []  # the files lived in the child's own tmpfs
    assert_clean(server, sub)


@pytest.mark.parametrize("srv", ["server", "loose_server"])
def test_files_outside_the_sandbox_are_unreadable(request, srv):
    server = request.getfixturevalue(srv)
    cells = [f"open({os.path.join(REPO, 'solutions', '__init__.py')!r}).read()",
             f"open({os.path.join(REPO, 'pyproject.toml')!r}).read()",
             "import os\nos.listdir('/root')\nfor e in os.listdir('/root'):\n"
             "    assert e == '.pyenv', e  # at most the interpreter is visible\n"
             "    raise PermissionError('only the interpreter is visible')",
             "open('/etc/shadow').read()",
             f"open({os.path.join(REPO, 'evil.txt')!r}, 'w')",
             "open('mine.txt', 'w').write('ok')"]
    with run(server, cells) as sub:
        denied = [not c.ok and ("PermissionError" in c.error or "FileNotFound" in c.error)
                  for c in sub.cells[:5]]
        if server.protections["file_isolation"]:  # Landlock: only the interpreter's libraries
            assert denied == [True] * 5, sub.cells
        elif server.protections["setuid"]:  # uid only: what "others" may not read or write
            assert denied[2:] == [True] * 3, sub.cells
        assert sub.cells[5].ok
    assert not os.path.exists(os.path.join(REPO, "evil.txt"))
    assert_clean(server, sub)


@pytest.mark.parametrize("srv", ["server", "loose_server"])
def test_network_is_unreachable(request, srv):
    server = request.getfixturevalue(srv)
    if not server.protections["netns"] and not server.protections["seccomp"]:
        pytest.skip("no network isolation on this machine")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        cell = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                "s.sendall(b'hello')")
        with run(server, [cell]) as sub:
            assert not sub.cells[0].ok
            assert "OSError" in sub.cells[0].error or "PermissionError" in sub.cells[0].error \
                or "Network is unreachable" in sub.cells[0].error
        listener.settimeout(0.2)
        with pytest.raises(OSError):
            listener.accept()
    finally:
        listener.close()
    assert_clean(server, sub)


# ----------------------------------------------------------------------------- data attacks

EVIL = """
import numpy as np, os
MARKER = {marker!r}

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))

class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def __array_finalize__(self, obj):
        pass

def reduce_obj():
    return Evil()

def liar():
    return np.zeros(3).view(Liar)

def obj_array():
    return np.array([Evil()], dtype=object)

def huge():
    return np.broadcast_to(np.float64(1.0), (10**9,))

def forged_frame():
    # write a message claiming a 1 TB array straight to the protocol socket
    import json, struct
    raw = json.dumps({{"op": "return", "value": {{"a": 0}}, "mutations": []}}).encode()
    os.write(3, struct.pack("<4sII", b"SBX1", len(raw), 1) + raw + struct.pack("<Q", 2**40))
    return 1

def forged_pickle():
    import io, json, struct
    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    payload = buf.getvalue()
    raw = json.dumps({{"op": "return", "value": {{"a": 0}}, "mutations": []}}).encode()
    os.write(3, struct.pack("<4sII", b"SBX1", len(raw), 1) + raw
             + struct.pack("<Q", len(payload)) + payload)
    return 1
"""


# What a hostile return value proves does not depend on the wall clock: generous wall limits, so
# a loaded machine cannot turn a refused message into a time-out (the CPU, memory and file
# limits stay those of LIMITS).
PATIENT = dataclasses.replace(LIMITS, run_wall_s=30, call_wall_s=30)


def test_hostile_return_values(server, tmp_path):
    marker = str(tmp_path / "pwned")
    with run(server, [EVIL.format(marker=marker)], limits=PATIENT) as sub:
        assert sub.cells[0].ok, sub.cells
        with pytest.raises(ProtocolError, match="Evil"):
            sub.proxy("reduce_obj")()
        got = sub.proxy("liar")()
        assert type(got) is np.ndarray and not np.array_equal(got, np.ones(3))
        with pytest.raises(ProtocolError, match="dtype object"):
            sub.proxy("obj_array")()
        with pytest.raises(ProtocolError):
            sub.proxy("huge")()
        with pytest.raises(ProtocolError, match="too large"):
            sub.proxy("forged_frame")()
        with pytest.raises(SandboxDied):  # killed after a malformed message
            sub.proxy("liar")()
    assert_clean(server, sub)
    with run(server, [EVIL.format(marker=marker)], limits=PATIENT) as sub:
        with pytest.raises(ProtocolError, match="not allowed"):
            sub.proxy("forged_pickle")()
    assert not os.path.exists(marker)
    assert_clean(server, sub)


def test_patched_builtins_and_numpy_stay_in_the_child(server):
    cells = ["import builtins, numpy as np\nbuiltins.abs = lambda x: 42\n"
             "builtins.len = lambda *a: 0\nbuiltins.isinstance = lambda *a: True\n"
             "np.array_equal = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
             "np.testing.assert_allclose = lambda *a, **k: None",
             "def f(x):\n    return x * 2\ndef g():\n    return len([1, 2])"]
    with run(server, cells) as sub:
        assert sub.proxy("g")() == 0  # the patch holds for the student's own code...
        got = sub.proxy("f")(np.arange(3.0))  # ...but not for the sandbox's protocol code
        assert abs(-2) == 2
        with pytest.raises(AssertionError):
            np.testing.assert_allclose(got, np.zeros(3))
        assert not np.array_equal(got, np.zeros(3))
        assert not np.allclose(got, np.zeros(3))
    assert_clean(server, sub)


def test_closing_twice_and_after_the_server_stops():
    fs = ForkServer(LIMITS).start()
    sub = fs.spawn(["import time\ndef f():\n    return 1"])
    zygote = fs.zygote_pid
    fs.close()  # closes the open submission too
    assert not sub.alive
    sub.close()
    assert processes_of(sub.uid, sub.pid, ticks()) == []
    time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(zygote, 0)


def test_a_failed_confinement_step_never_runs_the_code(tmp_path):
    """Fail closed: if a protection in the child's spec cannot be applied, the child exits before
    running anything (here: exposing a standard library that does not exist)."""
    import socket

    from autograder.sandbox import child

    spec = {"uid": None, "gid": None, "workdir": str(tmp_path), "cgroups": [],
            "limits": LIMITS.as_dict(), "env": {}, "read_paths": [], "zygote_pid": os.getpid(),
            "stdlib": True, "expose": {"cover": "/nonexistent-sandbox-dir",
                                       "paths": ["/nonexistent-sandbox-dir/x"]}}
    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            child.main(spec, theirs.fileno(), os.open(os.devnull, os.O_WRONLY))
        finally:
            os._exit(99)
    theirs.close()
    mine.settimeout(10)
    assert mine.recv(100) == b""  # never asked for cells
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == child.EXIT_SETUP_FAILED
    assert os.listdir(tmp_path) == []


def test_the_fork_server_policy_is_locked_after_start(server):
    """A worker that has been taken over cannot loosen the fork server's policy: configure is
    refused, lock cannot switch a protection back on, clean-up acts only on its own children."""
    before = dict(server._features)
    with pytest.raises(SandboxError, match="already configured"):
        server._request({"op": "configure", "want": {}, "privileged": False,
                         "workdir_root": "/tmp", "limits": {}})
    loosened = server._request({"op": "lock", "features": dict.fromkeys(before, True)})
    assert loosened["features"] == before
    with pytest.raises(SandboxError, match="not a sandbox of this fork server"):
        server._request({"op": "cleanup", "pid": os.getpid()})
    with pytest.raises(SandboxError, match="not a sandbox of this fork server"):
        server._request({"op": "cleanup", "pid": 1})
    # a spawn request cannot choose the uid, directory or protections; limits stay under caps
    with run(server, "x = 1") as sub:
        pass
    if before["setuid"]:
        assert sub.uid >= 60000


def _wait_until_dead(pid: int, timeout: float = 30.0) -> None:
    """Until ``pid`` has exited (a zombie or gone): kill() returns before the kernel has run
    the exit, and only the exit sends the children their PDEATHSIG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still alive {timeout} s after SIGKILL")


def test_fork_server_killed_under_an_open_submission():
    fs = ForkServer(LIMITS).start()
    try:
        sub = fs.spawn(["import time\ndef f():\n    return 1"])
        assert sub.proxy("f")() == 1
        os.kill(fs.zygote_pid, 9)
        with pytest.raises(SandboxError):
            fs.spawn(["x = 1"])
        # on a loaded machine the spawn can fail (the zygote's socket closed) before the
        # zygote's exit has reached its children: wait for the exit, not for the scheduler
        _wait_until_dead(fs.zygote_pid)
        with pytest.raises(SandboxDied):  # the child died with its fork server (PDEATHSIG)
            sub.proxy("f")()
        sub.closed_ticks = ticks()
        sub.close()
        # the orphaned child is re-parented to init, which reaps it a little later: a zombie
        # may remain for a moment, but nothing runs. The child's socket closes in the middle of
        # its exit (before the kernel has finished tearing it down and made it a zombie): on a
        # loaded machine it can still be seen running its exit here, for a moment
        deadline = time.monotonic() + 10
        while True:
            left = processes_of(sub.uid, sub.pid, sub.closed_ticks)
            if all("state=Z" in p for p in left) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert all("state=Z" in p for p in left), left
    finally:
        fs.close()
    # its directory and cgroups belonged to the dead fork server: the next one removes them
    with ForkServer(LIMITS):
        assert not os.path.exists(sub.workdir)
        for cg in sub.cgroups:
            assert not os.path.exists(cg)
