"""The fork server ("zygote"): a process of its own, started by the grader with a clean
environment. It pre-imports numpy, IPython's input transformer and the stdlib modules student
code commonly uses, warms up the codec, serves a rehearsal grading to itself (``rehearsal``:
sandboxes then start with warm request code), then forks one child per submission.

It never imports ``solutions``, ``otter`` or test files, and never sees tests or expected values:
it receives only configure/lock/spawn/cleanup requests (JSON over a SOCK_SEQPACKET socket, with
the child's socket, output pipe and shared-memory arena passed as file descriptors).

It is the one process of a grading worker that keeps root's powers (when started as root): the
worker drops to an unprivileged user right after starting it. So the fork server, not the
requester, decides everything about a sandbox: the policy is fixed by ``configure`` and
``lock`` (after the probe; a later request cannot change it), each sandbox's uid, cgroups and
directory are allocated here (``resources``), and ``cleanup`` acts only on our own children.

Run as: ``python -s -P -c "...; from autograder.sandbox.zygote import main; main(fd)"`` with a
clean environment.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import sys
import time

from .resources import read_text

PREIMPORT = [
    "abc", "argparse", "array", "ast", "bisect", "base64", "calendar", "cmath", "collections",
    "collections.abc", "colorsys", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "enum", "fractions", "functools", "gc", "glob", "hashlib", "heapq",
    "inspect", "io", "itertools", "json", "keyword", "linecache", "locale", "logging", "math",
    "numbers", "operator", "os", "os.path", "pathlib", "pickle", "platform", "pprint", "queue",
    "random", "re", "reprlib", "shutil", "statistics", "string", "struct", "sys", "tempfile",
    "textwrap", "threading", "time", "timeit", "traceback", "types", "typing", "unicodedata",
    "uuid", "warnings", "weakref", "zlib", "__future__", "typing_extensions",
    "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.polynomial", "numpy.testing",
    "numpy.ma", "numpy.lib.stride_tricks", "numpy.typing", "numpy.exceptions",
    "IPython.core.inputtransformer2", "IPython.display", "socket", "selectors", "subprocess",
    "encodings.idna", "encodings.ascii", "encodings.latin_1", "encodings.utf_16",
    "encodings.utf_32", "encodings.cp1252", "encodings.unicode_escape",
    "encodings.raw_unicode_escape", "stringprep", "zipfile", "gzip", "bz2", "lzma", "tarfile",
    "zoneinfo", "secrets", "hmac", "signal", "errno", "fnmatch", "shlex", "codecs", "sysconfig",
    "concurrent.futures", "unittest", "html", "urllib.parse", "graphlib",
    "numpy.lib.recfunctions", "numpy.lib.npyio", "numpy.matlib",
]
# Left out on purpose: unittest.mock (~75 ms of every fork server's start, with asyncio); the
# rare child that imports it pays the import itself (the stdlib is readable in the sandbox).
# numpy.matlib stays although it costs ~0.2 s: a child cannot read numpy/matlib.py.


def preimport() -> list[str]:
    import importlib

    failed = []
    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def warm_up() -> None:
    """Touch every lazy path the children use, so a child pays no import or first-use cost."""
    import inspect
    import traceback

    import numpy as np
    from IPython.core.inputtransformer2 import TransformerManager

    from . import arena, child, codec, policy, resources, shims  # noqa: F401

    codec.warm_up()
    tm = TransformerManager()
    for cell in ("%matplotlib inline\nimport numpy as np\nx = np.ones(3) @ np.ones(3)\n",
                 "!pip install foo\ny = 1\n", "%%time\nz = 2\n", "def f(a, b=1):\n    return a\n"):
        compile(tm.transform_cell(cell), "<cell 0>", "exec")
    try:
        raise ValueError("warm-up")
    except ValueError as exc:
        traceback.format_list(traceback.extract_tb(exc.__traceback__))
    inspect.signature(lambda a, b=1: a).bind(1)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8))
    np.linalg.solve(a + 8 * np.eye(8), np.ones(8))
    np.linalg.norm(a)
    np.linalg.eigh(a + a.T)
    np.fft.fft(np.ones(4))
    repr(a)
    str(np.float64(1.5))
    np.array_equal(a, a)
    np.testing.assert_allclose(a, a)
    np.random.seed(0)
    np.random.rand(2)
    child.prepare()


def _rehearse() -> str:
    """Serve a rehearsal grading to ourselves (sandbox/rehearsal.py): "ok", or why not (the
    fork server works without it, its sandboxes only start colder)."""
    try:
        from . import rehearsal

        rehearsal.rehearse()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]


def _children_of_self() -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                out.extend(int(p) for p in read_text(f"/proc/self/task/{tid}/children").split())
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return out


class Zygote:
    def __init__(self, ctl: socket.socket):
        self.ctl = ctl
        self.children: dict[int, int | None] = {}  # pid -> wait status once reaped
        self.allocs: dict = {}  # pid -> resources.Allocation of our own sandboxes
        self.features: dict | None = None  # the policy, fixed by configure() and lock()
        self.locked = False
        self.expose: dict | None = None
        self.read_paths: list[str] = []
        self.list_paths: list[str] = []
        self.host_netns: int | None = None  # the inode of the network namespace we started in
        self.own_netns = False  # we left it for an empty one of our own (see _leave_network)

    # -- reaping
    def reap_orphans(self) -> None:
        """Reap every dead child that is not a tracked submission (orphans re-parented to us,
        since the zygote is a child subreaper) and record tracked ones' statuses."""
        for pid in _children_of_self():
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if got and pid in self.children:
                self.children[pid] = status

    def wait_child(self, pid: int, timeout: float) -> int | None:
        if self.children.get(pid) is not None:
            return self.children[pid]
        if timeout > 0 and hasattr(os, "pidfd_open"):
            try:  # sleep until the process exits (or the time-out), without polling
                fd = os.pidfd_open(pid)
            except OSError:
                fd = None
            if fd is not None:
                try:
                    select.select([fd], [], [], timeout)
                finally:
                    os.close(fd)
        end = time.monotonic() + timeout
        delay = 0.0005
        while True:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return self.children.get(pid)
            if got:
                self.children[pid] = status
                return status
            if time.monotonic() >= end:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    # -- killing
    @staticmethod
    def _kill_uid(uid: int, gid: int) -> None:
        helper = os.fork()
        if helper == 0:
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                for _ in range(4):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except OSError:
                        pass
            finally:
                os._exit(0)
        os.waitpid(helper, 0)

    def _kill_cgroups(self, cgroups: list[str], timeout: float = 5.0) -> bool:
        """SIGKILL every task of the cgroups until they are empty; True when empty."""
        end = time.monotonic() + timeout
        while True:
            left = False
            for cg in cgroups:
                try:
                    pids = [int(p) for p in read_text(cg + "/cgroup.procs").split()]
                except (OSError, ValueError):
                    continue
                for p in pids:
                    left = True
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
            if not left:
                return True
            if time.monotonic() > end:
                return False
            self.reap_orphans()
            time.sleep(0.001)

    def _reap_uid(self, uid: int, timeout: float = 2.0) -> None:
        """Wait for (and reap) the re-parented processes of ``uid`` that are still exiting."""
        end = time.monotonic() + timeout
        while True:
            pending = False
            for pid in _children_of_self():
                if pid in self.children:
                    continue
                try:
                    ruid = int(read_text(f"/proc/{pid}/status").split("\nUid:")[1].split()[0])
                except (OSError, IndexError, ValueError):
                    continue
                if ruid != uid:
                    continue
                try:
                    got, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    continue
                if not got:
                    pending = True
            if not pending or time.monotonic() > end:
                return
            time.sleep(0.001)

    def cleanup(self, req: dict) -> dict:
        """Kill one of our own children and everything it started; free its resources. The
        uid, cgroups and directory come from our records, never from the request."""
        pid = req.get("pid")
        alloc = self.allocs.get(pid) if type(pid) is int else None
        if alloc is None:
            return {"error": "not a sandbox of this fork server"}
        wait_first = req.get("wait_first", 0.0)
        wait_first = min(10.0, max(0.0, float(wait_first))) \
            if isinstance(wait_first, (int, float)) else 0.0
        status = self.wait_child(pid, wait_first)
        killed_by_us = False
        if status is None:
            killed_by_us = True
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        cgroups = alloc.cgroups
        empty = self._kill_cgroups(cgroups, timeout=0.0) if cgroups else False
        if status is None:
            status = self.wait_child(pid, 10.0)
        if cgroups:
            empty = self._kill_cgroups(cgroups)
        if alloc.uid is not None:
            # with a pids cgroup every descendant is in it and cannot leave it; the uid sweep
            # (a helper that becomes the uid and kill(-1)s) is the fallback and the extra check
            if not empty or not self.features.get("seccomp"):
                self._kill_uid(alloc.uid, alloc.gid)
            self._reap_uid(alloc.uid)
        self.reap_orphans()
        oom = self.allocator.oom_killed(alloc)
        self.allocator.free(alloc)
        del self.allocs[pid]
        self.children.pop(pid, None)
        out = {"killed_by_us": killed_by_us, "cgroups_empty": empty, "status": status,
               "oom": oom}
        if status is not None:
            if os.WIFSIGNALED(status):
                out["signal"] = os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                out["exit"] = os.WEXITSTATUS(status)
        return out

    # -- policy
    def configure(self, req: dict) -> dict:
        """Fix the sandbox policy once: which protections to try, where working directories go,
        the default limits. Returns the protections this machine offers."""
        from . import _linux
        from .errors import Limits
        from .policy import FEATURES, child_read_paths, clamp_limits, hidden_paths, stdlib_paths
        from .resources import Allocator

        if self.features is not None:
            return {"error": "already configured"}
        want = req.get("want") if isinstance(req.get("want"), dict) else {}
        root = req.get("workdir_root")
        if not (isinstance(root, str) and os.path.isabs(root) and os.path.isdir(root)):
            return {"error": "workdir_root must be an existing absolute directory"}
        privileged = req.get("privileged") is True and os.geteuid() == 0
        self.allocator = Allocator(root, privileged)
        f = dict.fromkeys(FEATURES, False)
        f["setuid"] = privileged
        f["cgroup_pids"] = privileged and self.allocator.cgroup_base("pids") is not None
        f["cgroup_memory"] = privileged and self.allocator.cgroup_base("memory") is not None
        f["netns"] = want.get("netns") is True and privileged
        f["userns"] = want.get("netns") is True and not privileged
        f["tmpfs"] = want.get("tmpfs") is True
        self.expose = hidden_paths(stdlib_paths()) if (privileged and f["tmpfs"]) else None
        f["stdlib"] = self.expose is not None
        f["landlock"] = want.get("landlock") is True and _linux.landlock_abi() >= 1
        f["seccomp"] = want.get("seccomp") is True and _linux.seccomp_supported()
        f["rlimits"] = True
        self.features = f
        if f["netns"]:
            self._leave_network(f)
        packages = req.get("packages")
        packages = [p for p in packages if isinstance(p, str)][:200] \
            if isinstance(packages, list) else []
        self.read_paths, self.list_paths = child_read_paths(packages)
        # what every sandbox installs, worked out here once rather than in each of them
        if f["landlock"]:
            _linux.prepare_landlock(self.read_paths, self.list_paths)
        if f["seccomp"]:
            _linux.prepare_seccomp()
        limits = req.get("limits") if isinstance(req.get("limits"), dict) else {}
        self.default_limits = clamp_limits(limits, Limits().as_dict())
        return {"features": dict(f)}

    def _leave_network(self, f: dict) -> None:
        """Move the fork server into an empty network namespace of its own (only a loopback
        device, down), which its sandboxes then inherit instead of creating one each: creating
        and tearing down a network namespace costs about 1 ms of CPU per sandbox (half of it in
        a kernel worker). Done only where seccomp is on, as it denies every socket call to the
        student's code: a namespace it cannot make a socket in is as closed as a fresh one. A
        sandbox without seccomp still gets a namespace of its own (confine)."""
        from . import _linux

        try:
            self.host_netns = os.stat("/proc/self/ns/net").st_ino
        except OSError:
            return
        if not f["seccomp"]:
            return
        try:
            _linux.unshare(_linux.CLONE_NEWNET)
        except OSError:
            return
        self.own_netns = os.stat("/proc/self/ns/net").st_ino != self.host_netns

    def lock(self, req: dict) -> dict:
        """After the probe: keep only the protections that work; from now on nothing changes."""
        if self.features is None:
            return {"error": "not configured"}
        if not self.locked:
            final = req.get("features") if isinstance(req.get("features"), dict) else {}
            self.features = {k: v and final.get(k) is True for k, v in self.features.items()}
            self.locked = True
        return {"features": dict(self.features)}

    # -- spawning
    def spawn(self, req: dict, fds: list[int]) -> dict:
        from .policy import CHILD_ENV, clamp_limits

        if len(fds) not in (2, 3) or self.features is None:
            for fd in fds:
                os.close(fd)
            return {"error": "spawn needs a configured fork server and two or three fds"}
        probe = req.get("probe") is True and not self.locked
        limits = req.get("limits") if isinstance(req.get("limits"), dict) else {}
        limits = clamp_limits(limits, self.default_limits)
        try:
            alloc = self.allocator.allocate(self.features, limits)
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            return {"error": f"cannot allocate a sandbox: {type(exc).__name__}: {exc}"[:300]}
        spec = {
            "probe": probe, "uid": alloc.uid, "gid": alloc.gid, "workdir": alloc.workdir,
            "cgroups": list(alloc.cgroups), "limits": limits,
            "env": dict(CHILD_ENV, HOME=alloc.workdir, TMPDIR=alloc.workdir),
            "read_paths": list(self.read_paths), "list_paths": list(self.list_paths),
            "expose": self.expose,
            "zygote_pid": os.getpid(), **self.features,
            # the network namespace: the fork server's own when seccomp is in force, else one
            # per sandbox; never the one the fork server started in (confine checks)
            "server_netns": self.own_netns and self.features["seccomp"],
            "host_netns": self.host_netns,
        }
        sock_fd, out_fd = fds[0], fds[1]
        arena_fd = fds[2] if len(fds) == 3 else None
        pid = os.fork()
        if pid == 0:
            try:
                if alloc.slot_fd is not None:
                    os.close(alloc.slot_fd)
                from . import child

                child.main(spec, sock_fd, out_fd, arena_fd)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        self.children[pid] = None
        self.allocs[pid] = alloc
        return {"pid": pid, "limits": limits, **alloc.public()}

    def shutdown(self) -> None:
        for pid in list(self.children):
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        for pid in list(self.allocs):
            self.cleanup({"pid": pid})
        for pid in list(self.children):
            self.wait_child(pid, 2.0)
        self.reap_orphans()

    def handle(self, req: dict, fds: list[int]) -> dict:
        op = req.get("op")
        if op == "spawn":
            return self.spawn(req, fds)
        for fd in fds:
            os.close(fd)
        if op == "cleanup":
            return self.cleanup(req)
        if op == "configure":
            return self.configure(req)
        if op == "lock":
            return self.lock(req)
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "modules":
            return {"modules": sorted(sys.modules)}
        return {"error": f"unknown op {op!r}"}

    def loop(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.ctl, 1 << 20, 4)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                break
            if not data:
                for fd in fds:
                    os.close(fd)
                break
            try:
                req = json.loads(data)
                if req.get("op") == "exit":
                    break
                reply = self.handle(req, list(fds))
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            self.ctl.send(json.dumps(reply).encode())
        self.shutdown()


def main(ctl_fd: int) -> None:
    from . import _linux

    # No PR_SET_PDEATHSIG here: it fires when the parent *thread* exits, and the grader may start
    # the fork server from a worker thread. The zygote exits on EOF of its control socket (the
    # grader closed it or died); its children have PDEATHSIG=SIGKILL tied to the zygote.
    try:
        _linux.set_child_subreaper()
    except OSError:
        pass
    ctl = socket.socket(fileno=ctl_fd)
    failed = preimport()
    warm_up()
    rehearsal = _rehearse()
    import gc

    gc.collect()
    gc.freeze()
    ctl.send(json.dumps({"ready": True, "pid": os.getpid(), "failed_imports": failed,
                         "rehearsal": rehearsal}).encode())
    Zygote(ctl).loop()
    os._exit(0)
