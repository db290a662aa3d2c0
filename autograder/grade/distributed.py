"""Grading on a Dask cluster: ``DaskExecutor`` (the client side) and ``GraderPlugin`` (each worker).

``autograder grade --scheduler tcp://HOST:8786`` (an existing cluster) or ``--scheduler local:N``
(a ``distributed.LocalCluster`` of N worker processes) grades through this executor instead of
``LocalProcessExecutor``; everything else (discovery, the store, exactly-once, statuses) is
``batch.grade_class`` unchanged.

Where the trust boundary sits: a Dask worker never grades. Its ``GraderPlugin`` (registered once
per run, sent by the scheduler to every worker, also to workers that join or restart later)
carries the bundle's files; ``setup`` writes them to a folder of the worker's own, checks their
hash against the one the client computed, and starts a ``LocalProcessExecutor`` there: the very
grading workers of a local run (verified private bundle copy, fork server, privilege drop, one
sandbox each), started once and reused for the whole run. Those processes get only their two
pipes (``subprocess`` closes every other descriptor), so the Dask worker's connections to the
scheduler and its peers are out of reach of anything that escapes a sandbox. The bundle never
enters a sandbox, and tasks carry the submission's bytes (``with_bytes``, read by the client
when the task is sent): workers need no shared file system.

Faults, in two layers, neither re-implemented here:

- a grading worker that dies (segfault, OOM kill, backstop) is the local executor's business
  inside the Dask worker: one retry on a fresh grading worker, then ``WorkerDied`` ->
  ``grader_fault``, exactly as on one machine;
- a Dask worker that dies (its host lost, the process killed) is Dask's: its tasks run again
  elsewhere, and a task that was running on ``allowed-failures`` + 1 dying workers ends as
  ``KilledWorker``. The scheduler counts every task a dying worker held as suspicious, so a
  task that ends so may be a bystander: its submissions are quarantined, each sent again alone,
  with nothing else in flight on the cluster. One that still ends as ``KilledWorker`` did it: a
  ``WorkerDied`` (-> ``grader_fault``), and the batch goes on.

Results stream back batch by batch as they finish; the client resolves the batch driver's futures
and the driver stores each result (a submission already stored in this run is not stored twice).
At most ``max_in_flight`` batches are at the cluster at a time, so a killed client loses at most
those, and memory (client and scheduler) stays bounded for classes of any size.

A lost scheduler cancels every Dask future (``scheduler-connection-lost``): what was not graded
then ends as ``ClusterLost`` (a ``WorkerStartError``: stored as ``error``, graded again on the
next run, and the command exits 1).
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import Future
from pathlib import Path

from autograder.grade.executor import (
    Executor,
    ExecutorStopped,
    LocalProcessExecutor,
    WorkerDied,
    WorkerStartError,
    _resolve,
    with_bytes,
)
from autograder.grade.worker_handle import WorkerHandle

try:  # optional: ``pip install -e ".[dask]"``; without it, DaskExecutor says so (require())
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - exercised by test_distributed_missing in a subprocess
    WorkerPlugin = object  # type: ignore[misc,assignment]

PLUGIN_NAME = "autograder-grader"
#: Dask workers that may die while running one task before the task is failed (``KilledWorker``):
#: 3 attempts, as the local executor's poison-pill rule is 2 (a Dask worker death is rarer and
#: costlier to misjudge: it may be the host, not the submission).
ALLOWED_FAILURES = 2
#: Submissions per Dask task. Grading takes ~0.1 s; Dask's cost per task (client, scheduler,
#: worker, measured by benchmarks/distributed.py) is about 1-3 ms, most of it CPU time taken from
#: the grading on the same machine; 8 per task makes it < 0.5 %. The tail is sent in smaller ones.
BATCH_SIZE = 8

MISSING = ('grading on a Dask cluster needs the optional `distributed` package: '
           'pip install -e ".[dask]" (or pip install "autograder[dask]")')


class DistributedMissing(RuntimeError):
    """``distributed`` is not installed."""


class ClusterLost(WorkerStartError):
    """The Dask scheduler went away (or never answered): nothing more can be graded in this run."""


def require():
    """The ``distributed`` module, or ``DistributedMissing`` with what to install."""
    try:
        import distributed
    except ImportError:
        raise DistributedMissing(MISSING) from None
    return distributed


def parse_scheduler(value: str) -> tuple[str, int | str]:
    """``"local:2"`` -> ``("local", 2)``; ``"tcp://host:8786"`` -> ``("remote", "tcp://host:8786")``."""
    value = value.strip()
    if value.startswith("local:"):
        count = value.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler {value!r}: expected local:N with N >= 1 worker processes")
        return "local", int(count)
    if "://" in value and value.split("://", 1)[1]:
        return "remote", value
    raise ValueError(f"--scheduler {value!r}: expected tcp://HOST:PORT (a running `dask scheduler`) "
                     "or local:N (a cluster of N processes on this machine)")


def bundle_files(bundle_dir: str | Path) -> dict[str, bytes]:
    """What a grade depends on, as the workers' private copies hold it (the same file list)."""
    from autograder.grade.privileges import _bundle_files

    src = Path(bundle_dir)
    return {str(rel): (src / rel).read_bytes() for rel in _bundle_files(src)}


