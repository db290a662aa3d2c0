"""Attacks on the cheaper sandbox set-up (a reviewer's helper), as a student who read it.

Today's changes attacked: sandboxes sharing their fork server's empty network namespace where
seccomp is in force (each still unshares System V IPC and checks it is not in the grader's
network namespace); the seccomp program built once as a template the sandbox writes its pid
into; the Landlock plan worked out once in the fork server; the environment changed only where
it differs; the builtins copy made once in the fork server; the per-call CPU limit re-armed from
``time.process_time()``; step loops' slot codes and ``is_plain`` fast path; ``codec.encode``'s
fast paths for exact arrays, tuples and dicts.

Each test asserts that the attacker gains nothing: it passes while the protection holds. Two
attacks on older code (not today's) succeeded and their tests fail on purpose:
``test_trickling_bytes_does_not_outrun_the_cpu_backstop`` and
``test_concurrent_sandboxes_have_no_inotify_channel`` (see their docstrings).
"""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import sys
import threading
import time
import types
import warnings
from collections import OrderedDict, namedtuple
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from autograder.checks import GRAD, STATE, STEP, THETA, StepCall, problems, run_steps
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxError,
    StudentError,
    _linux,
    codec,
    loops,
)
from autograder.sandbox.policy import CHILD_ENV

ROOT = os.geteuid() == 0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE = "6bdb35c"  # the commit before the changes attacked here
LIMITS = Limits(run_wall_s=4, run_cpu_s=2, call_wall_s=2, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)
#: CPU attacks: the wall-clock limit far above the CPU limit, so the CPU check must act
CPU_LIMITS = dataclasses.replace(LIMITS, call_cpu_s=1.0, call_wall_s=6.0, run_cpu_s=3.0,
                                 run_wall_s=6.0)

needs_root = pytest.mark.skipif(not ROOT, reason="the fork server confines children as root")


@pytest.fixture(scope="module")
def server():
    if not ROOT:
        pytest.skip("the fork server confines children as root")
    with ForkServer(LIMITS) as fs:
        yield fs


@pytest.fixture(scope="module")
def confined(server):
    p = server.protections
    if not (p["netns"] and p["seccomp"] and p["landlock"] and p["setuid"]):
        pytest.skip("not every protection is in force on this machine")
    return server


