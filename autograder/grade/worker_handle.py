"""The main process's handle on one grading worker process (``executor.LocalProcessExecutor``).

A worker is ``python -m autograder.grade.worker_process TASK_FD RESULT_FD``, started in a session
of its own (so Ctrl-C reaches only the grader, and a kill can take the worker's whole process
group). Task frames are written without blocking (``send``/``flush``): a worker that stops
reading stalls only itself, and the executor's backstop then kills it. This module also says in
words how a worker ended, for the message of a submission that broke it (``fault_message``).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from autograder.grade.frames import FrameBuffer, write_frame


def exit_description(proc: subprocess.Popen, wait_s: float = 2.0) -> str:
    """How a worker ended, in words: "died (signal SIGSEGV)", "died (exit code 9)"."""
    try:
        code = proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        return "closed its result pipe without exiting"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        if name == "SIGKILL":
            return "was killed (signal SIGKILL, e.g. by the out-of-memory killer)"
        return f"died (signal {name})"
    return f"died (exit code {code})"


def fault_message(reasons: list[str]) -> str:
    """One sentence for the attempts of a poison pill, e.g. "the grading worker died (signal
    SIGSEGV) twice while grading this submission"."""
    times = {1: "once", 2: "twice"}.get(len(reasons), f"{len(reasons)} times")
    if len(set(reasons)) == 1:
        return f"the grading worker {reasons[0]} {times} while grading this submission"
    return ("while grading this submission the grading worker " + ", then on a fresh worker ".join(reasons)
            + f" ({len(reasons)} attempts)")


class WorkerHandle:
    """One grading worker process, its two pipes, and the task it holds (``current``)."""

    def __init__(self, index: int, config: dict, log_dir: Path | None):
        self.index = index
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        self.log_path = (log_dir / f"worker-{index}.log") if log_dir else None
        stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ)
        env["AUTOGRADER_WORKER_PARENT"] = str(os.getpid())
        # One worker per core: BLAS threads in a worker would only spin against the other
        # workers and the sandboxes (measured: they busy-wait on every proxy round trip).
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        env["AUTOGRADER_WORKER_CPU"] = str(index)  # see worker_process.pin_to_cpu
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.grade.worker_process", str(task_r), str(res_w)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                pass_fds=(task_r, res_w),
                start_new_session=True,  # Ctrl-C reaches the grader, which stops the workers
                env=env,
            )
        finally:
            os.close(task_r)
            os.close(res_w)
            if self.log_path:
                stderr.close()
        self.task_fd = task_w
        self.result_fd = res_r
        os.set_blocking(res_r, False)
        self.frames = FrameBuffer()
        #: Task bytes not yet accepted by the worker: written as the pipe takes them, so a worker
        #: that stops reading stalls only itself (the backstop then kills it), never the dispatcher.
        self.outbox = b""
        self.ready = False
        self.current: tuple[dict, Future, float, int] | None = None
        self.started = time.monotonic()
        self.dead_since = 0.0
        try:
            write_frame(self.task_fd, {"type": "config", "config": config})  # small: fits the pipe
        except OSError:
            pass  # died at once: the dispatcher sees the exit and handles it
        os.set_blocking(self.task_fd, False)  # tasks go through ``send``/``flush``

    def log_tail(self, n: int = 1500) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-n:]
        return data.decode("utf-8", "replace").strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            # The worker leads its own process group (start_new_session): SIGKILL all of it, so
            # nothing it started (a fork server, a stuck helper) outlives it. Only while the
            # worker is unreaped: its pid, hence the group id, cannot have been reused.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.close_fds()

    def send(self, obj: object) -> None:
        """Queue one frame (the length-prefixed JSON of ``frames``) and write what the pipe takes."""
        body = json.dumps(obj, allow_nan=False).encode()
        self.outbox = struct.pack("<I", len(body)) + body
        self.flush()

    def flush(self) -> None:
        """Write more of the outbox; raises OSError when the worker is gone."""
        try:
            n = os.write(self.task_fd, self.outbox)
        except BlockingIOError:
            return
        self.outbox = self.outbox[n:]

    def close_fds(self) -> None:
        for fd in (self.task_fd, self.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.task_fd = self.result_fd = -1


def stop_workers(workers: list[WorkerHandle], *, abort: bool) -> None:
    """End every worker: at once (``abort``), or by closing its task pipe (it then closes its
    sandbox and exits) and killing it after 10 s."""
    if not abort:
        for worker in workers:
            try:
                os.close(worker.task_fd)
            except OSError:
                pass
            worker.task_fd = -1
        deadline = time.monotonic() + 10.0
        for worker in workers:
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for worker in workers:
        worker.kill()
    workers.clear()
