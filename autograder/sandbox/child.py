"""Child side: confine the freshly forked process, run the cells, answer proxy calls.

Runs inside the fork server's child after ``os.fork()``; never returns (``os._exit``).
Imports only the standard library, numpy, IPython's input transformer and sibling child-side
modules (all already imported by the fork server before it forks).
"""

from __future__ import annotations

import builtins
import inspect
import io
import linecache
import marshal
import math
import os
import resource
import signal
import socket
import sys
import time
import traceback
import types
import warnings

import numpy as np

from . import _linux, codec, loops, shims
from .arena import ChildArena
from .reader import Reader

SOCK_FD = 3
ARENA_FD = 4
#: Bit generators a test's numpy Generator may be rebuilt from (by name, from its state).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
EXIT_SETUP_FAILED = 71
MAX_ERROR = 500
MAX_TB = 2000
MAX_WARNINGS = 20
MAX_GLOBALS = 10_000  # names in one globals request (the grader asks for the tests' parameters)
CPU_LIFETIME_FACTOR = 20  # hard RLIMIT_CPU = run_cpu_s + this many per-call budgets
_RETIRED: list = []  # objects of the fork server this child no longer uses (see confine)


# ----------------------------------------------------------------------------- confinement


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 512 << 20


def _arrange_fds(sock_fd: int, out_fd: int, arena_fd: int | None) -> None:
    # the arena first: it may sit on a low number the others are about to take
    if arena_fd is not None:
        tmp = os.dup(arena_fd)
        os.dup2(tmp, 64)
        os.close(tmp)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    if sock_fd != SOCK_FD:
        os.dup2(sock_fd, SOCK_FD)
    os.set_inheritable(SOCK_FD, False)
    if arena_fd is not None:
        os.dup2(64, ARENA_FD)
        os.set_inheritable(ARENA_FD, False)
    os.closerange((ARENA_FD if arena_fd is not None else SOCK_FD) + 1, 1 << 16)


