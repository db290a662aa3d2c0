"""Grader side: the fork server handle, submissions and proxies.

Nothing here ever unpickles data from a child: every message goes through :mod:`.codec`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass

from . import _linux, codec
from .child import EXIT_SETUP_FAILED
from .errors import (
    CallTimeout,
    Limits,
    MissingName,
    ProtocolError,
    SandboxDied,
    SandboxError,
    StudentError,
)

DEFAULT_LIMITS = Limits()
SLOT_UID_BASE = 60000
SLOT_COUNT = 1000
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_NAME = "autograder_sandbox"
FLOOD_FACTOR = 64  # output beyond this many times output_bytes kills the child
MEMORY_CGROUP_SLACK_MB = 128
MAX_NAMES = 10_000
CPU_POLL_SLACK_S = 0.5
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_ZYGOTE_CODE = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]) + sys.path; "
                "from autograder.sandbox.zygote import main; main(int(sys.argv[2]))")


def _zygote_path() -> list[str]:
    """The fork server's import path: the package root, then the grader's path entries that
    belong to the installation (under a prefix, site-/dist-packages, or listed in PYTHONPATH).
    Never the current directory or the script's directory: the fork server runs as root and
    must not import a stray ``json.py`` lying in a directory of submissions."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    configured = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(":") if p}
    out = [_PKG_ROOT]
    for p in sys.path:
        if not p:
            continue
        ap = os.path.realpath(p)
        if ap in out or not os.path.isdir(ap):
            continue
        if (ap in configured or os.path.basename(ap) in ("site-packages", "dist-packages")
                or any(ap == q or ap.startswith(q.rstrip("/") + "/") for q in prefixes)):
            out.append(ap)
    return out


CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}


@dataclass(frozen=True)
class CellOutcome:
    index: int
    ok: bool
    error: str | None = None
    traceback: str = ""


class _OutputFlood(Exception):
    pass


class _CpuExceeded(Exception):
    pass


def _blocking_ancestor(path: str) -> str | None:
    """The outermost directory on ``path`` that others cannot traverse (None if there is none)."""
    parts = path.split("/")
    for i in range(2, len(parts) + 1):
        d = "/".join(parts[:i])
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return None
    return None


def _hidden_stdlib() -> dict | None:
    """When the interpreter's standard library sits under a directory others cannot enter
    (pyenv under /root, mode 0700), the directory to cover and the paths to expose again."""
    cover, paths = None, []
    for key in ("stdlib", "platstdlib"):
        with contextlib.suppress(KeyError):
            p = os.path.realpath(sysconfig.get_paths()[key])
            d = _blocking_ancestor(p) if os.path.isdir(p) else None
            if d is None or d == p or (cover is not None and d != cover):
                continue
            cover = d
            if p not in paths:
                paths.append(p)
    if cover is None or cover in ("/", "/usr", "/tmp", "/proc", "/dev", "/sys"):
        return None
    return {"cover": cover, "paths": paths}


