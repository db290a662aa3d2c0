"""The network namespace of a sandbox, attacked as a student who read zygote._leave_network.

Where seccomp is in force, sandboxes share their fork server's empty network namespace (the
fork server left the grader's for it at configure) instead of creating one each; elsewhere each
sandbox still creates its own. System V IPC gets a namespace per sandbox either way. These tests
try what a submission could do with a namespace it shares with the submissions before and after
it, and check that nothing of it reaches the next submission (that the grader's own listener stays
unreachable is tests/test_sandbox_hostile.py::test_network_is_unreachable, for both kinds of
server).
"""

from __future__ import annotations

import os

import pytest

from autograder.sandbox import ForkServer, Limits

ROOT = os.geteuid() == 0
LIMITS = Limits(run_wall_s=4, run_cpu_s=2, call_wall_s=2, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)

pytestmark = pytest.mark.skipif(not ROOT, reason="the fork server leaves the network as root")


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        if not (fs.protections["netns"] and fs.protections["seccomp"]):
            pytest.skip("no network namespace or no seccomp on this machine")
        yield fs


@pytest.fixture(scope="module")
def loose_server():
    with ForkServer(LIMITS, seccomp=False, landlock=False) as fs:
        if not fs.protections["netns"]:
            pytest.skip("no network namespace on this machine")
        yield fs


def _ns(pid: int | str, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _interfaces(pid: int) -> list[str]:
    with open(f"/proc/{pid}/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


def test_sandbox_is_never_in_the_graders_network(server):
    with server.spawn(["x = 1"]) as sub:
        assert _ns(sub.pid, "net") != _ns("self", "net")
        assert _interfaces(sub.pid) == ["lo"]  # no device leads anywhere
        with open(f"/proc/{sub.pid}/net/dev") as f:
            lo = [line for line in f if line.strip().startswith("lo:")][0]
        # lo is down: no packet ever went through it
        assert lo.split(":")[1].split()[0] == "0"
    # the fork server itself left the grader's namespace
    assert _ns(server.zygote_pid, "net") != _ns("self", "net")


def test_ipc_namespace_is_per_sandbox(server):
    with server.spawn(["x = 1"]) as a, server.spawn(["y = 1"]) as b:
        assert _ns(a.pid, "ipc") != _ns(b.pid, "ipc")
        assert _ns(a.pid, "ipc") != _ns(server.zygote_pid, "ipc")


@pytest.mark.parametrize("cell", [
    "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
    "import socket\na, b = socket.socketpair()",
    "import socket\ns = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)",
    "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)",
    # through ctypes, as a student who knows the syscall numbers would
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "fd = libc.syscall(41, 1, 1, 0)\nassert fd < 0, fd\nraise OSError(ctypes.get_errno(), 'x')",
])
def test_no_socket_can_be_made_in_the_shared_namespace(server, cell):
    with server.spawn([cell]) as sub:
        assert not sub.cells[0].ok, sub.cells
        assert "PermissionError" in sub.cells[0].error, sub.cells[0].error  # seccomp's EPERM


def test_abstract_socket_left_by_a_submission_is_gone_for_the_next(loose_server, server):
    """A submission that could bind an abstract socket (no seccomp) cannot meet the next one
    there: without seccomp each sandbox has its own namespace. With seccomp, none can bind."""
    bind = ("import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "s.bind('\\0planted-by-student')\ns.listen(1)\nOK = 1")
    meet = ("import socket\nc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "c.connect('\\0planted-by-student')\nMET = 1")
    with loose_server.spawn([bind]) as first:
        assert first.cells == [] or all(c.ok for c in first.cells), first.cells
        with loose_server.spawn([meet]) as second:  # both alive at once
            assert _ns(first.pid, "net") != _ns(second.pid, "net")
            assert not second.cells[0].ok
            assert "ConnectionRefusedError" in second.cells[0].error or \
                "FileNotFoundError" in second.cells[0].error
    with server.spawn([bind]) as first:
        assert not first.cells[0].ok  # seccomp: no socket at all
        with server.spawn([meet]) as second:
            assert not second.cells[0].ok


def test_loose_sandboxes_keep_a_namespace_each(loose_server):
    with loose_server.spawn(["x = 1"]) as a, loose_server.spawn(["y = 1"]) as b:
        assert _ns(a.pid, "net") != _ns(b.pid, "net")
        assert _ns(a.pid, "net") != _ns("self", "net")
        assert _interfaces(a.pid) == ["lo"]