def _set_environment(env: dict) -> None:
    """Make the environment exactly ``env``. The fork server's is nearly that already (it was
    started with CHILD_ENV): only what differs is changed, as clearing and refilling it wrote
    to about a hundred pages shared with the fork server (page copies, 0.2 ms per sandbox)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _set_rlimits(limits: dict, privileged_uid: bool) -> None:
    mb = 1 << 20
    cpu = int(math.ceil(limits["run_cpu_s"]))
    hard_cpu = cpu + int(math.ceil(limits["call_cpu_s"])) * CPU_LIFETIME_FACTOR + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard_cpu))
    address = _vm_size_bytes() + int(limits["memory_mb"]) * mb
    resource.setrlimit(resource.RLIMIT_AS, (address, address))
    fsize = int(limits["fsize_mb"]) * mb
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["nfiles"]), int(limits["nfiles"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # under memory pressure the kernel's OOM killer picks sandboxes before the grader
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if privileged_uid:  # RLIMIT_NPROC counts every task of the real uid: only useful per slot uid
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["nproc"]), int(limits["nproc"])))


def confine(spec: dict, sock_fd: int, out_fd: int, report: dict | None = None,
            arena_fd: int | None = None) -> ChildArena | None:
    """Apply every protection in ``spec``. With ``report`` (a probe), failures are recorded
    there instead of aborting; otherwise any failure exits the child (fail closed). Returns the
    shared-memory arena, mapped before the address-space limit is set."""
    os.setsid()
    _arrange_fds(sock_fd, out_fd, arena_fd)
    arena = None
    if arena_fd is not None:
        try:
            arena = ChildArena(ARENA_FD)
        except (OSError, ValueError) as exc:
            os.write(2, f"sandbox setup failed at arena: {exc}\n".encode())
            os._exit(EXIT_SETUP_FAILED)

    def step(name, fn):
        if not spec.get(name):
            return
        try:
            fn()
            if report is not None:
                report[name] = True
        except Exception as exc:
            if report is not None:
                report[name] = False
                report.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"[:300]
                return
            os.write(2, f"sandbox setup failed at {name}: {exc}\n".encode())
            os._exit(EXIT_SETUP_FAILED)

    def join_cgroups():
        for cg in spec["cgroups"]:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    uid = spec.get("uid")
    step("cgroups", join_cgroups)
    _set_environment(spec["env"])

    def isolate_network():
        # System V IPC objects outlive their process: a namespace of its own, always. The
        # network: the fork server's empty namespace where seccomp forbids sockets (see
        # Zygote._leave_network), else a namespace of its own; never the grader's.
        own_net = 0 if spec.get("server_netns") is True else _linux.CLONE_NEWNET
        _linux.unshare(_linux.CLONE_NEWIPC | own_net)
        if os.stat("/proc/self/ns/net").st_ino == spec.get("host_netns"):
            raise OSError("the sandbox is in the grader's network namespace")

    step("netns", isolate_network)
    step("userns", _linux.enter_user_and_net_namespace)
    step("tmpfs", lambda: _linux.private_tmpfs(spec["workdir"], spec["limits"]["disk_mb"],
                                                uid, spec.get("gid")))
    step("stdlib", lambda: _linux.expose_readonly(spec["expose"]["cover"],
                                                  spec["expose"]["paths"]))
    os.chdir(spec["workdir"])
    step("rlimits", lambda: _set_rlimits(spec["limits"], uid is not None))
    step("landlock", lambda: _linux.install_landlock(spec["read_paths"],
                                                     [spec["workdir"], os.devnull],
                                                     list_paths=spec.get("list_paths", ())))

    def drop():
        os.setgroups([])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("uid did not change")

    step("setuid", drop)
    # after the credential change (which clears it): die with the fork server
    _linux.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != spec["zygote_pid"]:
        os._exit(EXIT_SETUP_FAILED)
    step("seccomp", _linux.install_seccomp)
    allowed = (*spec["read_paths"], *spec.get("list_paths", ()))
    sys.path[:] = [p for p in sys.path if p and any(p == r or p.startswith(r.rstrip("/") + "/")
                                                    for r in allowed)]
    # A fresh, empty importer cache. The old one is kept alive rather than cleared: freeing its
    # finders (and their directory listings) would write to, and so copy, hundreds of pages
    # shared with the fork server, for nothing (it is never consulted again).
    _RETIRED.append(sys.path_importer_cache)
    sys.path_importer_cache = {}
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                      closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                      closefd=False)
    sys.stdin = io.StringIO()
    return arena


# ----------------------------------------------------------------------------- errors


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 15] + " ... (truncated)"


def describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable message>"
    name = type(exc).__name__
    return _short(f"{name}: {text}" if text else name, MAX_ERROR)


STUDENT_FILES = ("<code cell", "<cell", "<magic")  # the file names of the student's code


def student_traceback(exc: BaseException) -> str:
    """The traceback restricted to frames of the student's cells."""
    try:
        # from the first frame of a cell on: the frames before it are this module's, whose
        # source the sandbox cannot read (extracting them cost a failed open per traceback)
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(STUDENT_FILES):
            tb = tb.tb_next
        frames = [f for f in traceback.extract_tb(tb)
                  if f.filename.startswith(STUDENT_FILES)]
        lines = traceback.format_list(frames[-10:])
        return _short("".join(lines) + describe(exc), MAX_TB)
    except Exception:
        return describe(exc)


# ----------------------------------------------------------------------------- the session


MAX_LABELS = 1000  # arguments named in one labels request


def _copy_of_builtins() -> types.ModuleType:
    own = types.ModuleType("builtins", builtins.__doc__)
    own.__dict__.update(builtins.__dict__)
    return own


#: A copy of the builtins module made by the fork server (prepare), which each sandbox takes as
#: its own: it is the fork server's copy only until the sandbox writes to it. Copying there
#: took a reference to every builtin, a page copy each for about fifty pages.
_BUILTINS_COPY: list = []


def prepare() -> None:
    """What every sandbox starts from, made once in the fork server before it forks."""
    if not _BUILTINS_COPY:
        _BUILTINS_COPY.append(_copy_of_builtins())


def _take_builtins_copy() -> types.ModuleType:
    return _BUILTINS_COPY.pop() if _BUILTINS_COPY else _copy_of_builtins()


class CallbackError(RuntimeError):
    """Raised in the student's code when a function passed in by the grader failed."""


def _plain_function(fn) -> bool:
    """A function defined by ``def`` or ``lambda`` with no signature of its own to consult."""
    return type(fn) is types.FunctionType and "__signature__" not in fn.__dict__ \
        and "__wrapped__" not in fn.__dict__