def _read_paths() -> list[str]:
    """What a confined child may still read: the interpreter's libraries and system dirs."""
    paths = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(sysconfig.get_paths()[key])
    for p in ("/usr", "/lib", "/lib64", "/etc/localtime", "/etc/ld.so.cache", "/dev/urandom",
              "/dev/zero"):
        paths.add(p)
    for mod in ("numpy", "IPython"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__file__", None):
            paths.add(os.path.dirname(os.path.dirname(m.__file__)))
    # never the package root or one of its parents (it holds solutions/ and the tests)
    out = []
    for p in sorted(paths):
        ap = os.path.abspath(p)
        if not os.path.exists(ap) or ap == _PKG_ROOT or _PKG_ROOT.startswith(ap.rstrip("/") + "/"):
            continue
        out.append(ap)
    return out


class _Slots:
    """Cross-process allocation of slot uids with lock files."""

    def __init__(self):
        self.dir = os.path.join(tempfile.gettempdir(), f"autograder-sandbox-slots-{os.geteuid()}")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        st = os.lstat(self.dir)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or not os.path.isdir(self.dir) \
                or os.path.islink(self.dir):
            raise SandboxError(f"{self.dir} must be a directory owned by uid {os.geteuid()} "
                               "with mode 0700 (someone else created it?)")

    def acquire(self) -> tuple[int, int]:
        for n in range(SLOT_COUNT):
            uid = SLOT_UID_BASE + n
            try:
                pwd.getpwuid(uid)
                continue  # a real account: never use it
            except KeyError:
                pass
            fd = os.open(os.path.join(self.dir, f"{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return uid, fd
        raise SandboxError("no free sandbox slot uid")

    @staticmethod
    def release(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(fd)


class ForkServer:
    """Starts and talks to the fork server; one per grader worker process. Thread-safe spawn().

    ``privileged=None`` means "use root's powers when running as root". ``privileged=False``
    simulates an unprivileged grader (no setuid, no cgroups, network isolation through a user
    namespace) and is what the test-suite uses to exercise the non-root path. ``seccomp``,
    ``landlock``, ``netns`` and ``tmpfs`` (the private size-limited working directory) can be
    switched off (tests use that to exercise the other layers).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, workdir_root: str | None = None,
                 privileged: bool | None = None, seccomp: bool = True, landlock: bool = True,
                 netns: bool = True, tmpfs: bool = True):
        self.limits = limits
        self.workdir_root = workdir_root or tempfile.gettempdir()
        root = os.geteuid() == 0
        self.privileged = root if privileged is None else (bool(privileged) and root)
        self._want = {"seccomp": seccomp, "landlock": landlock, "netns": netns, "tmpfs": tmpfs}
        self.protections: dict[str, bool] = {}
        self.probe_report: dict = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._zygote_pid: int | None = None
        self._subs: set[Submission] = set()
        self._subs_lock = threading.Lock()
        self._slots = _Slots() if self.privileged else None
        self._cg_bases: dict[str, str] = {}
        self._counter = itertools.count()
        self._read_paths = _read_paths()
        self._features: dict[str, bool] = {}
        self._expose: dict | None = None

    # -- lifecycle
    def __enter__(self) -> ForkServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> ForkServer:
        if self._proc is not None:
            return self
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(CHILD_ENV)
        env["HOME"] = "/"
        if os.environ.get("LD_LIBRARY_PATH"):  # an interpreter that needs it to find libpython
            env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        try:
            self._proc = subprocess.Popen(
                # -s: no user site; -P (3.11+): no script/cwd entry on sys.path (cwd is "/"
                # anyway). Not -I/-E: the environment is ours and PYTHONHASHSEED must apply
                [sys.executable, "-s", *(["-P"] if sys.version_info >= (3, 11) else []), "-c",
                 _ZYGOTE_CODE, json.dumps(_zygote_path()),
                 str(child.fileno())],
                env=env, cwd="/", pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, start_new_session=True)
        finally:
            child.close()
        self._ctl = parent
        parent.settimeout(120)
        try:
            ready = json.loads(parent.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the fork server did not start: {exc}") from None
        if not ready.get("ready"):
            self.close()
            raise SandboxError("the fork server did not start")
        self._zygote_pid = ready["pid"]
        _remove_stale_workdirs(self.workdir_root)
        self._probe()
        return self

    def close(self) -> None:
        with self._subs_lock:
            subs = list(self._subs)
        for sub in subs:
            with contextlib.suppress(Exception):
                sub.close()
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.send(json.dumps({"op": "exit"}).encode())
            with contextlib.suppress(OSError):
                self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        # the (empty) parent cgroups stay: other graders on the machine may be using them

    # -- zygote requests
    def _request(self, req: dict, fds: list[int] | None = None, timeout: float = 60) -> dict:
        with self._lock:
            if self._ctl is None:
                raise SandboxDied("the fork server is not running")
            try:
                self._ctl.settimeout(timeout)
                data = json.dumps(req).encode()
                if fds:
                    socket.send_fds(self._ctl, [data], fds)
                else:
                    self._ctl.send(data)
                raw = self._ctl.recv(1 << 20)
            except OSError as exc:
                raise SandboxDied(f"the fork server is gone: {exc}") from None
            if not raw:
                raise SandboxDied("the fork server is gone")
            reply = json.loads(raw)
        if "error" in reply:
            raise SandboxError(f"fork server: {reply['error']}")
        return reply

    def zygote_modules(self) -> list[str]:
        """Modules loaded in the fork server (diagnostics and tests)."""
        return self._request({"op": "modules"})["modules"]

    @property
    def zygote_pid(self) -> int | None:
        return self._zygote_pid

    # -- protections
    def _cgroup_base(self, controller: str) -> str | None:
        if controller in self._cg_bases:
            return self._cg_bases[controller]
        base = os.path.join(CGROUP_ROOT, controller, CGROUP_NAME)
        try:
            os.makedirs(base, exist_ok=True)
            _remove_stale_cgroups(base)
            probe = os.path.join(base, f"probe_{os.getpid()}_{next(self._counter)}")
            os.mkdir(probe)
            os.rmdir(probe)
        except OSError:
            return None
        self._cg_bases[controller] = base
        return base

    def _probe(self) -> None:
        f: dict[str, bool] = {}
        f["setuid"] = self.privileged
        f["cgroup_pids"] = self.privileged and self._cgroup_base("pids") is not None
        f["cgroup_memory"] = self.privileged and self._cgroup_base("memory") is not None
        f["netns"] = self._want["netns"] and self.privileged
        f["userns"] = self._want["netns"] and not self.privileged
        f["tmpfs"] = self._want["tmpfs"]
        self._expose = _hidden_stdlib() if (self.privileged and f["tmpfs"]) else None
        f["stdlib"] = self._expose is not None
        f["landlock"] = self._want["landlock"] and _linux.landlock_abi() >= 1
        f["seccomp"] = self._want["seccomp"] and _linux.seccomp_supported()
        f["rlimits"] = True
        self._features = f
        report = {}
        try:
            sub = Submission(self, self.limits, probe=True)
            try:
                report = sub._probe()
            finally:
                sub.close()
        except SandboxError as exc:
            report = {"errors": {"probe": str(exc)}}
        self.probe_report = report
        for key in ("cgroups", "rlimits", "netns", "userns", "tmpfs", "stdlib", "landlock",
                    "setuid", "seccomp"):
            if key in report and not report[key]:
                if key == "cgroups":
                    f["cgroup_pids"] = f["cgroup_memory"] = False
                else:
                    f[key] = False
        if not report:
            f = {k: False for k in f}
        self._features = f
        landlock_abi = _linux.landlock_abi() if f["landlock"] else 0
        self.protections = {
            "rlimits": f["rlimits"],
            "setuid": f["setuid"],
            "rlimit_nproc": f["setuid"],
            "cgroup_pids": f["cgroup_pids"],
            "cgroup_memory": f["cgroup_memory"],
            "netns": f["netns"] or f["userns"],
            "seccomp": f["seccomp"],
            "landlock": f["landlock"],
            "landlock_tcp": f["landlock"] and landlock_abi >= 4,
            "signal_isolation": report.get("can_signal_parent") is False,
            "kill_all": f["setuid"] or f["cgroup_pids"] or f["seccomp"],
            "file_isolation": f["landlock"],
            "disk_quota": f["tmpfs"],
        }

    def missing_protections_message(self) -> str | None:
        missing = sorted(k for k, v in self.protections.items() if not v)
        if not missing:
            return None
        why = "" if self.privileged else " (not running as root)"
        return ("sandbox: these protections are not in force on this machine"
                f"{why}: {', '.join(missing)}")

    # -- spawning
    def spawn(self, cells: list[str], *, limits: Limits | None = None) -> Submission:
        if self._ctl is None:
            raise SandboxError("ForkServer.start() was not called")
        sub = Submission(self, limits or self.limits)
        try:
            sub._run(list(cells))
        except BaseException:
            sub.close()
            raise
        if sub._setup_failed:  # a problem of this machine, not of the submission
            output = sub.output.strip()[-500:]
            sub.close()
            raise SandboxError(f"the sandbox could not be set up: {output}")
        return sub


class Proxy:
    """A plain callable standing for a student global; see docs/architecture.md."""

    def __init__(self, sub: Submission, name: str):
        self._sub = sub
        self.name = name
        self.__name__ = name
        self.__qualname__ = name
        self.last_call_mutations: tuple[str, ...] = ()

    def __call__(self, *args, **kwargs):
        return self._sub._call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<sandboxed {self.name}>"


class Submission:
    """One submission's sandboxed process. Use as a context manager; close() kills everything."""

    def __init__(self, server: ForkServer, limits: Limits, *, probe: bool = False):
        self._server = server
        self.limits = limits
        self.cells: list[CellOutcome] = []
        self.status = "starting"
        self.reason: str | None = None
        self.notes: list[str] = []
        self._names: set[str] = set()
        self._callables: set[str] = set()
        self._ready = False
        self._alive = False
        self._closed = False
        self._cleaned = False
        self._setup_failed = False
        self._pidfd: int | None = None
        self._stat_fd: int | None = None
        self._lock = threading.RLock()
        self._out = bytearray()
        self._out_total = 0
        self._handle_ids = itertools.count(1)
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._out_fd: int | None = None
        f = server._features
        self.uid: int | None = None
        self.gid: int | None = None
        self._slot_fd: int | None = None
        self.cgroups: list[str] = []
        self.workdir = ""
        with server._subs_lock:
            server._subs.add(self)
        try:
            if f.get("setuid"):
                self.uid, self._slot_fd = server._slots.acquire()
                self.gid = self.uid
            self.workdir = tempfile.mkdtemp(prefix=f"sbx-{os.getpid()}-", dir=server.workdir_root)
            if self.uid is not None:
                os.chown(self.workdir, self.uid, self.gid)
            os.chmod(self.workdir, 0o700)
            tag = f"{self.uid or 'u'}_{os.getpid()}_{next(server._counter)}"
            for controller in ("pids", "memory"):
                if f.get(f"cgroup_{controller}"):
                    cg = os.path.join(server._cg_bases[controller], tag)
                    os.makedirs(os.path.dirname(cg), exist_ok=True)
                    os.mkdir(cg)
                    self.cgroups.append(cg)
                    if controller == "pids":
                        _write(os.path.join(cg, "pids.max"), str(int(limits.nproc)))
                    else:
                        # tmpfs pages (the working directory) are charged here too
                        mem = (int(limits.memory_mb) + int(limits.disk_mb)
                               + MEMORY_CGROUP_SLACK_MB) << 20
                        _write(os.path.join(cg, "memory.limit_in_bytes"), str(mem))
            self._launch(probe)
        except BaseException:
            self.close()
            raise

    # -- context manager
    def __enter__(self) -> Submission:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def output(self) -> str:
        text = bytes(self._out).decode("utf-8", errors="replace")
        if self._out_total > len(self._out):
            text += f"\n[output truncated: {self._out_total} bytes printed, " \
                    f"{len(self._out)} kept]\n"
        return text

    # -- launch
    def _launch(self, probe: bool) -> None:
        server = self._server
        f = server._features
        spec = {
            "probe": probe,
            "uid": self.uid,
            "gid": self.gid,
            "workdir": self.workdir,
            "cgroups": list(self.cgroups),
            "limits": self.limits.as_dict(),
            "env": dict(CHILD_ENV, HOME=self.workdir, TMPDIR=self.workdir),
            "read_paths": server._read_paths,
            "setuid": f.get("setuid", False),
            "rlimits": f.get("rlimits", True),
            "netns": f.get("netns", False),
            "userns": f.get("userns", False),
            "tmpfs": f.get("tmpfs", False),
            "stdlib": f.get("stdlib", False),
            "expose": server._expose,
            "landlock": f.get("landlock", False),
            "seccomp": f.get("seccomp", False),
        }
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        self._sock, self._out_fd = mine, out_r  # closed by close() whatever happens next
        os.set_blocking(out_r, False)
        try:
            reply = server._request({"op": "spawn", "spec": spec},
                                    fds=[theirs.fileno(), out_w])
        finally:
            theirs.close()
            os.close(out_w)
        self.pid = int(reply["pid"])
        self._alive = True
        try:  # readable once the child exits, even if its own children keep the socket open
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def _probe(self) -> dict:
        try:
            msg, _ = self._recv(time.monotonic() + 60)
        except SandboxError:
            return {}
        report = msg.get("report") if msg.get("op") == "probe" else None
        return report if isinstance(report, dict) else {}

    # -- I/O helpers
    def _drain_output(self) -> bool:
        """Read what the child printed; False once the pipe is at end of file."""
        fd = self._out_fd
        if fd is None:
            return False
        cap = int(self.limits.output_bytes)
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    os.close(fd)
                self._out_fd = None
                return False
            self._out_total += len(data)
            room = cap - len(self._out)
            if room > 0:
                self._out += data[:room]
            if self._out_total > FLOOD_FACTOR * cap:
                raise _OutputFlood()

    def _cpu_seconds(self) -> float:
        """The child's CPU time (utime + stime of all its threads) from /proc/<pid>/stat, read
        through a descriptor opened at the first reading (then re-read with pread: no open per
        call; once the child is reaped the reads fail instead of reading a reused pid)."""
        try:
            if self._stat_fd is None:
                if not self._alive:  # never by pid once the child may have been reaped
                    return 0.0
                self._stat_fd = os.open(f"/proc/{self.pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._stat_fd, 4096, 0).decode("ascii", "replace")
            fields = text.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLK_TCK
        except (OSError, IndexError, ValueError):
            return 0.0

    def _recv(self, deadline: float, cpu_budget: tuple[float, float] | None = None,
              what: str = "the submission", wall: float = 0.0):
        """One message from the child, with every failure mapped to a SandboxError."""
        if not self._alive or self._sock is None:
            raise SandboxDied(self._death_message())

        def poll():
            # RLIMIT_CPU (re-armed per call in the child) acts first; this is the backstop
            if cpu_budget is not None and \
                    self._cpu_seconds() - cpu_budget[0] > cpu_budget[1] + CPU_POLL_SLACK_S:
                raise _CpuExceeded()
            if self._pidfd is not None and self._sock is not None:
                ready, _, _ = select.select([self._pidfd, self._sock], [], [], 0)
                if self._pidfd in ready and self._sock not in ready:
                    raise codec.Closed()  # the child is gone; a grandchild holds the socket

        watch = {self._out_fd: self._drain_output} if self._out_fd is not None else None
        try:
            return codec.recv_msg(self._sock, deadline=deadline, poll=poll, watch=watch)
        except codec.Deadline:
            self._kill("timeout", f"{what} exceeded the wall-clock limit of {wall:g} s")
            raise CallTimeout(self.reason) from None
        except _CpuExceeded:
            cpu = cpu_budget[1] if cpu_budget else 0.0
            self._kill("timeout", f"{what} exceeded the CPU time limit of {cpu:g} s")
            raise CallTimeout(self.reason) from None
        except _OutputFlood:
            self._kill("output", f"the submission printed more than "
                                 f"{FLOOD_FACTOR * self.limits.output_bytes} bytes (output flood)")
            raise SandboxDied(self.reason) from None
        except codec.Closed:
            self._on_death()
            if self.status == "timeout":
                raise CallTimeout(self.reason) from None
            raise SandboxDied(self.reason) from None
        except codec.CodecError as exc:
            self._kill("protocol", f"the submission sent malformed data: {exc}")
            raise ProtocolError(str(exc)) from None

    def _send(self, header: dict, arrays: list, deadline: float) -> None:
        try:
            raw = codec.pack(header, arrays)
        except codec.CodecError as exc:
            raise ProtocolError(f"cannot send this value to the submission: {exc}") from None
        try:
            # a small message fits in the socket buffer: one send, no time-out juggling
            # (BlockingIOError when the buffer is full; the rest goes out below, with a time-out)
            fast = _DONTWAIT and self._sock.gettimeout() is None
            sent = self._sock.send(raw, _DONTWAIT) if fast else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self._on_death()
            raise SandboxDied(self.reason) from None
        if sent == len(raw):
            return
        try:
            self._sock.settimeout(max(0.01, deadline - time.monotonic()))
            self._sock.sendall(memoryview(raw)[sent:])
        except TimeoutError:
            self._kill("timeout", "the submission stopped reading its input")
            raise CallTimeout(self.reason) from None
        except OSError:
            self._on_death()
            raise SandboxDied(self.reason) from None
        finally:
            if self._sock is not None:
                self._sock.settimeout(None)

    # -- death and killing
    def _death_message(self) -> str:
        return self.reason or "the submission's process is not running"

    def _oom_killed(self) -> bool:
        for cg in self.cgroups:
            if "/memory/" in cg:
                try:
                    with open(os.path.join(cg, "memory.oom_control")) as f:
                        for line in f:
                            if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                                return True
                except (OSError, ValueError):
                    pass
        return False

    def _cleanup(self, wait_first: float) -> dict:
        if self._cleaned or self.pid is None:
            return {}
        self._cleaned = True
        self._alive = False
        # without seccomp the child may have forked: also sweep the slot uid (kill(-1) as it)
        req = {"op": "cleanup", "pid": self.pid, "uid": self.uid, "gid": self.gid,
               "cgroups": self.cgroups, "wait_first": wait_first,
               "sweep_uid": not self._server._features.get("seccomp", False)}
        try:
            return self._server._request(req)
        except SandboxError:
            self._fallback_kill()
            return {}

    def _fallback_kill(self) -> None:
        """The fork server is gone: kill what we can from here."""
        for target in (-self.pid, self.pid):
            with contextlib.suppress(OSError):
                os.kill(target, signal.SIGKILL)
        for cg in self.cgroups:
            for _ in range(100):
                try:
                    with open(os.path.join(cg, "cgroup.procs")) as f:
                        pids = [int(p) for p in f.read().split()]
                except OSError:
                    break
                if not pids:
                    break
                for p in pids:
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)
                time.sleep(0.01)

    def _kill(self, status: str, reason: str) -> None:
        if self._alive:
            self.status = status
            self.reason = reason
        self._cleanup(0.0)
        self._close_channels()

    def _on_death(self) -> None:
        """The child closed its end: find out why, then make sure everything is dead."""
        was_alive = self._alive
        oom = self._oom_killed()
        res = self._cleanup(1.0)
        oom = oom or self._oom_killed()
        sig, code = res.get("signal"), res.get("exit")
        if sig == signal.SIGXCPU:
            status, reason = "timeout", "exceeded its CPU time limit (SIGXCPU)"
        elif oom:
            status, reason = "memory", (f"was killed for using more than "
                                        f"{self.limits.memory_mb} MB of memory")
        elif res.get("killed_by_us"):
            status, reason = "died", "closed its connection to the grader"
        elif sig is not None:
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
            status, reason = "died", f"was killed by signal {name}"
        elif code == EXIT_SETUP_FAILED and not self.cells:
            status, reason = "died", "could not be confined (sandbox set-up failed)"
            self._setup_failed = True
        elif code is not None:
            status, reason = "died", f"exited with code {code} (os._exit or a crash)"
        else:
            status, reason = "died", "is gone"
        if was_alive:
            self.status = status
            self.reason = f"the submission's process {reason}"
        self._close_channels()

    def _close_channels(self) -> None:
        if self._stat_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._stat_fd)
            self._stat_fd = None
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self._out_fd is not None:
            with contextlib.suppress(_OutputFlood, OSError):
                os.set_blocking(self._out_fd, False)
                self._drain_output()
            if self._out_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._out_fd)
                self._out_fd = None

    def close(self) -> None:
        """Kill the child and everything it started, remove its directory and cgroups."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.pid is not None:
                if self._alive and self.status in ("starting", "running"):
                    self.status = "died"
                self._cleanup(0.0)
            self._alive = False
            self._close_channels()
            for cg in self.cgroups:
                for _ in range(200):
                    try:
                        os.rmdir(cg)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.01)
            if self.workdir:
                try:  # usually empty here (the files were on the child's private tmpfs)
                    os.rmdir(self.workdir)
                except FileNotFoundError:
                    pass
                except OSError:
                    _rmtree(self.workdir)
            if self._slot_fd is not None:
                _Slots.release(self._slot_fd)
                self._slot_fd = None
        with self._server._subs_lock:
            self._server._subs.discard(self)

    # -- running the cells
    def _run(self, cells: list[str]) -> None:
        with self._lock:
            deadline = time.monotonic() + float(self.limits.run_wall_s)
            self.status = "running"
            self._send({"op": "run", "cells": [c if isinstance(c, str) else "" for c in cells]},
                       [], deadline)
            budget = (0.0, float(self.limits.run_cpu_s))
            while True:
                try:
                    msg, _ = self._recv(deadline, budget, "the cells", self.limits.run_wall_s)
                except SandboxError:
                    if self.status == "running":
                        self.status = "died"
                    return
                op = msg.get("op")
                if op == "cell":
                    self.cells.append(_cell_outcome(msg, len(self.cells)))
                    if self.cells[-1].error and self.cells[-1].error.startswith("MemoryError"):
                        self._memory_error = True
                elif op == "ready":
                    self._names = _str_set(msg.get("names"))
                    self._callables = _str_set(msg.get("callables")) & self._names
                    self.notes = sorted(_str_set(msg.get("notes"), 100))
                    self._ready = True
                    self.status = "memory" if getattr(self, "_memory_error", False) else "ok"
                    with contextlib.suppress(_OutputFlood):
                        self._drain_output()
                    return
                else:
                    self._kill("protocol", "the submission sent an unexpected message "
                                           f"{str(op)[:50]!r}")
                    return

    # -- names and proxies
    def names(self) -> set[str]:
        return set(self._names)

    def callables(self) -> set[str]:
        return set(self._callables)

    def proxy(self, name: str) -> Proxy:
        if name not in self._names:
            if not self._ready:
                raise SandboxDied(f"{name} is unavailable: {self._death_message()}")
            raise MissingName(f"the submission does not define {name!r}")
        if name not in self._callables:
            raise MissingName(f"{name!r} is defined by the submission but is not a function")
        return Proxy(self, name)

    # -- calls
    def _on_other(self, handles: dict):
        def on_other(obj):
            if isinstance(obj, Proxy) and obj._sub is self:
                return {"g": obj.name}
            hid = next(self._handle_ids)
            handles[hid] = obj
            return {"cb": hid} if callable(obj) else {"ref": hid}
        return on_other

    def _call(self, proxy: Proxy, args: tuple, kwargs: dict):
        with self._lock:
            proxy.last_call_mutations = ()
            if not self._alive:
                raise SandboxDied(self._death_message())
            handles: dict = {}
            on_other = self._on_other(handles)
            arrays: list = []
            try:
                tree_args = codec.encode(list(args), arrays, on_other)
                tree_kwargs = codec.encode(dict(kwargs), arrays, on_other)
            except codec.CodecError as exc:
                raise ProtocolError(f"cannot send the arguments to the submission: {exc}") from None
            deadline = time.monotonic() + float(self.limits.call_wall_s)
            budget = (self._cpu_seconds(), float(self.limits.call_cpu_s))
            self._send({"op": "call", "name": proxy.name, "args": tree_args,
                        "kwargs": tree_kwargs}, arrays, deadline)
            what = f"the call to {proxy.name}"
            settled = False  # the child finished the call and waits for the next request
            try:
                while True:
                    msg, arrs = self._recv(deadline, budget, what, self.limits.call_wall_s)
                    op = msg.get("op")
                    if op in ("callback", "refcall"):
                        self._serve_callback(msg, arrs, handles, on_other, deadline)
                        continue
                    settled = op in ("return", "raise", "protocol_error", "missing")
                    if op == "return":
                        try:
                            value = codec.decode(msg.get("value"), arrs)
                        except codec.CodecError as exc:
                            raise ProtocolError(f"{proxy.name} returned malformed data: {exc}") \
                                from None
                        proxy.last_call_mutations = _mutations(msg)
                        return value
                    if op == "raise":
                        raise StudentError(_text(msg.get("error"), 500),
                                           _text(msg.get("tb"), 2000))
                    if op == "protocol_error":
                        proxy.last_call_mutations = _mutations(msg)
                        raise ProtocolError(f"{proxy.name} {_text(msg.get('error'), 500)}")
                    if op == "missing":
                        raise MissingName(f"the submission does not define {proxy.name!r}")
                    self._kill("protocol", "the submission sent an unexpected message "
                                           f"{str(op)[:50]!r}")
                    raise ProtocolError(self.reason)
            finally:
                if not settled and self._alive:
                    # interrupted mid-call (e.g. KeyboardInterrupt in a callback): the child is
                    # in the middle of a conversation; it cannot be reused safely
                    self._kill("died", f"{what} was interrupted by the grader")

    def _serve_callback(self, msg, arrs, handles, on_other, deadline) -> None:
        hid = msg.get("id")
        obj = handles.get(hid) if type(hid) is int else None
        try:
            try:
                args = codec.decode(msg.get("args"), arrs)
                kwargs = codec.decode(msg.get("kwargs"), arrs)
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise codec.CodecError("malformed callback")
            except codec.CodecError as exc:
                self._kill("protocol", f"the submission sent a malformed callback: {exc}")
                raise ProtocolError(self.reason) from None
            if obj is None:
                raise LookupError("this function or object is no longer available "
                                  "(it belonged to an earlier call)")
            if msg.get("op") == "callback":
                if not callable(obj) or isinstance(obj, type):
                    raise TypeError("not a function")
                result = obj(*args, **kwargs)
            else:
                method = msg.get("method")
                if not (isinstance(method, str) and method.isidentifier()
                        and not method.startswith("_")):
                    raise AttributeError("only public methods can be used")
                attr = getattr(obj, method)
                if callable(attr):
                    result = attr(*args, **kwargs)
                elif args or kwargs:
                    raise TypeError(f"{method} is not callable")
                else:
                    result = attr
            arrays: list = []
            tree = codec.encode(result, arrays, on_other)
            reply, reply_arrays = {"op": "cb_result", "value": tree}, arrays
        except SandboxError:
            raise
        except Exception as exc:
            reply, reply_arrays = {"op": "cb_error", "error": f"{type(exc).__name__}: {exc}"[:500]}, []
        self._send(reply, reply_arrays, deadline)


# ----------------------------------------------------------------------------- helpers


def _remove_stale_cgroups(base: str) -> None:
    """Empty and remove the cgroups left behind by graders that died (``<uid>_<pid>_<n>``)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name.split("_")
        path = os.path.join(base, name)
        if len(parts) != 3 or not os.path.isdir(path):
            continue
        if not _pid_is_dead(parts[1]):
            continue
        for _ in range(50):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
            except OSError:
                break
            for p in pids:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.01)


def _pid_is_dead(text: str) -> bool:
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _remove_stale_workdirs(root: str) -> None:
    """Remove ``sbx-<pid>-*`` working directories of graders that died without closing."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == "sbx" and _pid_is_dead(parts[1]):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                _rmtree(path)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _rmtree(path: str) -> None:
    def onerror(func, p, exc):
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onerror)
    else:
        shutil.rmtree(path, onerror=onerror)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


def _text(value, n: int) -> str:
    s = value if isinstance(value, str) else ""
    return s if len(s) <= n else s[: n - 15] + " ... (truncated)"


def _str_set(value, cap: int = MAX_NAMES) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {v for v in value[:cap] if isinstance(v, str) and len(v) <= 200}


def _mutations(msg: dict) -> tuple[str, ...]:
    value = msg.get("mutations")
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(v for v in value[:1000] if isinstance(v, str) and len(v) <= 200))


def _cell_outcome(msg: dict, default_index: int) -> CellOutcome:
    idx = msg.get("index")
    ok = msg.get("ok") is True
    return CellOutcome(index=idx if type(idx) is int else default_index, ok=ok,
                       error=None if ok else (_text(msg.get("error"), 500) or "error"),
                       traceback=_text(msg.get("tb"), 2000))
