"""Limits and the exceptions of the sandbox API (shared by the grader and the child side)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission.

    ``run_*`` bound the execution of all cells, ``call_*`` each proxy call. Wall-clock limits are
    enforced by the grader (time-out, then kill); CPU by ``RLIMIT_CPU`` (re-armed per call) and by
    the grader polling the child's CPU time. ``memory_mb`` is added to the address space the child
    inherits from the fork server (``RLIMIT_AS``) and, as root, is also the memory-cgroup limit.
    ``disk_mb`` bounds the working directory (a private tmpfs) where mount namespaces work.
    """

    run_wall_s: float = 30.0
    run_cpu_s: float = 20.0
    call_wall_s: float = 10.0
    call_cpu_s: float = 10.0
    memory_mb: int = 1024
    nproc: int = 16
    fsize_mb: int = 16
    nfiles: int = 64
    output_bytes: int = 1 << 20
    disk_mb: int = 64             # size of the private tmpfs working directory (where available)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class SandboxError(Exception):
    """Base class of everything a proxy call or a spawn can raise."""


class StudentError(SandboxError):
    """The student's code raised an exception (message: ``"Type: text"``, truncated)."""

    def __init__(self, message: str, traceback: str = ""):
        super().__init__(message)
        self.traceback = traceback


class CallTimeout(SandboxError):
    """A call (or the cell run) exceeded its wall-clock or CPU limit; the child was killed."""


class SandboxDied(SandboxError):
    """The submission's process is gone (memory, os._exit, a signal, an earlier time-out)."""


class ProtocolError(SandboxError):
    """The child sent something that is not plain data, is oversized or malformed."""


class MissingName(SandboxError):
    """The submission does not define the requested global."""
