"""Run one untrusted submission in an isolated process and call its functions through proxies.

Public API (see docs/architecture.md, "Sandbox proxies")::

    from autograder.sandbox import ForkServer, Limits
    with ForkServer(Limits()) as server:
        print(server.missing_protections_message() or "all protections in force")
        with server.spawn(cells) as sub:
            sub.cells, sub.output, sub.status, sub.names()
            f = sub.proxy("f"); f(x); f.last_call_mutations

The fork server process imports only the child-side modules (``zygote``, ``child``, ``shims``,
``codec``, ``_linux``, ``errors``); the grader-side classes live in ``server`` and are loaded
lazily here so that importing ``autograder.sandbox.zygote`` does not pull them in.
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

_LAZY = {"ForkServer": "server", "Submission": "server", "Proxy": "server",
         "CellOutcome": "server", "measure_overhead": "bench"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
