"""Where submissions are graded: an executor interface and its local implementations.

``Executor`` is the interface the batch driver talks to, shaped like ``concurrent.futures``:
``submit(task) -> Future`` whose result is the plain JSON-able result dict of
``worker.Grader.grade``, and ``shutdown``. A task is a plain dict (``SubmissionRef.to_task()``),
so a distributed executor only has to ship JSON both ways.

``LocalProcessExecutor`` runs N trusted worker processes (``python -m autograder.grade.worker_process``).
Each worker loads the bundle's test files once and owns one sandbox ``ForkServer``; the workers
never execute student code themselves (the sandbox child does). Tasks and results travel as
length-prefixed JSON frames on dedicated pipes, never pickled. One dispatcher thread feeds the
workers one task at a time, so it always knows which task a worker holds: when a worker dies
(a segfault, ``os._exit``, the OOM killer) or exceeds the task's backstop time, it is killed
(its whole process group) and replaced, the task is tried once more on a fresh worker, and a
second failure becomes that task's exception (``WorkerDied``, saying what happened on each
attempt): a poison pill costs only itself, never a reason to stop grading the others. Only
workers that cannot start (none ever became ready, or fresh ones keep failing to start) stop
the executor (``WorkerStartError`` for every queued task). The worker processes themselves are
``worker_handle.WorkerHandle``. Each worker gets ``PR_SET_PDEATHSIG`` so that a killed grader takes its workers (and, through
theirs, the sandboxes) with it.

A task's submission bytes are read when it is sent to a worker (``with_bytes``), not when it is
submitted, so memory stays bounded for classes of thousands; an unreadable submission resolves
its future with the ``SubmissionInputError`` (its status) without reaching a worker.

Invariant: every future is resolved exactly once: with its result, its final failure, or
``ExecutorStopped`` at shutdown; the dispatcher's ``finally`` resolves whatever is still queued
or held, so nobody ever waits on a future that no worker holds.

``InlineExecutor`` grades in the calling process (one ForkServer), for debugging.
"""

from __future__ import annotations

import abc
import collections
import json
import os
import select
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from autograder.grade.worker_handle import (
    WorkerHandle,
    exit_description,
    fault_message,
    stop_workers,
)


def with_bytes(task: dict) -> dict:
    """The task as a worker gets it: with the submission's bytes (read here, when it is sent,
    so memory stays bounded), because a worker has no right to read the submissions folder.

    Raises ``inputs.SubmissionInputError`` (``.status``, ``.message``) when they cannot be read.
    """
    import base64

    from autograder.grade.inputs import read_submission_bytes

    if "data_b64" in task or not task.get("file"):
        return task
    data = read_submission_bytes(task)
    return {**task, "data_b64": base64.b64encode(data).decode("ascii")}


