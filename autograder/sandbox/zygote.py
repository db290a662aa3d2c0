"""The fork server ("zygote"): a process of its own, started by the grader with a clean
environment. It pre-imports numpy, IPython's input transformer and the stdlib modules student
code commonly uses, warms up the codec, then forks one child per submission.

It never imports ``solutions``, ``otter`` or test files, and never sees tests or expected values:
it receives only spawn/cleanup requests (JSON over a SOCK_SEQPACKET socket, with the child's
socket and output pipe passed as file descriptors).

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
    "concurrent.futures", "unittest", "unittest.mock", "html", "urllib.parse", "graphlib",
    "numpy.lib.recfunctions", "numpy.lib.npyio", "numpy.matlib",
]


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

    from . import child, codec, shims  # noqa: F401

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


def _children_of_self() -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/children") as f:
                    out.extend(int(p) for p in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


class Zygote:
    def __init__(self, ctl: socket.socket):
        self.ctl = ctl
        self.children: dict[int, int | None] = {}  # pid -> wait status once reaped

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
                    with open(os.path.join(cg, "cgroup.procs")) as f:
                        pids = [int(p) for p in f.read().split()]
                except OSError:
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
                    with open(f"/proc/{pid}/status") as f:
                        ruid = int(f.read().split("\nUid:")[1].split()[0])
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
        pid = int(req["pid"])
        cgroups = req.get("cgroups") or []
        uid = req.get("uid")
        status = self.wait_child(pid, float(req.get("wait_first", 0.0)))
        killed_by_us = False
        if status is None:
            killed_by_us = True
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        empty = self._kill_cgroups(cgroups, timeout=0.0) if cgroups else False
        if status is None:
            status = self.wait_child(pid, 10.0)
        if cgroups:
            empty = self._kill_cgroups(cgroups)
        if uid is not None:
            # with a pids cgroup every descendant is in it and cannot leave it; the uid sweep
            # (a helper that becomes the uid and kill(-1)s) is the fallback and the extra check
            if not empty or req.get("sweep_uid"):
                self._kill_uid(int(uid), int(req["gid"]))
            self._reap_uid(int(uid))
        self.reap_orphans()
        self.children.pop(pid, None)
        out = {"killed_by_us": killed_by_us, "cgroups_empty": empty, "status": status}
        if status is not None:
            if os.WIFSIGNALED(status):
                out["signal"] = os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                out["exit"] = os.WEXITSTATUS(status)
        return out

    # -- spawning
    def spawn(self, spec: dict, fds: list[int]) -> dict:
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return {"error": "spawn needs two file descriptors"}
        sock_fd, out_fd = fds
        spec["zygote_pid"] = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                from . import child

                child.main(spec, sock_fd, out_fd)
            finally:
                os._exit(70)
        os.close(sock_fd)
        os.close(out_fd)
        self.children[pid] = None
        return {"pid": pid}

    def shutdown(self) -> None:
        for pid in list(self.children):
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        for pid in list(self.children):
            self.wait_child(pid, 2.0)
        self.reap_orphans()

    def handle(self, req: dict, fds: list[int]) -> dict:
        op = req.get("op")
        if op == "spawn":
            return self.spawn(req["spec"], fds)
        for fd in fds:
            os.close(fd)
        if op == "cleanup":
            return self.cleanup(req)
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
    import gc

    gc.collect()
    gc.freeze()
    ctl.send(json.dumps({"ready": True, "pid": os.getpid(), "failed_imports": failed}).encode())
    Zygote(ctl).loop()
    os._exit(0)
