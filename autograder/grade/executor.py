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
(a bug, the OOM killer) or exceeds the task's backstop time, it is killed and replaced, the task is
tried once more on a fresh worker, and a second failure becomes that task's exception
(``WorkerDied``) instead of a hung batch. Each worker gets ``PR_SET_PDEATHSIG`` so that a killed
grader takes its workers (and, through theirs, the sandboxes) with it.

``InlineExecutor`` grades in the calling process (one ForkServer), for debugging.
"""

from __future__ import annotations

import abc
import collections
import json
import os
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from autograder.grade.frames import FrameBuffer, write_frame


def with_bytes(task: dict) -> dict:
    """The task as a worker gets it: with the submission's bytes (read here, when it is sent,
    so memory stays bounded), because a worker has no right to read the submissions folder."""
    import base64

    from autograder.grade.inputs import SubmissionInputError, read_submission_bytes

    if "data_b64" in task or "file" not in task:
        return task
    try:
        data = read_submission_bytes(task)
    except SubmissionInputError:
        return task  # the worker reports the same problem as the submission's status
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
    """The worker grading a task died or was killed (twice)."""


class WorkerStartError(Exception):
    """Workers cannot start (e.g. the sandbox cannot be created on this machine)."""


# -- the interface ----------------------------------------------------------------------------


class Executor(abc.ABC):
    """Grades tasks somewhere; ``submit`` returns a ``concurrent.futures.Future``."""

    #: Which sandbox protections are missing (text), known once a worker has started.
    protections_message: str | None = None

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
            future.set_result(json.loads(json.dumps(self.grader.grade(task))))
        except BaseException as error:  # the future carries it
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.grader.close()


# -- local worker processes -------------------------------------------------------------------


class _Worker:
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
        self.ready = False
        self.current: tuple[dict, Future, float, int] | None = None
        self.started = time.monotonic()
        self.dead_since = 0.0
        try:
            write_frame(self.task_fd, {"type": "config", "config": config})
        except OSError:
            pass  # died at once: the dispatcher sees the exit and handles it

    def log_tail(self, n: int = 1500) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-n:]
        return data.decode("utf-8", "replace").strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.close_fds()

    def close_fds(self) -> None:
        for fd in (self.task_fd, self.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.task_fd = self.result_fd = -1


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
        self._workers: list[_Worker] = []
        self._next_index = 0
        self._failed_starts = 0
        self._ever_ready = False
        self._fatal: BaseException | None = None
        self.protections: dict | None = None
        self.protections_message = None
        self.ready_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grade-dispatcher", daemon=True)
        self._thread.start()

    # -- public --------------------------------------------------------------------------------
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
                    future.cancel()
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
        worker = _Worker(self._next_index, self.config, self.log_dir)
        self._next_index += 1
        self._workers.append(worker)

    def _fail_all(self, error: BaseException) -> None:
        with self._lock:
            self._fatal = error
            while self._pending:
                _, future, attempt = self._pending.popleft()
                if attempt > 0 or future.set_running_or_notify_cancel():
                    _resolve(future, error=error)

    def _worker_gone(self, worker: _Worker, reason: str) -> None:
        """A worker died or was killed: retry or fail its task, and replace it."""
        worker.kill()
        self._workers.remove(worker)
        if worker.current is not None:
            # One worker holds one task, so its death is that task's doing (a poison pill), never
            # a reason to stop grading the others: retry once on a fresh worker, then fail it.
            task, future, _, attempt = worker.current
            worker.current = None
            tail = worker.log_tail()
            reasons = [*task.get("_deaths", []), reason]
            if attempt < self.retries:
                with self._lock:
                    self._pending.appendleft(({**task, "_deaths": reasons}, future, attempt + 1))
            else:
                attempts = "; then ".join(reasons)
                message = (f"grading this submission broke the grading worker on each of "
                           f"{attempt + 1} attempts: {attempts}"
                           + (f"\nworker log (tail):\n{tail}" if tail else ""))
                _resolve(future, error=WorkerDied(message))
        elif not worker.ready:
            self._failed_starts += 1
            if self._failed_starts >= 3 and not self._ever_ready:
                tail = worker.log_tail()
                self._fail_all(WorkerStartError(f"grading workers cannot start: {reason}\n{tail}"))
                return
        if not self._closing or self._pending or any(w.current for w in self._workers):
            if len(self._workers) < self.n_workers and self._fatal is None:
                self._spawn()

    def _handle_frame(self, worker: _Worker, frame: dict) -> None:
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
            _, future, _, _ = worker.current
            worker.current = None
            _resolve(future, result=frame["result"])
        else:
            raise ValueError(f"unexpected frame {kind!r}")

    def _assign(self) -> None:
        for worker in list(self._workers):
            if not worker.ready or worker.current is not None:
                continue
            with self._lock:
                if not self._pending:
                    return
                task, future, attempt = self._pending.popleft()
            if attempt == 0 and not future.set_running_or_notify_cancel():
                continue  # cancelled
            worker.current = (task, future, time.monotonic(), attempt)
            try:
                write_frame(worker.task_fd, {"type": "task", "task": with_bytes(task)})
            except OSError as error:
                self._worker_gone(worker, f"worker {worker.index} unreachable: {error}")

    def _run(self) -> None:
        try:
            for _ in range(self.n_workers):
                self._spawn()
            self._loop()
        except BaseException as error:  # never leave futures hanging
            self._fail_all(error)
        finally:
            # Invariant: when the dispatcher ends, no future is left that nobody will resolve.
            error = self._fatal or WorkerDied("the executor stopped before grading this submission")
            for worker in list(self._workers):
                if worker.current is not None:
                    _resolve(worker.current[1], error=error)
                    worker.current = None
            self._fail_all(error)
            self._stop_workers()

    def _loop(self) -> None:
        while True:
            with self._lock:
                idle = not self._pending and not any(w.current for w in self._workers)
                closing, abort = self._closing, self._abort
            if closing and (idle or abort):
                return
            self._assign()
            fds = {w.result_fd: w for w in self._workers if w.result_fd >= 0}
            try:
                readable, _, _ = select.select([self._wake_r, *fds], [], [], 0.25)
            except InterruptedError:
                continue
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
                    self._worker_gone(worker, f"worker {worker.index} pipe error: {error}")
                    continue
                if not data:
                    code = worker.proc.poll()
                    self._worker_gone(worker, f"grading worker {worker.index} died (exit code {code})")
                    continue
                try:
                    for frame in worker.frames.feed(data):
                        self._handle_frame(worker, frame)
                except _WorkerFatal as error:
                    self._worker_gone(worker, str(error))
                except ValueError as error:
                    self._worker_gone(worker, f"worker {worker.index} sent garbage: {error}")
            now = time.monotonic()
            for worker in list(self._workers):
                if worker not in self._workers:
                    continue
                if worker.proc.poll() is not None:
                    # Let the reader drain the pipe first (EOF normally comes next round); a
                    # pipe held open by an orphan must not hang the batch.
                    worker.dead_since = worker.dead_since or now
                    if now - worker.dead_since > 2.0:
                        code = worker.proc.returncode
                        self._worker_gone(worker, f"grading worker {worker.index} died (exit code {code})")
                    continue
                if worker.current is not None and now - worker.current[2] > self.task_timeout:
                    self._worker_gone(
                        worker,
                        f"grading took longer than {self.task_timeout:.0f} s; the worker was killed",
                    )
                elif not worker.ready and now - worker.started > self.start_timeout:
                    self._worker_gone(worker, f"worker {worker.index} did not start in time")

    def _stop_workers(self) -> None:
        if self._abort:
            for worker in self._workers:
                worker.kill()
            self._workers.clear()
            return
        for worker in self._workers:
            try:
                os.close(worker.task_fd)  # EOF: the worker closes its sandbox and exits
            except OSError:
                pass
            worker.task_fd = -1
        deadline = time.monotonic() + 10.0
        for worker in self._workers:
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            worker.kill()
        self._workers.clear()


class _WorkerFatal(Exception):
    pass
