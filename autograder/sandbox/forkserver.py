"""The fork server handle: starts the fork server, fixes its policy, spawns submissions.

Runs in the trusted grading worker. The fork server (``zygote``) is the privileged half: it is
configured once here (which protections to try, where working directories go), probed with one
child, then locked; after that a request can only ask for a sandbox with some limits, and the
worker may drop its own privileges (``grade.privileges``) without losing the ability to spawn.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import socket
import subprocess
import tempfile
import threading

from . import _linux, cellcode
from .errors import Limits, SandboxDied, SandboxError
from .launch import launch_zygote
from .submission import Submission

DEFAULT_LIMITS = Limits()


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
                 netns: bool = True, tmpfs: bool = True, packages: tuple[str, ...] = (),
                 run_options: dict | None = None, launched: tuple | None = None):
        self.limits = limits
        #: ``launch_zygote()``'s process and socket, when the caller started the fork server's
        #: process early (it imports numpy while the worker imports the grader; ``start`` then
        #: configures, probes and locks it as usual).
        self._launched = launched
        #: Third-party packages (top-level names) the children may read: the assignment's
        #: import policy; everything else in site-packages can be listed but not opened.
        self.packages = tuple(packages)
        #: Plain data sent with every submission's cells (the import policy's allowed modules,
        #: for the child's messages).
        self.run_options = dict(run_options or {})
        self.workdir_root = workdir_root or tempfile.gettempdir()
        root = os.geteuid() == 0
        self.privileged = root if privileged is None else (bool(privileged) and root)
        self._want = {"seccomp": seccomp, "landlock": landlock, "netns": netns, "tmpfs": tmpfs}
        self.protections: dict[str, bool] = {}
        self.rehearsal = "not started"
        self.probe_report: dict = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._zygote_pid: int | None = None
        self._subs: set[Submission] = set()
        self._ahead: Submission | None = None  # see prepare_ahead
        self._pending: collections.deque[PendingReply] = collections.deque()  # see _request
        self._subs_lock = threading.Lock()
        self._features: dict[str, bool] = {}

    # -- lifecycle
    def __enter__(self) -> ForkServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> ForkServer:
        if self._proc is not None:
            return self
        self._proc, parent = self._launched or launch_zygote()
        self._launched = None
        self._ctl = parent
        parent.settimeout(120)
        # while the fork server imports: the grader's cell transformer (a worker reads no new
        # module once it has dropped its privileges)
        cellcode.warm_up()
        try:
            ready = json.loads(parent.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the fork server did not start: {exc}") from None
        if not ready.get("ready"):
            self.close()
            raise SandboxError("the fork server did not start")
        self._zygote_pid = ready["pid"]
        #: "ok", or why the fork server's rehearsal failed (sandbox/rehearsal.py: without it
        #: each sandbox warms its request code up itself, which costs time, nothing else)
        self.rehearsal = str(ready.get("rehearsal"))[:300]
        try:
            reply = self._request({
                "op": "configure", "want": dict(self._want), "privileged": self.privileged,
                "workdir_root": os.path.abspath(self.workdir_root),
                "limits": self.limits.as_dict(), "packages": list(self.packages)})
            self._features = dict(reply["features"])
            self._probe()
            # from here on the fork server's policy is fixed: no later request can change it
            self._features = dict(self._request({"op": "lock",
                                                 "features": self._features})["features"])
        except BaseException:
            self.close()
            raise
        return self

    def alive(self) -> bool:
        """The fork server process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        self._ahead = None  # (closed with the others)
        with self._subs_lock:
            subs = list(self._subs)
        for sub in subs:
            with contextlib.suppress(Exception):
                sub.close()
        if self._pending:  # cleanups sent in the background: done before the server exits
            with contextlib.suppress(SandboxError):
                self._pending[-1].result(30)
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
    # The fork server answers its requests one by one, in the order they were sent, each with
    # exactly one reply. A request can therefore be sent now and its reply read later
    # (``_request_async``): the grader does not wait while the fork server forks the next
    # sandbox or cleans up the last one (a child's exit and its cgroups' removal wait for
    # RCU grace periods, about 10 ms with the CPU idle); any later request reads the replies
    # before its own, in order.
    def _request(self, req: dict, fds: list[int] | None = None, timeout: float = 60) -> dict:
        return self._request_async(req, fds).result(timeout)

    def _request_async(self, req: dict, fds: list[int] | None = None) -> PendingReply:
        with self._lock:
            if self._ctl is None:
                raise SandboxDied("the fork server is not running")
            try:
                self._ctl.settimeout(60)
                data = json.dumps(req).encode()
                if fds:
                    socket.send_fds(self._ctl, [data], fds)
                else:
                    self._ctl.send(data)
            except OSError as exc:
                self._fail_pending(f"the fork server is gone: {exc}")
                raise SandboxDied(f"the fork server is gone: {exc}") from None
            pending = PendingReply(self)
            self._pending.append(pending)
            return pending

    def _collect(self, target: PendingReply, timeout: float) -> None:
        """Read replies, in order, until ``target``'s has arrived."""
        with self._lock:
            while not target.done:
                if self._ctl is None or not self._pending:
                    target._set(None, "the fork server is not running")
                    return
                try:
                    self._ctl.settimeout(timeout)
                    raw = self._ctl.recv(1 << 20)
                    reply = json.loads(raw) if raw else None
                except (OSError, ValueError) as exc:
                    # (a reply not read in time would answer the next request: none is trusted)
                    self._fail_pending(f"the fork server is gone: {exc}")
                    return
                if not isinstance(reply, dict):
                    self._fail_pending("the fork server is gone")
                    return
                self._pending.popleft()._set(reply, None)

    def _fail_pending(self, why: str) -> None:
        """The conversation with the fork server is over: every unanswered request fails."""
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()
            self._ctl = None
        while self._pending:
            self._pending.popleft()._set(None, why)

    def zygote_modules(self) -> list[str]:
        """Modules loaded in the fork server (diagnostics and tests)."""
        return self._request({"op": "modules"})["modules"]

    @property
    def zygote_pid(self) -> int | None:
        return self._zygote_pid

    # -- protections
    def _probe(self) -> None:
        """Start one probe child to see which of the offered protections actually bite."""
        f = self._features
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
            f = dict.fromkeys(f, False)
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
    #: Keep one sandbox forked and confined ahead of the next ``spawn`` with the server's own
    #: limits (a grading worker turns this on). Its fork and confinement, and above all the wait
    #: for an RCU grace period when a process joins a cgroup-v1 hierarchy (about 10 ms with the
    #: CPU idle, every time: the kernel's cgroup_threadgroup_rwsem has gone back to its fast mode
    #: between two submissions), then overlap with the tests of the submission before. A
    #: prepared sandbox holds no student code until ``spawn`` gives it its cells.
    prepare_ahead = False

    def spawn(self, cells: list[str], *, limits: Limits | None = None) -> Submission:
        if self._ctl is None:
            raise SandboxError("ForkServer.start() was not called")
        sub = self._take_prepared(limits)
        if sub is None:
            sub = Submission(self, limits or self.limits, arena=True)
        try:
            sub._run(list(cells))
        except BaseException:
            sub.close()
            raise
        if sub._setup_failed:  # a problem of this machine, not of the submission
            output = sub.output.strip()[-500:]
            sub.close()
            raise SandboxError(f"the sandbox could not be set up: {output}")
        if self.prepare_ahead and limits is None:
            self._prepare_next()
        return sub

    def _take_prepared(self, limits: Limits | None) -> Submission | None:
        """The sandbox prepared ahead, if it fits this spawn and is still waiting for cells."""
        sub, self._ahead = self._ahead, None
        if sub is None:
            return None
        if limits is None and sub.launched() and sub.alive and not _exited(sub):
            return sub
        sub.close()  # other limits, or it died while waiting: a fresh one instead
        return None

    def _prepare_next(self) -> None:
        try:
            # the fork server's reply is read when the sandbox is taken (or closed)
            self._ahead = Submission(self, self.limits, arena=True, defer=True)
        except SandboxError:  # the next spawn tries again and reports what is wrong
            self._ahead = None


