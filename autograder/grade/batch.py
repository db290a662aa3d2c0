"""``grade_class``: grade a folder of submissions into an output folder, resumably.

Stages: discover submissions (main process: list and hash) -> skip what the store already holds
for the same bytes and bundle -> grade the rest on an executor (parsing, sandbox, tests run in
the workers) -> store each result as it arrives (one transaction) -> regenerate grades.csv,
results/<id>.json and the summary from the store.

Before each result is stored, the bundle is checked: the result must carry the hash of the bundle
this run started with, and the bundle on disk must still hash to it (a fraction of a millisecond);
otherwise the run stops with ``BundleChanged`` and stores nothing more. A submission that broke
its grading worker on every attempt (a poison pill: ``WorkerDied``) is stored as
``grader_fault``, kept like a grade; the grader's own failures are stored as ``error`` and graded
again on the next run.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grade.bundle import bundle_hash, load_bundle
from autograder.grade.executor import (
    Executor,
    ExecutorStopped,
    LocalProcessExecutor,
    WorkerDied,
    WorkerStartError,
)
from autograder.grade.inputs import Skipped, SubmissionInputError, discover
from autograder.grade.reports import write_reports
from autograder.grade.store import Store
from autograder.report import summary_table
from autograder.report.gradescope import hidden_visibility_of
from autograder.report.summary import ClassStats


class OutputBusy(Exception):
    """Another ``grade`` run is writing to the same output folder."""


class BundleChanged(Exception):
    """The bundle changed on disk (or a worker graded with another one) during the run."""


class GradingInterrupted(Exception):
    """Ctrl-C during grading: what finished is stored and the reports were written from it."""

    def __init__(self, message: str, *, csv_path: Path):
        super().__init__(message)
        self.csv_path = csv_path


GRADER_FAULT = "grader_fault"


@contextlib.contextmanager
def _exclusive(out_dir: Path):
    """Hold ``OUT/.grade.lock`` (flock; the kernel releases it if the grader is killed)."""
    import fcntl

    handle = open(out_dir / ".grade.lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(f"another `autograder grade` run is writing to {out_dir}") from None
        yield
    finally:
        handle.close()


@dataclass
class GradeSummary:
    out_dir: Path
    csv_path: Path
    results_dir: Path
    db_path: Path
    by_status: dict[str, int]
    totals: dict[str, float]
    max_total: float
    graded_now: int
    unchanged: int
    skipped: list[Skipped] = field(default_factory=list)
    disappeared: list[str] = field(default_factory=list)
    protections_message: str | None = None
    stats: ClassStats | None = None
    elapsed_s: float = 0.0
    #: Set when the grading workers could not start at all (e.g. no sandbox on this machine);
    #: the submissions of this run are then stored as ``error`` and graded again next run.
    fatal: str | None = None


def _limits_dict(limits: Any) -> dict | None:
    if limits is None:
        return None
    if isinstance(limits, dict):
        return dict(limits)
    return limits.as_dict() if hasattr(limits, "as_dict") else dict(vars(limits))


def _task_timeout(limits: dict | None, n_cases: int) -> float:
    """The executor's backstop for one task: the worker's own budget (cells run twice at most,
    every case's call time, fork server restarts) plus a margin. A worker past it is killed."""
    from autograder.sandbox import Limits

    lim = Limits(**limits) if limits else Limits()
    return lim.run_wall_s * 2 + lim.call_wall_s * (max(1, n_cases) + 2) + 60.0


def _all_failed(task: dict, bundle, status: str, message: str) -> dict:
    """A result made in the main process (no worker graded it): every case fails with
    ``message``. Cases come from the manifest (build lists them), so otter is not imported here."""
    questions = []
    for q in bundle.manifest["questions"]:
        cases = [{"name": str(c["name"]), "hidden": bool(c.get("hidden")), "passed": False,
                  "points": float(c.get("points", 0.0)), "score": 0.0, "message": message,
                  "duration_s": 0.0} for c in q.get("cases", [])]
        questions.append({"name": q["name"], "score": 0.0, "max_score": float(q.get("points", 0.0)),
                          "cases": cases})
    return {
        "id": task["id"],
        "kind": task.get("kind", ""),
        "path": task.get("path", ""),
        "content_hash": task["content_hash"],
        "bundle_hash": bundle.hash,
        "status": status,
        "message": message,
        "score": 0.0,
        "max_score": float(sum(float(q.get("points", 0.0)) for q in bundle.manifest["questions"])),
        "questions": questions,
        "output": "",
        "execution_time": 0.0,
    }


def grade_class(
    submissions_dir: str | Path,
    bundle_dir: str | Path,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    limits: Any = None,
    progress: bool = True,
    executor: Executor | None = None,
    console: Any = None,
    workdir_root: str | Path | None = None,
    regrade: bool = False,
    scheduler: str | None = None,
    feedback_pages: bool = True,
) -> GradeSummary:
    """Grade every submission in ``submissions_dir`` against the bundle in ``bundle_dir``.

    Results go to ``out_dir/results.sqlite`` as each submission finishes; ``grades.csv`` and
    ``results/<id>.json`` are rewritten from it at the end. Submissions already graded with the
    same bytes and bundle are not graded again. ``executor`` replaces the default
    ``LocalProcessExecutor(workers)``; ``workdir_root`` is where the sandboxes' scratch folders go
    (default: the system's temporary folder); ``regrade`` grades every submission again (e.g. after
    a fix of the grader itself); ``scheduler`` (``tcp://HOST:PORT`` or ``local:N``) grades on a
    Dask cluster (``distributed.DaskExecutor``) instead. Raises ``BundleMissing`` when the bundle is not built and
    ``OutputBusy`` when another run holds ``out_dir``. ``feedback_pages=False`` writes
    grades.csv and results/ but no HTML pages and no similarity (verify's mutation stage).
    """
    from rich.console import Console

    started = time.monotonic()
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(bundle_dir)
    manifest_questions = bundle.manifest["questions"]
    question_names = [q["name"] for q in manifest_questions]
    question_max = {q["name"]: float(q.get("points", 0.0)) for q in manifest_questions}
    found = discover(submissions_dir, bundle.assignment, exclude=(out_dir,))
    limits_d = _limits_dict(limits)
    workers = max(1, int(workers or os.cpu_count() or 1))
    protections_message = None
    fatal = None
    interrupted = False

    with _exclusive(out_dir), Store(out_dir / "results.sqlite") as store:
        disappeared = store.mark_present(ref.id for ref in found.submissions)
        todo = [ref for ref in found.submissions
                if regrade or store.needs_grading(ref.id, ref.content_hash, bundle.hash)]
        unchanged = len(found.submissions) - len(todo)
        run_id = store.start_run(bundle.hash, workers, {"submissions": len(found.submissions), "todo": len(todo)})
        for skipped in found.skipped:
            console.print(f"[yellow]skipped[/] {skipped.path.name}: {skipped.reason}")
        if todo:
            n_cases = _count_cases(bundle)
            own_executor = executor is None
            if own_executor:
                config = {"bundle_dir": str(bundle.dir), "bundle_hash": bundle.hash, "limits": limits_d,
                          "workdir_root": str(workdir_root) if workdir_root else None}
                if scheduler:
                    from autograder.grade.distributed import DaskExecutor

                    executor = DaskExecutor(scheduler, config,
                                            task_timeout=_task_timeout(limits_d, n_cases))
                else:
                    executor = LocalProcessExecutor(
                        config,
                        workers=min(workers, len(todo)),
                        task_timeout=_task_timeout(limits_d, n_cases),
                        log_dir=out_dir / "logs",
                    )
            completed = False
            try:
                fatal = _run_tasks(store, run_id, executor, todo, bundle, progress, console)
                protections_message = getattr(executor, "protections_message", None)
                completed = True
            except KeyboardInterrupt:
                interrupted = True  # the reports are still written from what is stored
            finally:
                if own_executor:
                    # After Ctrl-C or a crash: cancel what is queued and kill the workers now.
                    executor.shutdown(wait=completed, cancel_futures=not completed)
                    _remove_worker_leftovers()
        store.finish_run(run_id)
        csv_path, rows, stats = write_reports(
            store, out_dir, question_names, question_max, hidden_visibility_of(bundle.manifest),
            # verify's kill matrix reads only the store: pictures for hundreds of mutants
            # would cost it minutes (``feedback_pages=False``)
            manifest=bundle.manifest if feedback_pages else None,
            similarity=_similarity(store, bundle, console) if feedback_pages else None,
            elapsed_s=time.monotonic() - started)
        if interrupted:
            graded_now = sum(1 for ref in todo if not store.needs_grading(ref.id, ref.content_hash, bundle.hash))
            raise GradingInterrupted(
                f"interrupted: {len(rows)} submissions are kept in {out_dir / 'results.sqlite'} "
                f"({graded_now} of the {len(todo)} to grade in this run finished) and the reports "
                f"were written from them; run the same command again to grade the rest",
                csv_path=csv_path)

    if progress:
        console.print(summary_table(stats))
        console.print(f"grades: {csv_path}")
    return GradeSummary(
        out_dir=out_dir,
        csv_path=csv_path,
        results_dir=out_dir / "results",
        db_path=out_dir / "results.sqlite",
        by_status=stats.by_status,
        totals={row["id"]: float(row["score"]) for row in rows},
        max_total=stats.max_total,
        graded_now=len(todo),
        unchanged=unchanged,
        skipped=found.skipped,
        disappeared=disappeared,
        protections_message=protections_message,
        stats=stats,
        elapsed_s=time.monotonic() - started,
        fatal=fatal,
    )


def _similarity(store: Store, bundle, console) -> dict | None:
    """Identical and near-identical submissions of the class (``report.similarity``). A
    failure here loses no grade: the reports are written without the flags, and it says so."""
    try:
        from autograder.report.similarity import find_similar, load_class_code

        submissions, template_cells = load_class_code(store, bundle)
        return find_similar(submissions, template_cells)
    except Exception as error:  # noqa: BLE001 - a report section, never a reason to lose grades
        console.print(f"[yellow]similarity not computed: {type(error).__name__}: {error}[/]")
        return None


def _remove_worker_leftovers() -> None:
    """Workers cannot remove their own private bundle copies (they gave up the right to)."""
    from autograder.grade.privileges import remove_stale_private_dirs

    with contextlib.suppress(OSError):
        remove_stale_private_dirs()


def _check_bundle(bundle, result: dict | None = None) -> None:
    """Raise ``BundleChanged`` unless the bundle on disk still hashes to ``bundle.hash`` and
    ``result`` (about to be stored) was graded with it. Hashing takes ~0.3 ms for a real
    bundle, so it runs before every result rather than on a timer."""
    try:
        found = bundle_hash(bundle.dir)
    except OSError as error:
        found = f"unreadable ({error})"
    if found != bundle.hash:
        raise BundleChanged(
            f"the bundle in {bundle.dir} changed during grading (expected hash {bundle.hash[:12]}, "
            f"found {found[:12]}): nothing more was stored; rebuild and run again")
    graded_with = (result or {}).get("bundle_hash", bundle.hash)
    if graded_with != bundle.hash:
        raise BundleChanged(
            f"a grading worker used another bundle than the one in {bundle.dir} (expected hash "
            f"{bundle.hash[:12]}, found {str(graded_with)[:12]}): nothing more was stored; "
            f"rebuild and run again")


def _count_cases(bundle) -> int:
    # Counting test functions textually avoids importing otter in the main process.
    import re

    count = 0
    for _, path in bundle.question_files:
        count += len(re.findall(r"^@test_case", path.read_text(), flags=re.M))
    return count


def _checked(result: object, task: dict) -> dict:
    """A worker's result, checked against its task and the store's schema before it is stored."""
    if not isinstance(result, dict):
        raise ValueError(f"result is a {type(result).__name__}, not a dict")
    if result.get("id") != task["id"] or result.get("content_hash") != task["content_hash"]:
        raise ValueError("result does not match its task")
    for key, kind in (("bundle_hash", str), ("status", str), ("score", (int, float)),
                      ("max_score", (int, float)), ("questions", list)):
        if not isinstance(result.get(key), kind):
            raise ValueError(f"result has no valid {key!r}")
    for question in result["questions"]:
        if not isinstance(question, dict) or not isinstance(question.get("cases"), list):
            raise ValueError("malformed question in result")
        for case in question["cases"]:
            missing = {"name", "hidden", "passed", "points", "score", "message", "duration_s"} - set(case)
            if missing:
                raise ValueError(f"case result without {sorted(missing)}")
    return result


def _run_tasks(store: Store, run_id: int, executor: Executor, todo, bundle, progress: bool,
               console) -> str | None:
    """Submit every task, store each result as it arrives; returns a fatal worker error, if any."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not (progress and console.is_terminal),
        transient=False,
    )
    futures: dict[Future, dict] = {}
    warned = False
    fatal = None
    with bar:
        job = bar.add_task("grading", total=len(todo))
        for ref in todo:
            task = ref.to_task()
            futures[executor.submit(task)] = task
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            if not done:
                _check_bundle(bundle)  # stop at once, even while every worker is busy
                if not getattr(executor, "alive", True):
                    # Defensive: the executor resolves every future itself, but if its dispatcher
                    # is gone, nothing will; waiting on would hang the batch for ever.
                    done, pending = pending, set()
            if not warned and getattr(executor, "protections_message", None):
                warned = True
                console.print(f"[yellow]{executor.protections_message}[/]", soft_wrap=True)
            for future in done:
                task = futures.pop(future)
                result, error = _outcome(future, task, bundle)
                fatal = fatal or error
                _check_bundle(bundle, result)  # raises before anything wrong is stored
                store.record(run_id, result)
                bar.advance(job)
    return fatal


def _outcome(future: Future, task: dict, bundle) -> tuple[dict, str | None]:
    """The result to store for a finished (or abandoned) future, and a fatal error if any."""
    stopped = ("grading stopped before this submission was graded (the executor ended); "
               "graded again on the next run")
    if not future.done():
        return _all_failed(task, bundle, "error", stopped), None
    try:
        return _checked(future.result(), task), None
    except WorkerDied as error:
        # a poison pill: it broke a fresh worker too; kept until its bytes or the bundle change
        return _all_failed(task, bundle, GRADER_FAULT, f"{error}; graded again only if the file or "
                           "the bundle changes, or with --regrade"), None
    except SubmissionInputError as error:  # read when it was sent to a worker
        return _all_failed(task, bundle, error.status, error.message), None
    except ExecutorStopped:
        return _all_failed(task, bundle, "error", stopped), None
    except Exception as error:  # WorkerStartError, a malformed result, a cancelled future...
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        fatal = str(error) if isinstance(error, WorkerStartError) else None
        return _all_failed(task, bundle, "error",
                           f"internal grader error (graded again on the next run): {detail}"), fatal