def _resolve(future: Future, *, result=None, error: BaseException | None = None) -> None:
    """Resolve ``future`` once; a second resolution (or a cancelled future) is ignored."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except Exception:  # InvalidStateError: already resolved or cancelled
        pass


class WorkerDied(Exception):
    """The task broke its grading worker on every attempt (died, or killed at the backstop)."""


class ExecutorStopped(Exception):
    """The executor stopped (shutdown, Ctrl-C, its own failure) before it graded this task."""


class WorkerStartError(Exception):
    """Workers cannot start (e.g. the sandbox cannot be created on this machine)."""


# -- the interface ----------------------------------------------------------------------------


class Executor(abc.ABC):
    """Grades tasks somewhere; ``submit`` returns a ``concurrent.futures.Future``."""

    #: Which sandbox protections are missing (text), known once a worker has started.
    protections_message: str | None = None
    #: False once the executor can no longer resolve what was submitted (its dispatcher ended);
    #: the batch then stops waiting and stores the unresolved tasks as ``error``.
    alive: bool = True

    @abc.abstractmethod
    def submit(self, task: dict) -> Future:
        """Queue one task; the future's result is the task's result dict."""

    @abc.abstractmethod
    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers (after the queued tasks when ``wait``)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.shutdown(wait=exc_type is None, cancel_futures=exc_type is not None)


class InlineExecutor(Executor):
    """Grades each task synchronously in this process (one ForkServer). For debugging."""

    def __init__(self, config: dict):
        from autograder.grade.worker import Grader

        self.grader = Grader.from_config(config)
        self.protections_message = self.grader.protections_message

    def submit(self, task: dict) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(json.loads(json.dumps(self.grader.grade(with_bytes(task)))))
        except BaseException as error:  # the future carries it
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.grader.close()


# -- local worker processes -------------------------------------------------------------------


class LocalProcessExecutor(Executor):
    """N trusted worker processes on this machine, one task per worker at a time.

    ``config`` is what ``worker.Grader.from_config`` takes (bundle dir, limits). ``task_timeout``
    is the backstop for one task (the sandbox enforces the real limits); ``retries`` how many
    times a task whose worker died is tried again on a fresh worker.
    """

    def __init__(
        self,
        config: dict,
        workers: int | None = None,
        *,
        task_timeout: float = 600.0,
        retries: int = 1,
        log_dir: str | Path | None = None,
        start_timeout: float = 120.0,
    ):
        self.config = config
        self.n_workers = max(1, int(workers or os.cpu_count() or 1))
        self.task_timeout = task_timeout
        self.retries = retries
        self.start_timeout = start_timeout
        self.log_dir = Path(log_dir) if log_dir else None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._pending: collections.deque[tuple[dict, Future, int]] = collections.deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closing = False
        self._workers: list[WorkerHandle] = []
        self._next_index = 0
        self._failed_starts = 0  # in a row, without a worker becoming ready in between
        self._ever_ready = False
        self._fatal: BaseException | None = None
        self._reasons: dict[int, list] = {}  # id(future) -> (what ended it, log) per earlier attempt
        self.protections: dict | None = None
        self.protections_message = None
        self.ready_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grade-dispatcher", daemon=True)
        self._thread.start()

    #: Failed starts in a row that stop the executor: before any worker was ready, the workers
    #: cannot start on this machine at all; after, something broke them for good (e.g. the
    #: bundle changed and no fresh worker verifies it) and respawning forever would hang the batch.
    max_failed_starts = 3
    max_failed_starts_after_ready = 8

    # -- public --------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """False once the dispatcher thread has ended (nothing queued will be graded any more)."""
        return self._thread.is_alive()

    def submit(self, task: dict) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("executor is shut down")
            if self._fatal is not None:
                future.set_exception(self._fatal)
                return future
            self._pending.append((task, future, 0))
        self._wake()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            if cancel_futures:
                while self._pending:
                    _, future, _ = self._pending.popleft()
                    # a retry is already running and cannot be cancelled: resolve it here, since
                    # it has left the queue the dispatcher's ``finally`` drains
                    if not future.cancel():
                        _resolve(future, error=ExecutorStopped("grading was stopped"))
            self._abort = not wait
        self._wake()
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- dispatcher ----------------------------------------------------------------------------
    _abort = False

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _spawn(self) -> None:
        worker = WorkerHandle(self._next_index, self.config, self.log_dir)
        self._next_index += 1
        self._workers.append(worker)

    def _fail_all(self, error: BaseException) -> None:
        with self._lock:
            self._fatal = error
            while self._pending:
                _, future, attempt = self._pending.popleft()
                if attempt > 0 or future.set_running_or_notify_cancel():
                    _resolve(future, error=error)

    def _worker_gone(self, worker: WorkerHandle, reason: str) -> None:
        """A worker died or was killed: retry or fail its task, and replace it."""
        worker.kill()
        self._workers.remove(worker)
        if worker.current is not None:
            # One worker holds one task, so its death is that task's doing (a poison pill), never
            # a reason to stop grading the others: retry once on a fresh worker, then fail it.
            task, future, _, attempt = worker.current
            worker.current = None
            log = worker.log_path.name if worker.log_path else None
            reasons = [*self._reasons.pop(id(future), []), (reason, log)]
            if attempt < self.retries:
                # first in line, so a pill's second attempt does not wait behind the whole class
                with self._lock:
                    self._pending.appendleft((task, future, attempt + 1))
                self._reasons[id(future)] = reasons
            else:
                # No log tail in the message: it is shown to the student, and a worker's log may
                # name other submissions. The logs stay in the output's logs/ folder.
                logs = [name for _, name in reasons if name]
                message = fault_message([why for why, _ in reasons])
                _resolve(future, error=WorkerDied(message + (f" (logs/{', logs/'.join(logs)})" if logs else "")))
        elif not worker.ready:
            self._failed_starts += 1
            limit = self.max_failed_starts_after_ready if self._ever_ready else self.max_failed_starts
            if self._failed_starts >= limit:
                tail = worker.log_tail()
                what = "can no longer start" if self._ever_ready else "cannot start"
                self._fail_all(WorkerStartError(f"grading workers {what}: {reason}\n{tail}"))
                return
        if not self._closing or self._pending or any(w.current for w in self._workers):
            if len(self._workers) < self.n_workers and self._fatal is None:
                self._spawn()

    def _handle_frame(self, worker: WorkerHandle, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ready":
            worker.ready = True
            self._ever_ready = True
            self._failed_starts = 0
            if self.protections is None:
                self.protections = frame.get("protections")
                self.protections_message = frame.get("missing_protections")
                self.ready_event.set()
        elif kind == "fatal":
            worker.ready = False
            raise _WorkerFatal(frame.get("message", "worker failed to start"))
        elif kind == "result" and worker.current is not None:
            if worker.outbox:
                raise ValueError("a result before the whole task was read")
            _, future, _, _ = worker.current
            worker.current = None
            self._reasons.pop(id(future), None)
            _resolve(future, result=frame["result"])
        else:
            raise ValueError(f"unexpected frame {kind!r}")

    def _next_task(self) -> tuple[dict, Future, int, dict] | None:
        """The next queued task with its bytes attached; unreadable ones are resolved here."""
        from autograder.grade.inputs import SubmissionInputError

        while True:
            with self._lock:
                if not self._pending:
                    return None
                task, future, attempt = self._pending.popleft()
            if attempt == 0 and not future.set_running_or_notify_cancel():
                continue  # cancelled
            try:
                return task, future, attempt, with_bytes(task)
            except SubmissionInputError as error:
                self._reasons.pop(id(future), None)
                _resolve(future, error=error)  # the batch stores its status; the others go on

    def _assign(self) -> None:
        for worker in list(self._workers):
            if not worker.ready or worker.current is not None:
                continue
            item = self._next_task()
            if item is None:
                return
            task, future, attempt, frame_task = item
            # the backstop's clock starts now: it also covers a worker that never reads the task
            worker.current = (task, future, time.monotonic(), attempt)
            try:
                worker.send({"type": "task", "task": frame_task})
            except OSError as error:
                self._worker_gone(worker, f"could not be sent the task ({error})")

    def _run(self) -> None:
        try:
            for _ in range(self.n_workers):
                self._spawn()
            self._loop()
        except BaseException as error:  # never leave futures hanging
            self._fail_all(error)
        finally:
            # Invariant: when the dispatcher ends, no future is left that nobody will resolve.
            error = self._fatal or ExecutorStopped("the executor stopped before grading this submission")
            for worker in list(self._workers):
                if worker.current is not None:
                    _resolve(worker.current[1], error=error)
                    worker.current = None
            self._fail_all(error)
            stop_workers(self._workers, abort=self._abort)

    def _loop(self) -> None:
        while True:
            with self._lock:
                idle = not self._pending and not any(w.current for w in self._workers)
                closing, abort = self._closing, self._abort
            if closing and (idle or abort):
                return
            self._assign()
            fds = {w.result_fd: w for w in self._workers if w.result_fd >= 0}
            sending = {w.task_fd: w for w in self._workers if w.outbox and w.task_fd >= 0}
            try:
                readable, writable, _ = select.select([self._wake_r, *fds], list(sending), [], 0.25)
            except InterruptedError:
                continue
            for fd in writable:
                worker = sending[fd]
                try:
                    worker.flush()
                except OSError as error:
                    self._worker_gone(worker, f"could not be sent the task ({error})")
            if self._wake_r in readable:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            for fd in readable:
                worker = fds.get(fd)
                if worker is None or worker not in self._workers:
                    continue
                try:
                    data = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                except OSError as error:
                    self._worker_gone(worker, f"failed on its result pipe ({error})")
                    continue
                if not data:
                    self._worker_gone(worker, exit_description(worker.proc))
                    continue
                try:
                    for frame in worker.frames.feed(data):
                        self._handle_frame(worker, frame)
                except _WorkerFatal as error:
                    self._worker_gone(worker, str(error))
                except ValueError as error:
                    self._worker_gone(worker, f"sent a malformed frame ({error}) and was killed")
            now = time.monotonic()
            for worker in list(self._workers):
                if worker not in self._workers:
                    continue
                if worker.proc.poll() is not None:
                    # Let the reader drain the pipe first (EOF normally comes next round); a
                    # pipe held open by an orphan must not hang the batch.
                    worker.dead_since = worker.dead_since or now
                    if now - worker.dead_since > 2.0:
                        self._worker_gone(worker, exit_description(worker.proc, 0))
                    continue
                if worker.current is not None and now - worker.current[2] > self.task_timeout:
                    self._worker_gone(
                        worker, f"took longer than the {self.task_timeout:g} s backstop and was killed")
                elif not worker.ready and now - worker.started > self.start_timeout:
                    self._worker_gone(worker, f"worker {worker.index} did not start in time")

class _WorkerFatal(Exception):
    pass