def _exited(sub: Submission) -> bool:
    """Whether a sandbox's process has exited (its pidfd is readable), without waiting."""
    if sub._pidfd is None:
        return False
    try:
        readable, _, _ = select.select([sub._pidfd], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class PendingReply:
    """The fork server's reply to one request, read when it is wanted (``result``)."""

    __slots__ = ("_server", "done", "_reply", "_gone", "on_failure")

    def __init__(self, server: ForkServer):
        self._server = server
        self.done = False
        self._reply: dict | None = None
        self._gone: str | None = None
        #: Called (once, with no argument) if the request turns out to have failed; for
        #: requests whose reply nobody waits for (a cleanup in the background).
        self.on_failure = None

    def _set(self, reply: dict | None, gone: str | None) -> None:
        self.done, self._reply, self._gone = True, reply, gone
        failed = gone is not None or (reply is not None and "error" in reply)
        if failed and self.on_failure is not None:
            callback, self.on_failure = self.on_failure, None
            with contextlib.suppress(Exception):
                callback()

    def result(self, timeout: float = 60) -> dict:
        if not self.done:
            self._server._collect(self, timeout)
        if self._gone is not None or self._reply is None:
            raise SandboxDied(self._gone or "the fork server is gone")
        if "error" in self._reply:
            raise SandboxError(f"fork server: {self._reply['error']}")
        return self._reply