class Session:
    def __init__(self, sock: socket.socket, limits: dict, arena: ChildArena | None = None,
                 namespace: dict | None = None):
        """``namespace``: the fork server's rehearsal (sandbox/rehearsal.py) serves in a plain
        namespace of its own, leaving the process's builtins and the copy made for the
        sandboxes alone; a sandbox's session never gets one."""
        self.sock = sock
        self.reader = Reader(sock, from_grader=True)
        self.limits = limits
        self.arena = arena
        self._rngs: list = []  # the Generators rebuilt for the current call, in handle order
        self._arrs: list = []  # the array frames of the message being decoded
        if namespace is not None:
            self.ns = namespace
            self.injected: dict = {}
            return
        # The submission gets its own copy of the builtins module (also as sys.modules
        # ["builtins"]), so "builtins.len = ..." cannot break this module's protocol code.
        own = _take_builtins_copy()
        sys.modules["builtins"] = own
        self.ns: dict = {"__name__": "__main__", "__builtins__": own}
        shims.install(self.ns)
        self.injected = {"get_ipython": self.ns["get_ipython"], "display": self.ns["display"]}

    # -- messaging
    def send(self, header: dict, arrays=()):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        codec.send_msg(self.sock, header, arrays)

    def recv(self):
        try:
            return self.reader.recv_msg()
        except codec.Closed:
            os._exit(0)

    # -- cells
    def run_cells(self, cells: list, compiled=None, arrs=(), wanted_globals=None) -> None:
        tm = None  # IPython's transformer, made only for a cell the grader did not compile
        # Before any student code: from here on, how the process ends is the student's doing
        # (an exit code of 71 in a cell is not a set-up failure; see Submission._on_death)
        self.send({"op": "started"})
        # With an arena, a cell that ran without error is reported with "ready" and the cell
        # being run is marked in the arena (where the grader finds it if the process dies);
        # a failing cell is reported at once, with the reports before it, so its error text
        # survives a later cell that kills the process. Without an arena: a message per cell.
        pending: list = []
        for i, src in enumerate(cells):
            if self.arena is not None:
                self.arena.mark_cell(i + 1)
            # numbered as the grader's notes number it: the N-th code cell, which is In [N] after
            # Jupyter's "Restart Kernel and Run All Cells"
            fname = f"<code cell {i + 1}>"
            ok, err, tb = True, None, ""
            try:
                # the grader's transform and compile of this cell (sandbox/cellcode.py), else ours
                ready = _precompiled(compiled, i, arrs, fname)
                if ready is None:
                    if tm is None:
                        from IPython.core.inputtransformer2 import TransformerManager

                        tm = TransformerManager()
                    code = tm.transform_cell(src if isinstance(src, str) else "")
                    ready = code, compile(code, fname, "exec")
                code, obj = ready
                linecache.cache[fname] = (len(code), None, code.splitlines(True), fname)
                exec(obj, self.ns)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt too: next cell
                ok, err, tb = False, describe(exc), student_traceback(exc)
                try:
                    print(tb, file=sys.stderr)
                except Exception:
                    pass
            report = {"op": "cell", "index": i, "ok": ok, "error": err, "tb": tb}
            if ok and self.arena is not None:
                pending.append(report)
                continue
            for earlier in pending:
                self.send(earlier)
            pending = []
            self.send(report)
        names = [n for n, v in list(self.ns.items())
                 if isinstance(n, str) and not (n.startswith("__") and n.endswith("__"))
                 and not (n in self.injected and self.injected[n] is v)]
        callables = [n for n in names if callable(self.ns.get(n))]
        ready = {"op": "ready", "names": names[:10000], "callables": callables[:10000],
                 "notes": shims.NOTES[:100], "cells": pending}
        arrays: list = []
        if isinstance(wanted_globals, list) and len(wanted_globals) <= MAX_GLOBALS:
            # the globals the tests ask for, with this answer (the grader's globals request,
            # answered ahead): the names it will ask for are the wanted ones the cells defined
            defined = set(ready["names"])
            wanted = [n for n in wanted_globals if isinstance(n, str) and n in defined]
            self._arm_cpu(len(wanted) or 1)  # encoding runs the student's code
            ready["globals"] = {"names": wanted,
                                "entries": [self._describe_global(n, arrays) for n in wanted]}
        try:
            self.send(ready, arrays)
        except codec.CodecError:  # too large for one message: the grader asks as before
            del ready["globals"]
            self.send(ready)

    # -- values
    def _on_handle(self, tag, val):
        if tag == "cb":
            return _Callback(self, val)
        if tag == "g" and isinstance(val, str) and val in self.ns:
            return self.ns[val]
        if tag == "m" and self.arena is not None:
            try:
                return self.arena.view(val)
            except (ValueError, TypeError) as exc:
                raise codec.CodecError(str(exc)) from None
        if tag == "rng":
            return self._generator(val)
        if tag == "fn":  # a gradient formula of the test, computed here (sandbox/loops.py)
            if not (isinstance(val, list) and len(val) == 2 and isinstance(val[0], str)):
                raise codec.CodecError("malformed formula")
            try:
                return loops.gradient([val[0], codec.decode(val[1], self._arrs)])
            except loops.LoopError as exc:
                raise codec.CodecError(str(exc)) from None
        raise codec.CodecError(f"bad handle {tag}")

    def _generator(self, val):
        """A Generator of our own, in the state the test's generator had."""
        import numpy as np

        if not (isinstance(val, list) and len(val) == 3 and val[0] in BIT_GENERATORS
                and type(val[2]) is int):
            raise codec.CodecError("malformed generator")
        for handle, gen in self._rngs:
            if handle == val[2]:
                return gen  # the same generator passed twice: one object here too
        bit_generator = getattr(np.random, val[0])()
        try:
            bit_generator.state = codec.decode(val[1], self._arrs)
        except Exception as exc:
            raise codec.CodecError(f"bad generator state: {exc}") from None
        gen = np.random.Generator(bit_generator)
        self._rngs.append((val[2], gen))
        return gen

    def request(self, header: dict, args, kwargs):
        """Send a callback request and serve nested calls until its answer arrives."""
        arrays: list = []
        try:
            header["args"] = codec.encode(list(args), arrays)
            header["kwargs"] = codec.encode(dict(kwargs), arrays)
        except codec.CodecError as exc:
            raise TypeError(f"cannot pass this to the grader's function: {exc}") from None
        self.send(header, arrays)
        while True:
            msg, arrs = self.recv()
            op = msg.get("op")
            if op == "cb_result":
                return codec.decode(msg["value"], arrs)
            if op == "cb_error":
                raise CallbackError(str(msg.get("error", "")))
            if op == "call":
                self.serve_call(msg, arrs)
                continue
            self.dispatch(msg, arrs)

    def _param_names(self, fn, args, kwargs) -> list[str]:
        if _plain_function(fn):
            # a plain function that just returned was called with arguments it binds: its
            # positional parameters are its code's first co_argcount variable names, what
            # inspect.signature would list (without its cost: a few us per function, cold in
            # every fresh sandbox, where the merged request asks for the names of each call)
            code = fn.__code__
            named = min(len(args), code.co_argcount)
            return [*code.co_varnames[:named], *(f"arg{i}" for i in range(named, len(args)))]
        # another callable (a class instance, a partial, a wrapper): its signature, which may
        # run its own code (a __signature__), asked only when a change is to be worded
        names = [f"arg{i}" for i in range(len(args))]
        try:
            sig = inspect.signature(fn)
            sig.bind(*args, **kwargs)
        except Exception:
            return names
        pos = [p for p in sig.parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for i in range(min(len(args), len(pos))):
            names[i] = pos[i].name
        return names

    def _arm_cpu(self, calls: int = 1) -> None:
        try:
            # the process's CPU time, what RLIMIT_CPU counts (as getrusage's utime + stime of
            # RUSAGE_SELF, at a third of the cost: this runs before every call and loop step)
            used = time.process_time()
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            want = int(math.ceil(used + float(self.limits["call_cpu_s"]) * calls))
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            if soft != want:  # (read back every call: the student's code may have changed it)
                resource.setrlimit(resource.RLIMIT_CPU, (want, hard))
        except (ValueError, OSError):
            pass

    def _function(self, msg: dict):
        """The student's function a call or loop names, or None after answering "missing"."""
        name = msg.get("name")
        fn = self.ns.get(name) if isinstance(name, str) else None
        if fn is None or not callable(fn):
            self.send({"op": "missing", "name": str(name)[:200]})
            return None
        return fn

    def serve_call(self, msg: dict, arrs: list) -> None:
        fn = self._function(msg)
        if fn is None:
            return
        self._rngs = []
        self._arrs = arrs
        try:
            args = codec.decode(msg["args"], arrs, self._on_handle)
            kwargs = codec.decode(msg["kwargs"], arrs, self._on_handle)
        except (codec.CodecError, KeyError) as exc:
            self.send({"op": "protocol_error", "error": f"bad call: {exc}"})
            return
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            self.send({"op": "protocol_error", "error": "bad call"})
            return
        # whether an argument changed is for the grader to see in shared memory; the parameter
        # names that label its message are asked for only then (serve_labels)
        self._arm_cpu()
        # Numerical warnings of the call are recorded (as Jupyter's grader.check records them,
        # under NumPy's default error handling made explicit) and sent back as text: the
        # contract's warning-free clauses are checked by the grader.
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
                    result = fn(*args, **kwargs)
        except BaseException as exc:
            self.send({"op": "raise", "error": describe(exc), "tb": student_traceback(exc),
                       "warnings": _warning_texts(caught)})
            return
        arrays: list = []
        try:
            tree = codec.encode(result, arrays)
            states = [codec.encode(gen.bit_generator.state, arrays) for _, gen in self._rngs]
        except codec.CodecError as exc:
            self.send({"op": "protocol_error", "error": str(exc)[:MAX_ERROR]})
            return
        except BaseException as exc:  # e.g. a __float__ that raises, or RecursionError
            self.send({"op": "protocol_error",
                       "error": f"the returned value could not be converted: {describe(exc)}"})
            return
        answer = {"op": "return", "value": tree, "rng": states,
                  "warnings": _warning_texts(caught)}
        if msg.get("labels") is True and _plain_function(fn):
            # a call of the cases' merged request: the names that would word a change in place
            # come with its answer (asked after the request, they are lost if a later call
            # ends the process); for a plain function only, read from its code: working them
            # out for another callable would run its code (a __signature__) in every call
            answer["labels"] = self._param_names(fn, args, kwargs)[:MAX_LABELS]
        try:
            self.send(answer, arrays)
        except codec.CodecError as exc:
            self.send({"op": "protocol_error", "error": str(exc)[:MAX_ERROR]})

    def serve_labels(self, msg: dict) -> None:
        """The parameter names of a call of ``name`` with ``arity`` positional arguments and
        these keywords, as ``_param_names`` gives them: asked for by the grader only when it saw
        an argument of that call change (they only name it in the message)."""
        name, arity, keywords = msg.get("name"), msg.get("arity"), msg.get("keywords")
        if not (isinstance(name, str) and type(arity) is int and 0 <= arity <= MAX_LABELS
                and isinstance(keywords, list) and len(keywords) <= MAX_LABELS
                and all(isinstance(k, str) for k in keywords)):
            self.send({"op": "protocol_error", "error": "bad labels request"})
            return
        fn = self.ns.get(name)
        labels = self._param_names(fn, [None] * arity, dict.fromkeys(keywords)) \
            if callable(fn) else [f"arg{i}" for i in range(arity)]
        self.send({"op": "labels", "labels": labels[:arity]})

    def serve_calls(self, msg: dict, arrs: list) -> None:
        """Independent calls and step loops of one request (the grader's sandbox/batch.py), run
        one after the other, each answered as soon as it returns, exactly as if asked for
        alone."""
        calls = msg.get("calls")
        if not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
            self.send({"op": "protocol_error", "error": "bad calls"})
            return
        for call in calls:
            if "plan" in call:  # a step loop (serve_loop's request and answer)
                self.serve_loop(call, arrs)
            else:
                self.serve_call(call, arrs)

    def serve_loop(self, msg: dict, arrs: list) -> None:
        """Run a step loop (``loops``) with the student's function; send back the iterates,
        the final state and, if a step's output was malformed, that output. A step that
        raises, or returns what cannot cross, ends the loop as the same call would end."""
        fn = self._function(msg)
        if fn is None:
            return
        self._rngs = []
        self._arrs = arrs
        try:
            plan = loops.Plan(codec.decode(msg.get("plan"), arrs, self._on_handle))
        except (codec.CodecError, loops.LoopError) as exc:
            self.send({"op": "protocol_error", "error": f"bad loop: {exc}"})
            return
        theta, state, shape = plan.theta0, plan.state, plan.theta0.shape
        iterates, stop = [theta], None
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
                    for t in range(1, plan.steps + 1):
                        self._arm_cpu()
                        grad = plan.grad(theta.copy())
                        args, kwargs = plan.arguments(theta.copy(), grad, state, t)
                        out = fn(*args, **kwargs)
                        if not loops.is_plain(out):
                            codec.encode(out, [])  # raises the codec's own words for it
                        unpacked = plan.unpack(out, state)
                        new = None if unpacked is None else loops.iterate_of(unpacked[0], shape)
                        if new is None:
                            stop = {"step": t, "out": out}
                            break
                        theta, state = new, unpacked[1]
                        iterates.append(theta)
                        if not np.isfinite(theta).all():
                            break
        except codec.CodecError as exc:
            self.send({"op": "protocol_error", "error": str(exc)[:MAX_ERROR],
                       "warnings": _warning_texts(caught)})
            return
        except BaseException as exc:
            self.send({"op": "raise", "error": describe(exc), "tb": student_traceback(exc),
                       "warnings": _warning_texts(caught)})
            return
        arrays: list = []
        try:
            reply = {"op": "loop", "iterates": codec.encode(np.stack(iterates), arrays),
                     "state": codec.encode(state, arrays),
                     "stop": None if stop is None else
                     {"step": stop["step"], "out": codec.encode(stop["out"], arrays)},
                     "warnings": _warning_texts(caught)}
            self.send(reply, arrays)
        except codec.CodecError as exc:
            self.send({"op": "protocol_error", "error": str(exc)[:MAX_ERROR]})
        except BaseException as exc:  # e.g. a __float__ that raises while encoding
            self.send({"op": "protocol_error",
                       "error": f"the returned value could not be converted: {describe(exc)}"})

    def _describe_global(self, name, arrays: list) -> dict:
        """What the global ``name`` is, as plain data only: a module by its name (the grader
        uses its own copy, if the policy allows it), a function as "callable" (the grader calls
        it through a proxy), a value encoded by the codec into ``arrays``, anything the codec
        refuses (a class, an instance, a generator) as the reason it cannot cross."""
        if not isinstance(name, str) or name not in self.ns:
            return {"kind": "undefined"}
        value = self.ns[name]
        if isinstance(value, types.ModuleType):
            return {"kind": "module", "module": str(value.__name__)[:200]}
        if callable(value) and not isinstance(value, type):
            return {"kind": "callable"}
        mark = len(arrays)
        try:
            return {"kind": "value", "value": codec.encode(value, arrays)}
        except codec.CodecError as exc:
            error = str(exc)
        except BaseException as exc:  # e.g. a __float__ that raises while encoding
            error = f"it could not be converted: {describe(exc)}"
        del arrays[mark:]  # (the frames of a value refused half-way)
        return {"kind": "refused", "error": error[:MAX_ERROR]}

    def serve_global(self, msg: dict) -> None:
        """One global a test asks for (otter passes any global); see _describe_global."""
        self._arm_cpu()  # encoding runs the student's code (a list subclass's __iter__...)
        arrays: list = []
        entry = self._describe_global(msg.get("name"), arrays)
        try:
            self.send({"op": "global", **entry}, arrays)
        except codec.CodecError as exc:
            self.send({"op": "global", "kind": "refused", "error": str(exc)[:MAX_ERROR]})

    def serve_globals(self, msg: dict) -> None:
        """Every global a submission's tests ask for, in one answer (one round trip instead of
        one per name). When the values together are too large for one message the grader is
        told to read them one by one (each then refused or sent on its own, as before)."""
        names = msg.get("names")
        if not (isinstance(names, list) and len(names) <= MAX_GLOBALS):
            self.send({"op": "protocol_error", "error": "bad globals request"})
            return
        self._arm_cpu(len(names) or 1)  # each name has a call's budget, as read one by one
        arrays: list = []
        entries = [self._describe_global(name, arrays) for name in names]
        try:
            self.send({"op": "globals", "entries": entries}, arrays)
        except codec.CodecError:
            self.send({"op": "globals", "fallback": True})

    def dispatch(self, msg: dict, arrs: list) -> None:
        op = msg.get("op")
        if op == "call":
            self.serve_call(msg, arrs)
        elif op == "calls":
            self.serve_calls(msg, arrs)
        elif op == "loop":
            self.serve_loop(msg, arrs)
        elif op == "global":
            self.serve_global(msg)
        elif op == "globals":
            self.serve_globals(msg)
        elif op == "labels":
            self.serve_labels(msg)
        elif op == "exit":
            os._exit(0)
        else:
            self.send({"op": "protocol_error", "error": f"unknown request {op!r}"})

    def serve(self) -> None:
        while True:
            msg, arrs = self.recv()
            self.dispatch(msg, arrs)


def _precompiled(compiled, i: int, arrs, fname: str):
    """(text, code object) the grader prepared for cell ``i`` (grader-made data: the code's
    bytes, or the index of a uint8 frame holding them), or None."""
    entry = compiled[i] if isinstance(compiled, list) and i < len(compiled) else None
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
        return None
    if type(entry[1]) is bytes:
        blob = entry[1]
    elif type(entry[1]) is int and 0 <= entry[1] < len(arrs):
        blob = arrs[entry[1]].tobytes()
    else:
        return None
    obj = marshal.loads(blob)
    if not (isinstance(obj, types.CodeType) and obj.co_filename == fname):
        return None
    return entry[0], obj


class _PolicyFinder:
    """Refuses, with the policy's words, an import made by the student's own code of a module
    the assignment does not allow. Only a message: the child could remove it, and what holds is
    the file system (refused packages are not readable here) and the grader's own analysis of
    the notebook's source. Imports made by libraries (numpy importing its parts) pass."""

    def __init__(self, allowed: frozenset, policy: str):
        self.allowed = allowed
        self.policy = policy[:200]

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.allowed or not _imported_by_student():
            return None
        raise ImportError(f"import of {fullname} refused: {top} is not among the modules "
                          f"{self.policy or 'this assignment'} allows", name=fullname)


def _imported_by_student() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name == "__main__":
            return True
        if not (isinstance(name, str) and (name.startswith("importlib") or name == "_frozen_importlib")):
            return False
        frame = frame.f_back
    return False


def _warning_texts(caught) -> list:
    out = []
    for w in list(caught or ())[:MAX_WARNINGS]:
        try:
            out.append([_short(type(w.message).__name__, 100), _short(str(w.message), 300)])
        except Exception:  # a warning object of the student's that cannot be shown
            out.append(["Warning", "(a warning that could not be shown)"])
    return out


class _Callback:
    """A function of the grader, as seen by the student's code."""

    def __init__(self, session: Session, handle):
        self._session = session
        self._handle = handle

    def __call__(self, *args, **kwargs):
        return self._session.request({"op": "callback", "id": self._handle}, args, kwargs)

    def __repr__(self):
        return f"<grader function #{self._handle}>"


def main(spec: dict, sock_fd: int, out_fd: int, arena_fd: int | None = None) -> None:
    """Entry point in the forked child. Never returns."""
    code = 0
    try:
        if spec.get("probe"):
            report: dict = {}
            confine(spec, sock_fd, out_fd, report, arena_fd)
            sock = socket.socket(fileno=SOCK_FD)
            _probe_checks(spec, report)
            codec.send_msg(sock, {"op": "probe", "report": report})
            os._exit(0)
        arena = confine(spec, sock_fd, out_fd, arena_fd=arena_fd)
        sock = socket.socket(fileno=SOCK_FD)
        session = Session(sock, spec["limits"], arena)
        msg, arrs = session.recv()
        if msg.get("op") != "run" or not isinstance(msg.get("cells"), list):
            os._exit(EXIT_SETUP_FAILED)
        allowed = msg.get("allowed_imports")
        if isinstance(allowed, list) and all(isinstance(a, str) for a in allowed):
            sys.meta_path.insert(0, _PolicyFinder(frozenset(allowed), str(msg.get("policy", ""))))
        session.run_cells(msg["cells"], msg.get("compiled"), arrs, msg.get("globals"))
        session.serve()
    except SystemExit:
        code = 0
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
        code = 70
    os._exit(code)


def _probe_checks(spec: dict, report: dict) -> None:
    """Verify in the probe child that the protections actually bite."""
    report["uid"] = os.getuid()
    try:
        os.kill(spec["zygote_pid"], 0)
        report["can_signal_parent"] = True
    except OSError:
        report["can_signal_parent"] = False