def _ns(pid, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _value(sub, name):
    kind, value = sub.read_global(name)
    assert kind == "value", (name, kind, value)
    return value


# ----------------------------------------------------------------------------- a probe cell

SYSCALLS = r'''
import ctypes, os, threading
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def sc(*args):
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    r = int(_libc.syscall(*conv))
    return [r, ctypes.get_errno() if r < 0 else 0]
def attempt(fn):
    try:
        return ["ok", repr(fn())[:200]]
    except BaseException as exc:
        return ["refused", type(exc).__name__ + ": " + str(exc)[:200]]
'''

# what a sandbox tries against a neighbour (pid OTHER) and its fork server (pid ZYGOTE)
NEIGHBOUR = SYSCALLS + r'''
import socket
me = os.getpid()
buf = ctypes.create_string_buffer(256)
abstract = b"\x01\x00" + b"\x00planted-by-student"
R = {}
R["seccomp_mode"] = _libc.prctl(21, 0, 0, 0, 0)
R["no_new_privs"] = _libc.prctl(39, 0, 0, 0, 0)
# the pid written into the template must be this sandbox's: signals to itself pass
R["kill_self"] = sc(62, me, 0)
R["kill_own_group"] = sc(62, 0, 0)
R["kill_neg_self"] = sc(62, -me, 0)
R["tgkill_self"] = sc(234, me, threading.get_native_id(), 0)
# ... and only those
R["kill_other"] = sc(62, OTHER, 0)
R["kill_neg_other"] = sc(62, -OTHER, 0)
R["kill_zygote"] = sc(62, ZYGOTE, 0)
R["kill_everyone"] = sc(62, -1, 0)
R["tgkill_other"] = sc(234, OTHER, OTHER, 0)
R["sigqueue_other"] = sc(129, OTHER, 0, buf)
R["tgsigqueue_other"] = sc(297, OTHER, OTHER, 0, buf)
R["tkill_other"] = sc(200, OTHER, 0)
# the network it shares with its neighbours: no socket of any kind
R["socket"] = sc(41, 1, 1, 0)
R["socket_inet"] = sc(41, 2, 2, 0)
R["socketpair"] = sc(53, 1, 1, 0, buf)
R["io_uring"] = sc(425, 4, buf)
R["x32_socket"] = sc(0x40000000 + 41, 1, 1, 0)
R["unshare_net"] = sc(272, 0x40000000)
R["setns"] = sc(308, 3, 0x40000000)
R["connect_own_socket"] = sc(42, 3, abstract, len(abstract))
R["bind_own_socket"] = sc(49, 3, abstract, len(abstract))
R["sendto_abstract"] = sc(44, 3, b"x", 1, 0x40, abstract, len(abstract))
R["fork"] = attempt(lambda: os.fork() or 1)
if R["fork"][0] == "ok" and R["fork"][1] == "0":
    os._exit(0)
R["py_socket"] = attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
R["proc_net"] = attempt(lambda: open("/proc/net/unix").read())
R["proc_other"] = attempt(lambda: open(f"/proc/{OTHER}/environ", "rb").read())
R["other_workdir"] = attempt(lambda: os.listdir(OTHER_WORKDIR))
R["other_file"] = attempt(lambda: open(os.path.join(OTHER_WORKDIR, "secret.txt")).read())
R["write_outside"] = attempt(lambda: open("/var/tmp/planted-by-student", "w").write("x"))
R["read_outside"] = attempt(lambda: open("/etc/hostname").read())
# System V IPC the neighbour made (key 0x5EED): a namespace per sandbox
R["shm_of_other"] = sc(29, 0x5EED, 0, 0)
R["msg_of_other"] = sc(68, 0x5EED, 0)
R["sem_of_other"] = sc(64, 0x5EED, 0, 0)
'''

TAMPER = r'''
import sys, builtins, os
L = sys.modules["autograder.sandbox._linux"]
C = sys.modules["autograder.sandbox.child"]
if L._SECCOMP is not None:
    L._SECCOMP.raw = bytes(len(L._SECCOMP.raw))
    L._SECCOMP.slots = []
    L._SECCOMP.count = 1
for plan in L._LANDLOCK_PLANS.values():
    plan.fixed = [("/", (1 << 16) - 1)]
    plan.write_access = ((1 << 16) - 1, (1 << 16) - 1)
    plan.attr = bytes(8)
L._LANDLOCK_PLANS.clear()
C._BUILTINS_COPY[:] = [type(builtins)("builtins")]
builtins.len = lambda x: 42  # (its own copy: the real one is the protocol's)
builtins.sorted = None
os.environ["PLANTED"] = "yes"
os.putenv("PLANTED_TOO", "yes")
os.environ["PATH"] = "/tmp/evil"
import time, resource
time.process_time = lambda: 1e9
with open("secret.txt", "w") as f:
    f.write("the tamperer's secret")
''' + SYSCALLS + r'''
IPC = [sc(29, 0x5EED, 4096, 0o1666), sc(68, 0x5EED, 0o1666), sc(64, 0x5EED, 1, 0o1666)]
'''

REFUSED = ["kill_other", "kill_neg_other", "kill_zygote", "kill_everyone", "tgkill_other",
           "sigqueue_other", "tgsigqueue_other", "tkill_other", "socket", "socket_inet",
           "socketpair", "io_uring", "x32_socket", "unshare_net", "setns",
           "connect_own_socket", "bind_own_socket", "sendto_abstract",
           "shm_of_other", "msg_of_other", "sem_of_other"]


def _neighbour_cell(other, zygote: int) -> str:
    return (f"OTHER = {other.pid}\nZYGOTE = {zygote}\nOTHER_WORKDIR = {other.workdir!r}\n"
            + NEIGHBOUR)


def _assert_neighbour_gets_nothing(sub, other, server) -> None:
    assert all(c.ok for c in sub.cells), sub.cells
    r = _value(sub, "R")
    assert r["seccomp_mode"] == 2 and r["no_new_privs"] == 1, r
    for key in ("kill_self", "kill_own_group", "kill_neg_self", "tgkill_self"):
        assert r[key] == [0, 0], (key, r[key])
    for key in REFUSED:
        assert r[key][0] < 0, (key, r[key])
    for key in ("fork", "py_socket", "proc_net", "proc_other", "other_workdir", "other_file",
                "write_outside", "read_outside"):
        assert r[key][0] == "refused", (key, r[key])
    assert not os.path.exists("/var/tmp/planted-by-student")
    # namespaces: the fork server's network (never the grader's), an IPC namespace of its own
    assert _ns(sub.pid, "net") == _ns(server.zygote_pid, "net") != _ns("self", "net")
    assert _ns(sub.pid, "ipc") != _ns(other.pid, "ipc")
    assert _ns(sub.pid, "ipc") != _ns(server.zygote_pid, "ipc")


# ----------------------------------------------------------------------------- network, signals


def test_a_neighbour_alive_at_the_same_time_is_out_of_reach(confined):
    """A tampers with everything prepared in the fork server, plants IPC objects and a file,
    and stays alive; B, forked while A runs, is confined exactly as before and reaches none of
    A, A's files, A's IPC objects, its fork server or a socket in their shared namespace."""
    with confined.spawn([TAMPER]) as a:
        assert all(c.ok for c in a.cells), a.cells
        ipc = _value(a, "IPC")
        assert all(r >= 0 for r, _ in ipc), ipc  # (they exist, in A's namespace)
        with confined.spawn([_neighbour_cell(a, confined.zygote_pid)]) as b:
            _assert_neighbour_gets_nothing(b, a, confined)
            assert _ns(a.pid, "net") == _ns(b.pid, "net")  # (shared, by design)
        assert a.alive


def test_sandboxes_spawned_concurrently_after_tampering_stay_apart(confined):
    """Four sandboxes spawned from four threads at once, each after a tampering one: each
    is confined and reaches none of the others."""
    with confined.spawn([TAMPER]) as first:
        assert all(c.ok for c in first.cells), first.cells

        def one(_):
            return confined.spawn([_neighbour_cell(first, confined.zygote_pid)])

        with ThreadPoolExecutor(4) as pool:
            subs = list(pool.map(one, range(4)))
        try:
            for sub in subs:
                _assert_neighbour_gets_nothing(sub, first, confined)
            assert len({_ns(s.pid, "ipc") for s in subs}) == len(subs)
            assert len({s.uid for s in subs} | {first.uid}) == len(subs) + 1
        finally:
            for sub in subs:
                sub.close()


def test_the_fork_server_is_in_an_empty_namespace_with_only_lo_down(confined):
    with confined.spawn(["x = 1"]) as sub:
        with open(f"/proc/{sub.pid}/net/dev") as f:
            lines = f.readlines()[2:]
        assert [ln.split(":")[0].strip() for ln in lines] == ["lo"]
        assert lines[0].split(":")[1].split()[0] == "0"
        # nothing listens there: no unix, tcp or udp socket at all in the shared namespace
        for table in ("unix", "tcp", "tcp6", "udp", "udp6", "raw", "packet", "netlink"):
            try:
                with open(f"/proc/{sub.pid}/net/{table}") as f:
                    rows = f.readlines()[1:]
            except FileNotFoundError:
                continue
            if table == "netlink":  # the kernel's own (pid 0) rows only
                rows = [r for r in rows if r.split()[2] != "0"]
            assert rows == [], (table, rows)


class _SeccompLostAtProbe(ForkServer):
    """A fork server configured with seccomp (so it left the grader's network at configure)
    whose probe then found seccomp not biting: it is locked without seccomp."""

    def _probe(self) -> None:
        super()._probe()
        self._features["seccomp"] = False
        self.protections["seccomp"] = False


@needs_root
def test_seccomp_lost_at_the_probe_gives_each_sandbox_its_own_network():
    """Without seccomp a submission can make sockets: after the fork server left the grader's
    namespace at configure and the probe then took seccomp away, each sandbox must still get a
    namespace of its own, so an abstract socket bound by one is not met by the next."""
    bind = ("import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "s.bind('\\0planted-by-student')\ns.listen(1)\nBOUND = 1")
    meet = ("import socket\nc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "c.connect('\\0planted-by-student')\nMET = 1")
    with _SeccompLostAtProbe(LIMITS) as fs:
        if not fs.protections["netns"]:
            pytest.skip("no network namespace on this machine")
        assert _ns(fs.zygote_pid, "net") != _ns("self", "net")  # it did leave at configure
        with fs.spawn([bind]) as first:
            assert all(c.ok for c in first.cells), first.cells
            with fs.spawn([meet]) as second:
                nets = {_ns(first.pid, "net"), _ns(second.pid, "net"), _ns("self", "net"),
                        _ns(fs.zygote_pid, "net")}
                assert len(nets) == 4
                assert not second.cells[0].ok
                assert "ConnectionRefusedError" in second.cells[0].error or \
                    "FileNotFoundError" in second.cells[0].error


# ----------------------------------------------------------------------------- prepared state


@pytest.mark.parametrize("pid", [1, 2, 3, 255, 256, 4095, 32767, 32768, 65535, 65536,
                                 4194303, 4194304, 2**31 - 1])
def test_the_seccomp_template_is_the_program_built_for_that_pid(pid):
    if not _linux.X86_64:
        pytest.skip("the filter is written for x86_64")
    template = _linux._SeccompTemplate()
    fresh = b"".join(struct.pack("<HBBI", *ins) for ins in _linux._seccomp_program(pid))
    assert template.program(pid) == fresh
    assert template.count == len(fresh) // 8
    assert template.program(pid) == fresh  # (the template itself is not written to)


def test_the_next_submission_gets_a_pristine_prepared_state(confined):
    """After a submission tampered with the template, plans, builtins copy (and the real
    builtins), the environment and time.process_time: the next one's builtins copy is
    complete and its own, its environment exactly the sandbox's (also as the C library sees
    it) and its CPU limit armed from the real clock."""
    check = r'''
import ctypes, os, sys, time
real = print.__self__
own = sys.modules["builtins"]
B_OWN_IS_REAL = own is real
B_NS_IS_OWN = __builtins__ is own
B_KEYS_DIFF = sorted(set(vars(real)) ^ set(vars(own)))
B_OBJS_DIFF = sorted(k for k in vars(real) if vars(own).get(k) is not vars(real)[k])
B_LEN = len([1, 2, 3])
_libc = ctypes.CDLL(None)
_envp = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
_c = []
while _envp[len(_c)]:
    _c.append(_envp[len(_c)].decode())
C_ENV = sorted(_c)
PY_ENV = sorted(f"{k}={v}" for k, v in os.environ.items())
PROCESS_TIME_IS_REAL = time.process_time.__module__ == "time" and time.process_time() < 100
'''
    with confined.spawn([TAMPER]) as first:
        assert all(c.ok for c in first.cells), first.cells
    with confined.spawn([check]) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        assert _value(sub, "B_OWN_IS_REAL") is False
        assert _value(sub, "B_NS_IS_OWN") is True
        assert _value(sub, "B_KEYS_DIFF") == []
        assert _value(sub, "B_OBJS_DIFF") == []
        assert _value(sub, "B_LEN") == 3
        expected = sorted(f"{k}={v}" for k, v in
                          dict(CHILD_ENV, HOME=sub.workdir, TMPDIR=sub.workdir).items())
        assert _value(sub, "PY_ENV") == expected
        assert _value(sub, "C_ENV") == expected
        assert _value(sub, "PROCESS_TIME_IS_REAL") is True


def test_the_builtins_copy_is_not_shared_with_the_fork_server_or_the_protocol(confined):
    """The copy a submission takes is its own: replacing every name in it neither reaches the
    child's protocol code (which uses the real module) nor the next submission."""
    wreck = ("import sys\nown = sys.modules['builtins']\n"
             "names, put = [k for k in vars(own) if not k.startswith('__')], setattr\n"
             "for k in names:\n    put(own, k, None)\n"
             "def f(x):\n    return x * 2\n")
    with confined.spawn([wreck]) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        assert sub.proxy("f")(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
    with confined.spawn(["X = len(sorted([3, 1, 2]))"]) as sub:
        assert _value(sub, "X") == 3


def test_a_plan_whose_directory_became_a_file_fails_closed(tmp_path):
    """The plan decides directory or file once; if a path it planned as a directory is a file
    when a sandbox installs it, the rule fails and the install raises (no sandbox starts)."""
    if _linux.landlock_abi() < 1:
        pytest.skip("no Landlock")
    d = tmp_path / "was_a_dir"
    d.mkdir()
    code = (
        "import os, sys\nfrom autograder.sandbox import _linux\n"
        f"d = {str(d)!r}\n"
        "_linux.prepare_landlock([d], [])\n"
        "os.rmdir(d)\nopen(d, 'w').close()\n"
        "try:\n    _linux.install_landlock([d], [])\nexcept OSError as exc:\n"
        "    print('refused', exc)\n    sys.exit(0)\n"
        "print('installed')\nsys.exit(1)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("refused"), (out.stdout, out.stderr)


# ----------------------------------------------------------------------------- CPU limits

CPU_STUDENT = r'''
import math, resource, signal, threading, time, os
def patch(kind="huge"):
    if kind == "huge":
        time.process_time = lambda: 1e9
    elif kind == "zero":
        time.process_time = lambda: 0.0
    elif kind == "nan":
        time.process_time = lambda: float("nan")
    elif kind == "raise":
        def boom():
            raise KeyboardInterrupt("no clock for you")
        time.process_time = boom
    elif kind == "ceil":
        math.ceil = lambda x: 10**9
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    resource.setrlimit = lambda *a: None
    return 1
def spin(*args, threads=0):
    for _ in range(threads):
        threading.Thread(target=spin, daemon=True).start()
    while True:
        pass
STEPS = [0]
def hang_at_2(theta, grad, lr):
    STEPS[0] += 1
    if STEPS[0] == 2:
        spin()
    return theta - lr * grad
def trickle():
    """Burn CPU while sending the grader the start of an answer, a byte at a time."""
    head = b"SBX1" + (1 << 20).to_bytes(4, "little") + (0).to_bytes(4, "little")
    i = 0
    while True:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.1:
            pass
        os.write(3, head[i:i + 1] if i < len(head) else b" ")
        i += 1
'''


@pytest.mark.parametrize("kind", ["huge", "zero", "nan", "ceil"])
def test_a_patched_clock_does_not_let_a_call_outrun_its_cpu_limit(server, kind):
    with server.spawn([CPU_STUDENT], limits=CPU_LIMITS) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        sub.proxy("patch")(kind)
        start = time.monotonic()
        with pytest.raises(SandboxError) as err:
            sub.proxy("spin")()
        elapsed = time.monotonic() - start
        assert isinstance(err.value, CallTimeout), err.value
        assert "CPU" in str(err.value)
        # the CPU check (budget + 0.5 s of slack, polled every 0.25 s), not the wall clock
        assert elapsed < CPU_LIMITS.call_cpu_s + 2.0 < CPU_LIMITS.call_wall_s, elapsed
        assert not sub.alive


def test_a_patched_clock_that_raises_only_ends_the_submission(server):
    """_arm_cpu runs outside the call's try in serve_call: a clock that raises kills the
    child (exit 70), which fails the call; nothing is returned for it."""
    with server.spawn([CPU_STUDENT + "\ndef f():\n    return 42\n"], limits=CPU_LIMITS) as sub:
        sub.proxy("patch")("raise")
        with pytest.raises(SandboxError):
            sub.proxy("f")()
        assert not sub.alive


def test_a_patched_clock_does_not_let_a_step_loop_outrun_its_budget(server):
    """A loop of n steps has the CPU of n calls; one step that hangs with the clock patched (so
    its own RLIMIT_CPU is not re-armed) is still stopped within the loop's budget."""
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    steps = 3
    with server.spawn([CPU_STUDENT], limits=CPU_LIMITS) as sub:
        sub.proxy("patch")("huge")
        step = StepCall(sub.proxy("hang_at_2"), THETA, GRAD, 0.5, returns=THETA)
        start = time.monotonic()
        with pytest.raises(CallTimeout, match="CPU"):
            run_steps(step, problem.start(), problem.grad, steps)
        elapsed = time.monotonic() - start
        assert elapsed < CPU_LIMITS.call_cpu_s * steps + 2.0, elapsed
        assert not sub.alive


def test_threads_with_a_patched_clock_are_stopped_by_the_cpu_check(server):
    with server.spawn([CPU_STUDENT], limits=CPU_LIMITS) as sub:
        sub.proxy("patch")("huge")
        start = time.monotonic()
        with pytest.raises(CallTimeout, match="CPU"):
            sub.proxy("spin")(threads=3)
        assert time.monotonic() - start < CPU_LIMITS.call_cpu_s + 2.0


def test_trickling_bytes_does_not_outrun_the_cpu_backstop(server):
    """SUCCEEDS (pre-existing, reader.py, not today's change): the grader's CPU backstop
    (Reader._fill's poll) runs only when select() times out without the socket being readable.
    A child that patches its clock (its RLIMIT_CPU then stays at the hard limit) and writes one
    byte of a never-finished message every 0.1 s keeps the socket readable: the CPU check never
    runs and the call burns CPU until the wall-clock deadline (call_wall_s: here 8 times its
    CPU limit; threads doing GIL-free NumPy work could multiply that by the cores). Fix: in Reader._fill, call poll() when 0.25 s have passed since the
    last poll whether or not the socket was readable."""
    limits = dataclasses.replace(CPU_LIMITS, call_cpu_s=0.5, call_wall_s=4.0)
    with server.spawn([CPU_STUDENT], limits=limits) as sub:
        sub.proxy("patch")("huge")
        readings = []
        measure = sub._cpu_seconds

        def spy():
            value = measure()
            readings.append(value)
            return value

        sub._cpu_seconds = spy
        start = time.monotonic()
        with pytest.raises(SandboxError):
            sub.proxy("trickle")()
        elapsed = time.monotonic() - start
        assert elapsed < limits.call_cpu_s + 0.5 + 1.0, (
            f"the call ran {elapsed:.1f} s with a CPU limit of {limits.call_cpu_s} s; "
            f"the CPU check ran {len(readings) - 1} times during it, reading {readings[-1:]}")


def test_concurrent_sandboxes_have_no_inotify_channel(confined):
    """SUCCEEDS (pre-existing, not today's change): inotify is allowed by the seccomp filter
    and Landlock does not restrict watches on readable files, so a sandbox watching a standard
    library file sees every open/read of it by another sandbox running at the same time (a
    covert channel between two submissions). Fix: add inotify_init (253), inotify_init1 (294)
    and fanotify_init (300) to _linux.DENIED."""
    watch = SYSCALLS + r'''
import sysconfig
FD = _libc.inotify_init1(0o4000)
_p = os.path.join(sysconfig.get_paths()["stdlib"], "this.py").encode()
WD = _libc.inotify_add_watch(FD, _p, 0x1 | 0x20) if FD >= 0 else -1
def events():
    try:
        return len(os.read(FD, 4096))
    except (BlockingIOError, OSError):
        return 0
'''
    touch = ("import os, sysconfig\ndef touch():\n"
             "    with open(os.path.join(sysconfig.get_paths()['stdlib'], 'this.py'), 'rb') "
             "as f:\n        f.read(1)\n")
    with confined.spawn([watch]) as a, confined.spawn([touch]) as b:
        assert all(c.ok for c in a.cells + b.cells), (a.cells, b.cells)
        a.proxy("events")()
        b.proxy("touch")()
        time.sleep(0.05)
        seen = a.proxy("events")()
        assert _value(a, "WD") < 0 or seen == 0, f"A saw {seen} bytes of B's file events"


# ----------------------------------------------------------------------------- loops and codec


def _old_module(name: str) -> types.ModuleType:
    try:
        src = subprocess.run(["git", "-C", REPO, "show", f"{BEFORE}:autograder/sandbox/{name}.py"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"the code before the change ({BEFORE}) is not available")
    mod = types.ModuleType(f"_before_{name}")
    exec(compile(src, f"<{BEFORE}:{name}.py>", "exec"), mod.__dict__)
    return mod


class _Sub(np.ndarray):
    pass


class _TupleSub(tuple):
    def __iter__(self):
        return iter(reversed(list(tuple.__iter__(self))))


class _DictSub(dict):
    pass


class _StrSub(str):
    pass


_Pair = namedtuple("_Pair", "a b")


def _nested(depth: int, leaf, kind=tuple):
    for _ in range(depth):
        leaf = kind([leaf]) if kind is not dict else {"k": leaf}
    return leaf


def _corpus():
    selfref: list = []
    selfref.append(selfref)
    selfdict: dict = {}
    selfdict["me"] = selfdict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.asmatrix([[1, 2]])
    return [
        1.5, float("nan"), float("-inf"), 3, True, None, "s", 1 + 2j, np.float64(2.5),
        np.int32(3), np.bool_(True), np.complex128(1j), np.datetime64("2020-01-01"),
        np.arange(3.0), np.array(2.0), np.arange(6.0).reshape(2, 3).T, np.arange(5)[::2],
        np.zeros(2, dtype=[("a", "f8")]), np.array([object()]), np.zeros(2, dtype="U3"),
        np.zeros(3).view(_Sub), np.ma.array([1.0, 2.0], mask=[0, 1]), matrix,
        np.zeros(0), np.zeros((0, 3)), np.zeros(2, dtype=">f8"), np.zeros(2, dtype="f2"),
        np.array(5, dtype=np.int8), np.zeros(2, dtype="M8[s]"),
        (), (1, 2.0), (np.ones(2), (3,)), _Pair(np.ones(2), 1), _TupleSub((1, np.ones(1))),
        {}, {"a": 1}, {1: 2}, {"a": {1: 2}}, {"a": (np.ones(2), [1])}, _DictSub(a=1),
        OrderedDict(b=np.ones(1)), {_StrSub("k"): 1}, {None: 1}, {("t",): 1},
        [], [1, [2, (3,)]], [np.array(1.0), {"x": np.arange(2)}], {"x": np.array([object()])},
        _nested(63, 1.0), _nested(64, 1.0), _nested(65, 1.0), _nested(66, np.ones(2)),
        _nested(64, 1.0, list), _nested(65, 1.0, list), _nested(64, 1, dict),
        _nested(65, 1, dict), _nested(30, np.ones(2)), selfref, selfdict, {1, 2}, object(),
        (x for x in range(2)), b"bytes",
    ]


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except RecursionError:
        return ("RecursionError",)
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def test_encode_gives_what_it_gave_before_the_fast_paths():
    old = _old_module("codec")
    for on_other, on_array in [(None, None),
                               (lambda o: {"o": type(o).__name__},
                                lambda a: {"m": list(a.shape)} if a.size > 2 else None)]:
        for value in _corpus():
            new_arrays: list = []
            old_arrays: list = []
            new = _outcome(codec.encode, value, new_arrays, on_other, 0, on_array)
            was = _outcome(old.encode, value, old_arrays, on_other, 0, on_array)
            assert new == was, (repr(value)[:80], new, was)
            assert new_arrays == old_arrays, repr(value)[:80]


def test_is_plain_answers_as_before_the_fast_path():
    old = _old_module("loops")
    for value in _corpus():
        assert loops.is_plain(value) == old.is_plain(value), repr(value)[:80]


def _plans():
    z = np.zeros(2)
    base = {"theta": np.ones(2), "steps": 3, "grad": ["quadratic", {"A": np.eye(2),
                                                                    "x_star": np.zeros(2)}]}
    items = [["s", "theta"], ["s", "grad"], ["s", ["state", 0]], ["s", ["state", 1]],
             ["s", "step"]]
    yield dict(base, args=items, kwargs=[["lr", ["v", 0.1]]],
               returns=["theta", ["state", 0], ["state", 1]], state=(z, z))
    yield dict(base, args=[["s", "theta"], ["s", "grad"], ["s", "state"], ["v", (1, [2])]],
               kwargs=[["t", ["s", "step"]], ["s", ["s", ["state", 1]]]],
               returns=["theta", "state"], state=[z, 1.5])
    yield dict(base, args=[["s", "theta"], ["v", {"a": 1}]], kwargs=[], returns="theta",
               state=None)
    yield dict(base, args=[["s", ["state", 2]]], kwargs=[], returns=["theta", ["state", 3]],
               state={"a": 1, 2: "two"})


def test_step_arguments_and_unpacking_are_as_before():
    """Plan.arguments (slot codes) and Plan.unpack (items decided once) against the code before
    the change, on states that are tuples, lists, dicts, strings, ints, None and arrays, and
    outputs that are tuples, lists, tuple subclasses, too short or too long."""
    old = _old_module("loops")
    theta, grad = np.arange(2.0), np.ones(2)
    states = [(np.zeros(2), np.ones(2)), [np.zeros(2), 1.5], {"a": 1, 2: "two", 0: 5,
              1: 6, 3: 7}, "abcd", 5, None, np.arange(8.0).reshape(4, 2),
              (np.zeros(2),), _Pair(1, 2)]
    outs = [(theta, 1, 2), [theta, 1, 2], (theta, 1), (theta, 1, 2, 3), _Pair(theta, 1),
            _TupleSub((theta, 1, 2)), theta, None, {"a": 1}, (theta, (1, 2))]
    for plan in _plans():
        new_plan, old_plan = loops.Plan(plan), old.Plan(plan)
        for state in states:
            for t in (1, 7):
                new = _outcome(new_plan.arguments, theta, grad, state, t)
                was = _outcome(old_plan.arguments, theta, grad, state, t)
                assert _same(new, was), (plan["args"], state, new, was)
            for out in outs:
                new = _outcome(new_plan.unpack, out, state)
                was = _outcome(old_plan.unpack, out, state)
                assert _same(new, was), (plan["returns"], state, out, new, was)


def _same(a, b) -> bool:
    """Equal, element by element, and the very same objects where they are objects."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a is b or (a.dtype == b.dtype and a.shape == b.shape
                          and a.tobytes() == b.tobytes())
    return a is b or a == b


LOOP_STUDENT = r'''
import numpy as np
from collections import namedtuple
Pair = namedtuple("Pair", "theta v")
class Sub(np.ndarray):
    pass
def list_out(theta, grad, v, lr):
    v = 0.5 * v + grad
    return [theta - lr * v, v]
def tuple_sub_out(theta, grad, v, lr):
    v = 0.5 * v + grad
    return Pair(theta - lr * v, v)
def arr_sub_out(theta, grad, lr):
    return (theta - lr * grad).view(Sub)
def zero_d(theta, grad, lr):
    return np.asarray(theta - lr * grad)
def dict_state(theta, grad, v, lr):
    return theta - lr * grad, {1: 2}
def items(theta, grad, m, v, t, lr=0.1):
    return theta - lr * grad, m + grad, v
def deep(theta, grad, lr):
    x = theta
    for _ in range(70):
        x = [x]
    return x
def self_ref(theta, grad, v, lr):
    l = []
    l.append(l)
    return theta, l
def obj_arr(theta, grad, lr):
    return np.array([object(), object()], dtype=object)
class Hang(list):
    def __iter__(self):
        while True:
            pass
def hanging_output(theta, grad, v, lr):
    return theta, Hang([1])
'''

Z2 = np.zeros(2)
R3 = (THETA, STATE[0], STATE[1])
# (student function, StepCall arguments, returns, state, theta0, what the grader must say)
LOOP_CASES = {
    "list_instead_of_tuple": ("list_out", (THETA, GRAD, STATE, 0.3), (THETA, STATE), Z2, None,
                              "ok"),
    "tuple_subclass": ("tuple_sub_out", (THETA, GRAD, STATE, 0.3), (THETA, STATE), Z2, None,
                       "ok"),
    "ndarray_subclass": ("arr_sub_out", (THETA, GRAD, 0.3), THETA, None, None, "ok"),
    "zero_d": ("zero_d", (THETA, GRAD, 0.3), THETA, None, np.array(1.5), "ok"),
    "state_not_indexable": ("items", (THETA, GRAD, STATE[0], STATE[1], STEP), R3, 5, None,
                            (StudentError, "TypeError: 'int' object is not subscriptable")),
    "state_a_dict": ("items", (THETA, GRAD, STATE[0], STATE[1], STEP), R3, {"a": 1}, None,
                     (StudentError, "KeyError: 0")),
    "state_too_short": ("items", (THETA, GRAD, STATE[0], STATE[1], STEP), R3, (Z2,), None,
                        (StudentError, "IndexError: tuple index out of range")),
    "state_a_list": ("items", (THETA, GRAD, STATE[0], STATE[1], STEP), R3, [Z2, Z2], None,
                     "ok"),
    "dict_with_int_keys": ("dict_state", (THETA, GRAD, STATE, 0.3), (THETA, STATE), Z2, None,
                           (ProtocolError, "dict keys must be str, got int")),
    "nested_too_deep": ("deep", (THETA, GRAD, 0.3), THETA, None, None,
                        (ProtocolError, "nested deeper than 64 levels")),
    "self_referential": ("self_ref", (THETA, GRAD, STATE, 0.3), (THETA, STATE), Z2, None,
                         (ProtocolError, "nested deeper than 64 levels")),
    "object_array": ("obj_arr", (THETA, GRAD, 0.3), THETA, None, None,
                     (ProtocolError, "dtype object")),
    "hanging_list_subclass": ("hanging_output", (THETA, GRAD, STATE, 0.3), (THETA, STATE), Z2,
                              None, (CallTimeout, "limit")),
}


@pytest.fixture(scope="module")
def loop_sub(server):
    with server.spawn([LOOP_STUDENT], limits=dataclasses.replace(LIMITS, call_cpu_s=0.5,
                                                                   call_wall_s=3)) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        yield sub


@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_step_loop_verdicts_are_those_of_before(server, loop_sub, case):
    """The verdicts the code before the change gave (checked by running both: the same on
    every case): a step returning a list, a tuple subclass, an ndarray subclass, a 0-d array;
    a state that is not indexable, a dict or too short; outputs that cannot cross."""
    name, args, returns, state, theta0, expected = LOOP_CASES[case]
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    grad = problem.grad if theta0 is None else (lambda x: np.asarray(x) * 2.0)
    theta0 = problem.start() if theta0 is None else theta0
    ns: dict = {}
    exec(LOOP_STUDENT, ns)
    sub = loop_sub if loop_sub.alive else None
    if sub is None or case == "hanging_list_subclass":
        sub = server.spawn([LOOP_STUDENT], limits=dataclasses.replace(
            LIMITS, call_cpu_s=0.5, call_wall_s=3))
    try:
        remote = StepCall(sub.proxy(name), *args, returns=returns)
        if expected == "ok":
            here = run_steps(StepCall(ns[name], *args, returns=returns), theta0, grad, 4,
                             state=state)
            there = run_steps(remote, theta0, grad, 4, state=state)
            assert there.iterates.tobytes() == here.iterates.tobytes()
            return
        kind, words = expected
        with pytest.raises(kind, match=words.replace("(", r"\(").replace(")", r"\)")):
            run_steps(remote, theta0, grad, 4, state=state)
    finally:
        if sub is not loop_sub:
            sub.close()


def test_loop_results_forged_with_patched_fast_paths_are_refused(server):
    """A child that makes is_plain, iterate_of and Plan.unpack accept anything: what comes
    back is still checked by the grader (form of the iterates) and cannot crash it."""
    forge = LOOP_STUDENT + r'''
import sys
L = sys.modules["autograder.sandbox.loops"]
L.is_plain = lambda value, depth=0: True
L.iterate_of = lambda value, shape: np.asarray(value, dtype=float).reshape(-1)[:1]
L.Plan.unpack = lambda self, out, state: (out, state)
def odd(theta, grad, lr):
    return np.ones(7)
'''
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    with server.spawn([forge]) as sub:
        step = StepCall(sub.proxy("odd"), THETA, GRAD, 0.5, returns=THETA)
        with pytest.raises(SandboxError):
            run_steps(step, problem.start(), problem.grad, 4)
    # the fork server serves the next submission as before
    with server.spawn(["def f(x):\n    return x + 1\n"]) as sub:
        assert sub.proxy("f")(np.ones(2)).tolist() == [2.0, 2.0]


def test_process_time_patched_in_one_sandbox_is_real_in_the_next(server):
    with server.spawn([CPU_STUDENT + "\npatch('huge')\n"], limits=CPU_LIMITS) as first:
        assert all(c.ok for c in first.cells), first.cells
    with server.spawn([CPU_STUDENT], limits=CPU_LIMITS) as sub:
        start = time.monotonic()
        with pytest.raises(SandboxError):
            sub.proxy("spin")()  # RLIMIT_CPU (SIGXCPU) or the CPU check, whichever first
        assert time.monotonic() - start < CPU_LIMITS.call_cpu_s + 2.0


def test_thread_safety_of_spawn_keeps_one_builtins_copy_each(confined):
    """Sandboxes forked back to back each take the copy the fork server made: writes to it in
    one are not seen in another alive at the same time."""
    writer = "import sys\nsys.modules['builtins'].MARK = 'first'\nimport builtins\nX = 1\n"
    reader = "import sys\nSEEN = getattr(sys.modules['builtins'], 'MARK', None)\n"
    with confined.spawn([writer]) as a:
        results = []

        def read():
            with confined.spawn([reader]) as b:
                results.append(_value(b, "SEEN"))

        threads = [threading.Thread(target=read) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert a.alive
    assert results == [None, None, None]
