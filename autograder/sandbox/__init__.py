"""Run one untrusted submission in an isolated process and call its functions through proxies.

Public API (see docs/architecture.md, "Sandbox proxies")::

    from autograder.sandbox import ForkServer, Limits
    with ForkServer(Limits()) as server:          # one per grader worker process
        print(server.missing_protections_message() or "all protections in force")
        with server.spawn(cells) as sub:          # thread-safe
            sub.status, sub.reason, sub.cells, sub.output, sub.names(), sub.alive
            f = sub.proxy("f"); f(x); f.last_call_mutations

Layers (``server.protections`` says which are in force; ``privileged=False`` simulates a
non-root grader, which is how the test-suite covers that path):

- a fork server process (``zygote``) started with ``python -s -P`` and a clean environment
  (``OPENBLAS/OMP/MKL_NUM_THREADS=1``) that has imported numpy, IPython's input transformer and
  common stdlib modules, and never imports ``solutions``, ``otter`` or tests;
- per submission a forked child: ``setsid``, inherited fds closed, clean env, its own pids and
  memory cgroups (root), rlimits (CPU re-armed per call, AS = inherited + memory_mb, FSIZE,
  NOFILE, NPROC per slot uid, CORE=0, oom_score_adj=1000), an IPC namespace of its own and a
  network namespace: the fork server's empty one where seccomp is in force (the fork server
  left the grader's at configure; seccomp forbids every socket call), else one of its own (root,
  or a user namespace otherwise), never the grader's (checked), a private mount namespace with a size-limited tmpfs as working directory
  (and, when the interpreter lives under /root, only its standard library bind-mounted back
  read-only), Landlock (files: the interpreter's libraries read-only, the working directory
  read-write; no TCP; signals and abstract sockets scoped), ``setresuid`` to a dedicated uid
  per concurrent slot (60000+, root only), ``PR_SET_PDEATHSIG``, and a seccomp filter (no
  sockets, exec, fork (threads allowed), ptrace, namespaces, mounts, signals to other
  processes); any protection the probe found working that then fails aborts the child; what
  is the same for every child (the seccomp program, the Landlock plan, a copy of the builtins
  module, the environment) is prepared once in the fork server and inherited;
- the grader enforces wall-clock limits, watches the child's CPU time and output (capped;
  a flood kills), and talks to the child only through :mod:`.codec` (JSON + validated .npy
  frames, never pickle); close() kills the process group, the cgroups' tasks and (when the child
  could fork) every process of the slot uid, and removes the working directory.

The fork server process imports the child-side modules (``zygote``, ``child``, ``shims``,
``codec``, ``_linux``, ``errors``) and, for its rehearsal (``rehearsal``: a grading's requests
served to itself once, so that sandboxes start with warm code), the grader's encoders
(``calls``, ``cellcode``, ``loop_requests``); never tests, solutions or expected values. The
grader-side classes live in ``server`` and are loaded lazily here.
``python -m autograder.sandbox.bench`` measures the per-submission overhead.
"""

from .errors import (
    CallTimeout,
    Limits,
    MissingName,
    ProtocolError,
    SandboxDied,
    SandboxError,
    StudentError,
)

__all__ = [
    "CallTimeout", "CellOutcome", "ForkServer", "Limits", "MissingName", "ProtocolError",
    "Proxy", "SandboxDied", "SandboxError", "StudentError", "Submission", "measure_overhead",
]

_LAZY = {"ForkServer": "forkserver", "Submission": "submission", "Proxy": "calls",
         "CellOutcome": "submission", "measure_overhead": "bench"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