# -- on each Dask worker ----------------------------------------------------------------------


def _cpu_slot(name: str = "dask-cpu") -> tuple[int, int | None]:
    """A host-local slot number held by a lock file for this process's life, so the grading
    workers of several Dask workers on one host are pinned to different CPUs (each executor
    numbers its own from 0)."""
    folder = os.path.join(tempfile.gettempdir(), f"autograder-{name}-{os.geteuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for n in range(4096):
        fd = os.open(os.path.join(folder, f"{n}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return n, fd
    return 0, None


class _OffsetExecutor(LocalProcessExecutor):
    """``LocalProcessExecutor`` whose workers count (and so pin to CPUs) from ``first_index``."""

    def __init__(self, *args, first_index: int = 0, **kwargs):
        self.first_index = first_index  # before super().__init__: its thread spawns at once
        super().__init__(*args, **kwargs)

    def _spawn(self) -> None:
        worker = WorkerHandle(self.first_index + self._next_index, self.config, self.log_dir)
        self._next_index += 1
        self._workers.append(worker)


class GraderPlugin(WorkerPlugin):
    """The grading workers of one Dask worker for one run, started in ``setup`` and reused."""

    name = PLUGIN_NAME

    def __init__(self, files: dict[str, bytes], config: dict, *, task_timeout: float,
                 retries: int = 1):
        self.files = files
        self.config = config
        self.task_timeout = task_timeout
        self.retries = retries
        self.executor: LocalProcessExecutor | None = None
        self.start_error: str | None = None

    def setup(self, worker) -> None:
        # Errors are kept, not raised: a worker that joins later has nobody to raise them to;
        # every task it gets answers with them instead (-> WorkerStartError at the client).
        from autograder.grade.bundle import bundle_hash

        self.address = getattr(worker, "address", "?")
        self.dir = Path(tempfile.mkdtemp(prefix=f"autograder-dask-{os.getpid()}-"))
        try:
            bundle = self.dir / "bundle"
            for rel, data in self.files.items():
                target = bundle / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            found, expected = bundle_hash(bundle), self.config.get("bundle_hash")
            if found != expected:
                raise WorkerStartError(f"the bundle arrived at {self.address} with hash {found[:12]}, "
                                       f"expected {str(expected)[:12]}")
            self.files = {}  # the copy on disk is the one used; memory back
            # The nanny sets this for the Dask worker (distributed.nanny.pre-spawn-environ); the
            # grading workers and sandboxes would inherit it, and numpy's temporaries would then
            # go back to the kernel after every operation. They get a local run's environment.
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
            threads = max(1, int(getattr(getattr(worker, "state", None), "nthreads", 1) or 1))
            slot, self._slot_fd = _cpu_slot()
            self.log_dir = self.dir / "logs"
            self.executor = _OffsetExecutor(
                {**self.config, "bundle_dir": str(bundle)}, workers=threads,
                task_timeout=self.task_timeout, retries=self.retries, log_dir=self.log_dir,
                first_index=slot * threads)
        except Exception as error:
            self.start_error = f"grading workers cannot start on {self.address}: {error}"

    def teardown(self, worker) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        from autograder.grade.privileges import remove_stale_private_dirs

        remove_stale_private_dirs()  # the grading workers' copies (they cannot remove their own)
        shutil.rmtree(self.dir, ignore_errors=True)
        if getattr(self, "_slot_fd", None) is not None:
            os.close(self._slot_fd)

    def grade(self, tasks: list[dict]) -> dict:
        """Grade ``tasks`` on this worker's grading workers: one outcome per task, plain data."""
        if self.executor is None:
            return {"outcomes": [{"error": "start", "message": self.start_error or "no grader"}
                                 for _ in tasks]}
        futures = [self.executor.submit(task) for task in tasks]
        outcomes = []
        for future in futures:
            try:
                outcomes.append({"result": future.result()})
            except WorkerDied as error:
                where = f" on Dask worker {self.address}"
                outcomes.append({"error": "died", "message": str(error).replace(
                    "(logs/", f"{where} (logs in {self.log_dir}/: ") if "(logs/" in str(error)
                    else str(error) + where})
            except WorkerStartError as error:
                outcomes.append({"error": "start", "message": f"on {self.address}: {error}"})
            except Exception as error:
                outcomes.append({"error": "internal", "message": "".join(
                    traceback.format_exception_only(type(error), error)).strip()})
        return {"outcomes": outcomes, "protections_message": self.executor.protections_message}


def grade_batch(tasks: list[dict]) -> dict:
    """The Dask task: grade a batch with this worker's ``GraderPlugin``."""
    from distributed import get_worker

    return get_worker().plugins[PLUGIN_NAME].grade(tasks)


# -- on the client ----------------------------------------------------------------------------


class DaskExecutor(Executor):
    """Grades on a Dask cluster; the same interface and invariants as ``LocalProcessExecutor``
    (every future resolved exactly once: result, final failure, or ``ExecutorStopped``)."""

    def __init__(self, scheduler: str, config: dict, *, task_timeout: float = 600.0,
                 retries: int = 1, batch_size: int = BATCH_SIZE,
                 allowed_failures: int = ALLOWED_FAILURES, max_in_flight: int | None = None,
                 connect_timeout: float = 30.0):
        distributed = require()
        import dask

        kind, where = parse_scheduler(scheduler)
        self.batch_size = max(1, int(batch_size))
        self._fixed_in_flight = max_in_flight
        self._cluster = None
        # Scheduler settings (documented in docs/distributed.md for clusters started by hand):
        # a worker holds one task per thread, so a dying worker makes only its running task
        # suspicious, not the ones queued behind it.
        settings = {"distributed.scheduler.allowed-failures": int(allowed_failures),
                    "distributed.scheduler.worker-saturation": 1.0}
        with dask.config.set(settings):
            if kind == "local":
                self._cluster = distributed.LocalCluster(
                    n_workers=int(where), threads_per_worker=1, processes=True,
                    dashboard_address=None, memory_limit=0,  # the sandboxes enforce memory
                    silence_logs=logging.ERROR)
                where = self._cluster
            try:
                self.client = distributed.Client(where, timeout=connect_timeout, set_as_default=False)
            except Exception as error:
                if self._cluster is not None:
                    self._cluster.close()
                raise ClusterLost(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
        files = bundle_files(config["bundle_dir"])
        if not config.get("bundle_hash"):  # what arrives is checked against what was sent
            from autograder.grade.bundle import bundle_hash

            config = {**config, "bundle_hash": bundle_hash(config["bundle_dir"])}
        # the workers' bundle folder is their own; the client's path means nothing there
        plugin = GraderPlugin(files, {k: v for k, v in config.items() if k != "bundle_dir"},
                              task_timeout=task_timeout, retries=retries)
        self.client.register_plugin(plugin, name=PLUGIN_NAME)
        self.scheduler = scheduler
        self.allowed_failures = int(allowed_failures)
        self._pending: collections.deque[tuple[dict, Future, bool]] = collections.deque()
        self._in_flight: dict = {}  # dask future -> [(task, future, single)]
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._closing = self._abort = False
        self._fatal: BaseException | None = None
        self._threads = 1
        self._threads_checked = 0.0
        self.protections_message = None
        self.tasks_sent = 0
        self._thread = threading.Thread(target=self._run, name="dask-dispatcher", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, task: dict) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("executor is shut down")
            if self._fatal is not None:
                future.set_exception(self._fatal)
                return future
            self._pending.append((task, future, False))
        self._event.set()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            self._abort = not wait
            if cancel_futures:
                while self._pending:
                    _, future, single = self._pending.popleft()
                    if single or not future.cancel():
                        _resolve(future, error=ExecutorStopped("grading was stopped"))
        self._event.set()
        self._thread.join()
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    # -- dispatcher ----------------------------------------------------------------------------
    def _max_in_flight(self) -> int:
        if self._fixed_in_flight:
            return self._fixed_in_flight
        now = time.monotonic()
        if now - self._threads_checked > 5.0:  # workers may join or leave during the run
            self._threads_checked = now
            try:
                self._threads = max(1, sum(self.client.nthreads().values()))
            except Exception:
                pass
        return 2 * self._threads

    def _take(self) -> list[tuple[dict, Future, bool]]:
        """The next batch: ``batch_size`` while plenty is queued, smaller at the tail so every
        worker has something; quarantined submissions (after a KilledWorker) go one by one."""
        from autograder.grade.inputs import SubmissionInputError

        with self._lock:
            if not self._pending:
                return []
            if self._pending[0][2]:
                items = [self._pending.popleft()]
            else:
                size = max(1, min(self.batch_size, len(self._pending) // (2 * self._threads)))
                items = []
                while self._pending and len(items) < size and not self._pending[0][2]:
                    items.append(self._pending.popleft())
        ready = []
        for task, future, single in items:
            if not single and not future.set_running_or_notify_cancel():
                continue  # cancelled
            try:
                ready.append((with_bytes(task), future, single))
            except SubmissionInputError as error:
                _resolve(future, error=error)  # the batch stores its status; the others go on
        return ready

    def _send(self) -> None:
        while len(self._in_flight) < self._max_in_flight():
            with self._lock:
                quarantine = bool(self._pending) and self._pending[0][2]
            if quarantine and self._in_flight:
                return  # a quarantined task runs alone in the cluster: wait for the others
            items = self._take()
            if not items:
                with self._lock:
                    if not self._pending:
                        return
                continue
            key = f"autograder-grade-{uuid.uuid4().hex}"
            dask_future = self.client.submit(grade_batch, [t for t, _, _ in items], key=key,
                                             pure=False)
            self.tasks_sent += 1
            self._in_flight[dask_future] = items
            dask_future.add_done_callback(lambda _: self._event.set())
            if quarantine:
                return

    def _finished(self, dask_future, items) -> None:
        from distributed.scheduler import KilledWorker

        status = dask_future.status
        if status == "finished":
            answer = dask_future.result()
            self.protections_message = self.protections_message or answer.get("protections_message")
            for (_, future, _), outcome in zip(items, answer["outcomes"], strict=True):
                if "result" in outcome:
                    _resolve(future, result=outcome["result"])
                elif outcome["error"] == "died":
                    _resolve(future, error=WorkerDied(outcome["message"]))
                elif outcome["error"] == "start":
                    _resolve(future, error=WorkerStartError(outcome["message"]))
                else:
                    _resolve(future, error=RuntimeError(outcome["message"]))
            return
        if status == "cancelled":
            # the scheduler connection was lost (Dask cancels every future), or we cancelled
            error = ExecutorStopped("grading was stopped") if self._closing else ClusterLost(
                f"the connection to the Dask scheduler {self.scheduler} was lost; "
                "what was not graded is graded on the next run")
            for _, future, _ in items:
                _resolve(future, error=error)
            if not self._closing:
                self._fail_all(error)
            return
        error = dask_future.exception()
        if isinstance(error, KilledWorker):
            if not items[0][2]:
                # Dask counts every task a dying worker held, so this batch may be a bystander
                # and cannot say which member did it: each goes again alone in the cluster
                with self._lock:
                    self._pending.extendleft((t, f, True) for t, f, _ in reversed(items))
                return
            message = (f"the Dask worker running this submission died {self.allowed_failures + 1} "
                       f"times (KilledWorker: {error})")
            _resolve(items[0][1], error=WorkerDied(message))
            return
        for _, future, _ in items:
            _resolve(future, error=error if isinstance(error, Exception) else RuntimeError(str(error)))

    def _fail_all(self, error: BaseException) -> None:
        with self._lock:
            self._fatal = error
            while self._pending:
                _, future, single = self._pending.popleft()
                if single or future.set_running_or_notify_cancel():
                    _resolve(future, error=error)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    idle = not self._pending and not self._in_flight
                    closing, abort = self._closing, self._abort
                if closing and (idle or abort):
                    return
                if self._fatal is None and not abort:
                    self._send()
                self._event.wait(0.25)
                self._event.clear()
                for dask_future in [f for f in self._in_flight if f.done()]:
                    self._finished(dask_future, self._in_flight.pop(dask_future))
                if self._fatal is None and self.client.status in ("closed", "closing"):
                    self._fail_all(ClusterLost(f"the Dask scheduler {self.scheduler} closed the "
                                               "connection; what was not graded is graded on the "
                                               "next run"))
                    for items in self._in_flight.values():
                        for _, future, _ in items:
                            _resolve(future, error=self._fatal)
                    self._in_flight.clear()
        except BaseException as error:  # never leave futures hanging
            self._fail_all(error)
        finally:
            error = self._fatal or ExecutorStopped("the executor stopped before grading this submission")
            for dask_future, items in self._in_flight.items():
                dask_future.cancel()
                for _, future, _ in items:
                    _resolve(future, error=error)
            self._in_flight.clear()
            self._fail_all(error)


__all__ = ["DaskExecutor", "GraderPlugin", "ClusterLost", "DistributedMissing", "grade_batch",
           "parse_scheduler", "require"]
