"""One submission's sandboxed process, seen from the trusted worker: launch, I/O, death.

The process itself is forked and confined by the fork server; this side holds its socket, its
output pipe and its shared-memory arena, enforces wall-clock and CPU limits while waiting, and
asks the fork server to kill it and free its resources on close. Calls into it are
:mod:`.calls`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass

from . import cellcode, codec
from .arena import GraderArena
from .calls import Proxy, perform_call
from .child import EXIT_SETUP_FAILED
from .errors import (
    CallTimeout,
    Limits,
    MissingName,
    ProtocolError,
    SandboxDied,
    SandboxError,
)
from .loop_requests import LoopEntry, perform_loop
from .merged import BATCH, CALL, LOOP
from .reader import Reader

FLOOD_FACTOR = 64  # output beyond this many times output_bytes kills the child
MAX_NAMES = 10_000
CPU_POLL_SLACK_S = 0.5
#: A call's CPU budget is counted from a reading of the child's CPU time at most this old (one
#: /proc read per call was a tenth of a small call's grader time). The reading can only be lower
#: than the CPU at the call's start: the backstop then counts at most this much of the time
#: before the call against it, well inside CPU_POLL_SLACK_S; RLIMIT_CPU, re-armed by the child
#: at each call, acts first in any case.
CPU_MARK_MAX_AGE_S = 0.01
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


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


class Submission:
    """One submission's sandboxed process. Use as a context manager; close() kills everything."""

    def __init__(self, server, limits: Limits, *, probe: bool = False, arena: bool = False,
                 defer: bool = False):
        self._server = server
        self.limits = limits
        self.cells: list[CellOutcome] = []
        self.status = "starting"
        self.reason: str | None = None
        self.notes: list[str] = []
        self._names: set[str] = set()
        self._callables: set[str] = set()
        self._ready = False
        self._globals_ahead: tuple[dict, list] | None = None  # see read_globals
        #: Set by the batch grader's grade/lookahead.py: parks the first request of a case
        #: running ahead (``intercept``), so that the cases' first requests cross together.
        self.lookahead = None
        self._started = False  # the child said it starts the cells: no more set-up failures
        self._alive = False
        self._closed = False
        self._cleaned = False
        self._setup_failed = False
        self._pidfd: int | None = None
        self._stat_fd: int | None = None
        self._cpu_mark_at: tuple[float, float] | None = None  # (monotonic time, CPU seconds)
        self._lock = threading.RLock()
        self._out = bytearray()
        self._out_total = 0
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._out_fd: int | None = None
        self.uid: int | None = None
        self.gid: int | None = None
        self.cgroups: list[str] = []
        self.workdir = ""
        self.arena: GraderArena | None = None
        with server._subs_lock:
            server._subs.add(self)
        self._launching = None  # the fork server's reply to a deferred launch, until read
        try:
            if arena:
                self.arena = GraderArena()
            self._launch(probe, defer)
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
    def _launch(self, probe: bool, defer: bool = False) -> None:
        """Ask the fork server for a sandbox: it allocates the uid, cgroups and directory (it
        alone has the privileges to) and forks the child with our socket, pipe and arena.
        With ``defer`` the reply is read later, by ``launched()`` (a sandbox prepared ahead)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        self._sock, self._out_fd = mine, out_r  # closed by close() whatever happens next
        self._reader = Reader(mine)
        os.set_blocking(out_r, False)
        fds = [theirs.fileno(), out_w] + ([self.arena.fd] if self.arena is not None else [])
        try:
            pending = self._server._request_async({"op": "spawn", "probe": probe,
                                                   "limits": self.limits.as_dict()}, fds=fds)
        finally:
            theirs.close()
            os.close(out_w)
        if defer:
            self._launching = pending
        else:
            self._launched(pending.result())

    def launched(self) -> bool:
        """Read the reply of a deferred launch; False if the fork server refused it or is gone
        (the sandbox is then closed)."""
        pending, self._launching = self._launching, None
        if pending is None:
            return self.pid is not None
        try:
            self._launched(pending.result())
        except SandboxError:
            self.close()
            return False
        return True

    def _launched(self, reply: dict) -> None:
        self.pid = int(reply["pid"])
        self.uid, self.gid = reply.get("uid"), reply.get("gid")
        self.workdir = str(reply.get("workdir") or "")
        self.cgroups = [str(c) for c in reply.get("cgroups") or []]
        self.limits = Limits(**reply["limits"])  # what the fork server actually applied
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

    def _cpu_mark(self) -> float:
        """The child's CPU seconds at the start of a call, for its budget: a reading at most
        CPU_MARK_MAX_AGE_S old (never higher than the true value: CPU time only grows)."""
        now = time.monotonic()
        mark = self._cpu_mark_at
        if mark is None or now - mark[0] > CPU_MARK_MAX_AGE_S:
            mark = self._cpu_mark_at = (now, self._cpu_seconds())
        return mark[1]

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
            return self._reader.recv_msg(deadline=deadline, poll=poll, watch=watch)
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
            raw = codec.pack_from_grader(header, arrays)
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

    def _cleanup(self, wait_first: float) -> dict:
        if self._cleaned or self.pid is None:
            return {}
        self._cleaned = True
        self._alive = False
        # the fork server knows the uid, cgroups and directory: it kills and frees them all
        req = {"op": "cleanup", "pid": self.pid, "wait_first": wait_first}
        try:
            return self._server._request(req)
        except SandboxError:
            self._fallback_kill()
            return {}

    def _cleanup_in_background(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        self._alive = False
        try:
            pending = self._server._request_async({"op": "cleanup", "pid": self.pid,
                                                   "wait_first": 0.0})
        except SandboxError:
            self._fallback_kill()
            return
        pending.on_failure = self._fallback_kill

    def _fallback_kill(self) -> None:
        """The fork server is gone: its children die with it (PR_SET_PDEATHSIG); try from here
        too (this works only while the worker still has the privileges to)."""
        for target in (-self.pid, self.pid):
            with contextlib.suppress(OSError):
                os.kill(target, signal.SIGKILL)

    def _kill(self, status: str, reason: str) -> None:
        if self._alive:
            self.status = status
            self.reason = reason
        self._cleanup(0.0)
        self._close_channels()

    def _on_death(self) -> None:
        """The child closed its end: find out why, then make sure everything is dead."""
        was_alive = self._alive
        res = self._cleanup(1.0)
        oom = bool(res.get("oom"))
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
        elif code == EXIT_SETUP_FAILED and not self._started:
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

    def close(self, *, wait: bool = True) -> None:
        """Kill the child and everything it started, remove its directory and cgroups.

        With ``wait=False`` the fork server does it in the background, as its next task; the
        reply is read with a later request's. The fork server takes requests in order, so the
        uid slot, cgroups and directory are free before any later allocation. The sandbox
        prepared ahead (forked before this close) may run its cells meanwhile: it has its own
        uid, cgroups and namespaces, as the sandboxes of two workers running at once do.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._launching is not None:
                # a deferred launch: its child exists once the fork server has answered
                pending, self._launching = self._launching, None
                with contextlib.suppress(SandboxError):
                    self._launched(pending.result())
            if self.pid is not None:
                if self._alive and self.status in ("starting", "running"):
                    self.status = "died"
                if wait:
                    self._cleanup(0.0)
                else:
                    self._cleanup_in_background()
            self._alive = False
            self._close_channels()
            if self.arena is not None:
                self.arena.close()
                self.arena = None
        with self._server._subs_lock:
            self._server._subs.discard(self)

    # -- running the cells
    def _run(self, cells: list[str]) -> None:
        with self._lock:
            deadline = time.monotonic() + float(self.limits.run_wall_s)
            self.status = "running"
            options = dict(getattr(self._server, "run_options", None) or {})
            cells = [c if isinstance(c, str) else "" for c in cells]
            arrays: list = []
            compiled = cellcode.run_message(cells, arrays)
            self._send({**options, "op": "run", "cells": cells, "compiled": compiled}, arrays,
                       deadline)
            budget = (0.0, float(self.limits.run_cpu_s))
            while True:
                try:
                    msg, arrs = self._recv(deadline, budget, "the cells", self.limits.run_wall_s)
                except SandboxError:
                    if self.status == "running":
                        self.status = "died"
                    self._cells_before_death(len(cells))
                    return
                op = msg.get("op")
                if op == "started" and not self._started:
                    self._started = True
                elif op == "cell" and self._started:
                    if not self._add_cell(msg, len(cells)):
                        return
                elif op == "ready" and self._started:
                    if isinstance(msg.get("globals"), dict):
                        self._globals_ahead = (msg["globals"], arrs)
                    reports = msg.get("cells")
                    for report in reports if isinstance(reports, list) else ():
                        if isinstance(report, dict) and not self._add_cell(report, len(cells)):
                            return
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

    def _add_cell(self, msg: dict, n_cells: int) -> bool:
        """Keep the report of the next cell (numbered by the grader: reports come in order);
        a report beyond the notebook's cells kills the submission (False)."""
        if len(self.cells) >= n_cells:
            self._kill("protocol", "the submission reported more cells than it has")
            return False
        self.cells.append(_cell_outcome(msg, len(self.cells)))
        if self.cells[-1].error and self.cells[-1].error.startswith("MemoryError"):
            self._memory_error = True
        return True

    def _cells_before_death(self, n_cells: int) -> None:
        """The cells that ran without error before the one the process died in (marked in the
        arena: see child.run_cells), counted as such so that the death is placed in that cell.
        A mark the child could not have written honestly (before a cell it reported, beyond the
        last cell) is ignored; an honest-looking false one only moves the blame among the
        student's own cells (the one left out of a new attempt)."""
        if self.arena is None:
            return
        try:
            running = self.arena.cell_running()
        except (ValueError, OSError):
            return
        if not len(self.cells) < running <= n_cells:
            return
        while len(self.cells) < running - 1:
            index = len(self.cells)
            self.cells.append(CellOutcome(index=index, ok=True, error=None, traceback=""))

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

    def read_global(self, name: str) -> tuple[str, object]:
        """What the student's global ``name`` is, as ``(kind, payload)``: ``("value", plain
        data decoded by the codec)``, ``("module", its name)``, ``("callable", None)``,
        ``("undefined", None)`` or ``("refused", why it cannot cross)``. Only plain data
        crosses; reading is bounded like a call (wall clock and CPU)."""
        with self._lock:
            msg, arrs = self._ask({"op": "global", "name": str(name)}, f"reading the global {name}",
                                  1, "global")
            return self._global_entry(msg, arrs, None)

    def read_globals(self, names: list[str]) -> dict[str, tuple[str, object]]:
        """``read_global`` of every name in one round trip, bounded like as many calls. When
        the child says the values do not fit in one message, they are read one by one."""
        names = [str(n) for n in names]
        ahead, self._globals_ahead = self._globals_ahead, None
        if not names:
            return {}
        with self._lock:
            if ahead is not None and ahead[0].get("names") == names:
                # answered with "ready", for the names the grader's run message listed (the
                # same answer as to this request, read and checked the same way)
                msg, arrs = ahead
            else:
                msg, arrs = self._ask({"op": "globals", "names": names}, "reading the globals",
                                      len(names), "globals")
            if msg.get("fallback") is True:
                return {name: self.read_global(name) for name in names}
            entries = msg.get("entries")
            if not (isinstance(entries, list) and len(entries) == len(names)
                    and all(isinstance(e, dict) for e in entries)):
                self._kill("protocol", "the submission sent malformed globals")
                raise ProtocolError(self.reason)
            budget = [codec.MAX_NODES, set()]  # each array frame serves one value only
            return {name: self._global_entry(entry, arrs, budget)
                    for name, entry in zip(names, entries)}

    def _ask(self, request: dict, what: str, calls: int, answer: str) -> tuple[dict, list]:
        """Send a request that runs no student function and wait for its ``answer`` op, with
        the limits of ``calls`` calls; anything else kills the submission."""
        if not self._alive:
            raise SandboxDied(self._death_message())
        wall = float(self.limits.call_wall_s) * calls
        deadline = time.monotonic() + wall
        budget = (self._cpu_mark(), float(self.limits.call_cpu_s) * calls)
        self._send(request, [], deadline)
        msg, arrs = self._recv(deadline, budget, what, wall)
        if msg.get("op") != answer:
            self._kill("protocol", f"the submission sent an unexpected message "
                                   f"{str(msg.get('op'))[:50]!r}")
            raise ProtocolError(self.reason)
        return msg, arrs

    def _global_entry(self, entry: dict, arrs: list, budget: list | None) -> tuple[str, object]:
        kind = entry.get("kind")
        if kind == "value":
            try:
                return "value", codec.decode(entry.get("value"), arrs, None, 0, budget)
            except codec.CodecError as exc:
                return "refused", f"the submission sent malformed data: {exc}"
        if kind == "module":
            return "module", _text(entry.get("module"), 200)
        if kind in ("callable", "undefined"):
            return kind, None
        if kind == "refused":
            return "refused", _text(entry.get("error"), 500) or "it is not plain data"
        self._kill("protocol", f"the submission sent an unexpected answer {str(kind)[:50]!r}")
        raise ProtocolError(self.reason)

    # -- calls (a case running ahead parks its first one: see grade/lookahead.py)
    def _call(self, proxy: Proxy, args: tuple, kwargs: dict):
        if self.lookahead is not None:
            answer = self.lookahead.intercept(self, CALL, (proxy, args, kwargs))
            if answer is not self.lookahead.DIRECT:
                return answer
        with self._lock:
            return perform_call(self, proxy, args, kwargs)

    def _batch(self, entries: list, budget: tuple[float, str] | None = None):
        from .batch import perform_batch

        if self.lookahead is not None:
            answer = self.lookahead.intercept(self, BATCH, entries)
            if answer is not self.lookahead.DIRECT:
                return answer
        with self._lock:
            return perform_batch(self, entries, budget)

    def _loop(self, proxy: Proxy, step, theta, grad_fn, steps: int, state):
        if self.lookahead is not None:
            answer = self.lookahead.intercept(
                self, LOOP, LoopEntry(proxy, step, theta, grad_fn, steps, state))
            if answer is not self.lookahead.DIRECT:
                return answer
        with self._lock:
            return perform_loop(self, proxy, step, theta, grad_fn, steps, state)


def _text(value, n: int) -> str:
    s = value if isinstance(value, str) else ""
    return s if len(s) <= n else s[: n - 16] + " ... (truncated)"


def _str_set(value, cap: int = MAX_NAMES) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {v for v in value[:cap] if isinstance(v, str) and len(v) <= 200}


def _cell_outcome(msg: dict, index: int) -> CellOutcome:
    ok = msg.get("ok") is True
    return CellOutcome(index=index, ok=ok,
                       error=None if ok else (_text(msg.get("error"), 500) or "error"),
                       traceback=_text(msg.get("tb"), 2000))
