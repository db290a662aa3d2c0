"""The local executor: results, parallel workers, worker death and hangs become task errors."""

from __future__ import annotations

import os
import time

import pytest

from autograder.grade.executor import LocalProcessExecutor, WorkerDied, WorkerStartError
from tests.fixtures.grade_helpers import sandbox_processes

FAKE = {"factory": "tests.fixtures.fake_grader:make", "bundle_dir": "unused"}


def _task(sid, path=""):
    return {"id": sid, "content_hash": "h-" + sid, "path": path, "kind": "script", "file": ""}


def _workers_alive():
    return sandbox_processes(f"AUTOGRADER_WORKER_PARENT={os.getpid()}\0")


def test_results_come_back_from_two_workers(tmp_path):
    with LocalProcessExecutor(FAKE, workers=2, log_dir=tmp_path) as ex:
        futures = [ex.submit(_task(f"slow{i}")) for i in range(8)]
        results = [f.result(timeout=60) for f in futures]
    assert [r["id"] for r in results] == [f"slow{i}" for i in range(8)]
    assert [r["content_hash"] for r in results] == [f"h-slow{i}" for i in range(8)]
    assert len({r["worker_pid"] for r in results}) == 2
    assert ex.protections_message == "fake grader: no sandbox"
    assert _workers_alive() == []


def test_dead_and_hung_workers_fail_only_their_task(tmp_path):
    flaky = tmp_path / "flaky.marker"
    with LocalProcessExecutor(FAKE, workers=2, task_timeout=2.0, retries=1, log_dir=tmp_path) as ex:
        crash = ex.submit(_task("crash"))
        hang = ex.submit(_task("hang"))
        flaky_f = ex.submit(_task("flaky", str(flaky)))
        normal = [ex.submit(_task(f"ok{i}")) for i in range(4)]
        with pytest.raises(WorkerDied, match="exit code"):
            crash.result(timeout=60)
        with pytest.raises(WorkerDied, match="longer than"):
            hang.result(timeout=60)
        assert flaky_f.result(timeout=60)["id"] == "flaky"  # retried once on a fresh worker
        assert [f.result(timeout=60)["id"] for f in normal] == [f"ok{i}" for i in range(4)]
    assert _workers_alive() == []


def test_workers_that_cannot_start_fail_every_task(tmp_path):
    ex = LocalProcessExecutor({**FAKE, "fail_start": True}, workers=1, log_dir=tmp_path)
    try:
        future = ex.submit(_task("a"))
        with pytest.raises(WorkerStartError, match="cannot start on purpose"):
            future.result(timeout=60)
    finally:
        ex.shutdown()
    assert _workers_alive() == []


def test_workers_that_stop_starting_fail_the_queue_instead_of_respawning_for_ever(tmp_path):
    broken = tmp_path / "broken"
    ex = LocalProcessExecutor({**FAKE, "fail_start_if": str(broken)}, workers=1, log_dir=tmp_path)
    try:
        assert ex.submit(_task("ok0")).result(timeout=60)["id"] == "ok0"
        broken.touch()  # from now on no fresh worker starts
        crash, after = ex.submit(_task("crash0")), ex.submit(_task("ok1"))
        for future in (crash, after):
            with pytest.raises(WorkerStartError, match="can no longer start"):
                future.result(timeout=120)
    finally:
        ex.shutdown()
    assert _workers_alive() == []


def test_grade_class_reports_workers_that_cannot_start(tmp_path):
    from autograder.grade import Store, grade_class
    from tests.fixtures.grade_helpers import TINY_BUNDLE, correct_cells, write_notebook

    subs = tmp_path / "subs"
    write_notebook(subs / "alice.ipynb", correct_cells())
    executor = LocalProcessExecutor({**FAKE, "fail_start": True}, workers=1, log_dir=tmp_path)
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", executor=executor, progress=False)
    finally:
        executor.shutdown()
    assert summary.fatal and "cannot start on purpose" in summary.fatal
    assert summary.by_status == {"error": 1}
    with Store(tmp_path / "out" / "results.sqlite") as store:
        (row,) = store.submissions()
        assert "graded again on the next run" in row["message"]
        assert store.needs_grading("alice", row["content_hash"], row["bundle_hash"])


def test_inline_executor_grades_in_process(tmp_path):
    from autograder.grade import InlineExecutor, grade_class
    from autograder.sandbox import Limits
    from tests.fixtures.grade_helpers import (
        ADD_ROWS_WRONG,
        DOUBLE_OK,
        TEST_LIMITS,
        TINY_BUNDLE,
        correct_cells,
        write_notebook,
    )

    subs = tmp_path / "subs"
    write_notebook(subs / "alice.ipynb", correct_cells())
    write_notebook(subs / "bob.ipynb", [DOUBLE_OK, ADD_ROWS_WRONG])
    executor = InlineExecutor({"bundle_dir": str(TINY_BUNDLE), "limits": dict(TEST_LIMITS)})
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", executor=executor, progress=False,
                              limits=Limits(**TEST_LIMITS))
    finally:
        executor.shutdown()
    assert summary.totals == {"alice": 6, "bob": 3}


def test_malformed_worker_results_become_errors_and_protections_are_printed(tmp_path):
    import io

    from rich.console import Console

    from autograder.grade import grade_class
    from tests.fixtures.grade_helpers import TINY_BUNDLE, correct_cells, write_notebook

    subs = tmp_path / "subs"
    for sid in ("alice", "bob"):
        write_notebook(subs / f"{sid}.ipynb", correct_cells())
    text = io.StringIO()
    executor = LocalProcessExecutor(FAKE, workers=1, log_dir=tmp_path)  # returns bare dicts
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", executor=executor, progress=False,
                              console=Console(file=text, width=200))
    finally:
        executor.shutdown()
    assert summary.by_status == {"error": 2}
    assert text.getvalue().count("fake grader: no sandbox") == 1


def test_poison_pills_before_honest_tasks_cost_only_themselves(tmp_path):
    """More crashing and hanging submissions than workers, all queued first: each fails after
    exactly two attempts, every honest one is graded, every future is resolved."""
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    config = {**FAKE, "attempts_dir": str(attempts)}
    pills = {"crash0": "died (exit code 9) twice", "segv0": "died (signal SIGSEGV) twice",
             "sigsegv0": "died (signal SIGSEGV) twice", "oomkill0": "SIGKILL",
             "spin0": "took longer than the 2 s backstop and was killed twice",
             "hang0": "took longer than the 2 s backstop and was killed twice"}
    with LocalProcessExecutor(config, workers=2, task_timeout=2.0, retries=1, log_dir=tmp_path) as ex:
        pill_futures = {sid: ex.submit(_task(sid)) for sid in pills}
        honest = [ex.submit(_task(f"ok{i}")) for i in range(6)]
        for sid, future in pill_futures.items():
            with pytest.raises(WorkerDied, match="while grading this submission") as info:
                future.result(timeout=120)
            assert pills[sid] in str(info.value), str(info.value)
        assert [f.result(timeout=120)["id"] for f in honest] == [f"ok{i}" for i in range(6)]
    for sid in pills:
        assert len((attempts / sid).read_text().splitlines()) == 2, sid  # a first try and one retry
    assert not ex.alive
    assert _workers_alive() == []


def test_bytes_are_read_when_sent_and_unreadable_files_fail_only_themselves(tmp_path):
    import base64

    from autograder.grade.inputs import SubmissionInputError

    good = tmp_path / "good.py"
    good.write_bytes(b"x = 1\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    with LocalProcessExecutor(FAKE, workers=1, log_dir=tmp_path) as ex:
        missing = ex.submit({**_task("missing"), "file": str(tmp_path / "gone.py")})
        no_notebook = ex.submit({**_task("folder"), "kind": "folder", "file": str(folder)})
        ok = ex.submit({**_task("ok"), "file": str(good)})
        with pytest.raises(SubmissionInputError) as info:
            missing.result(timeout=60)
        assert info.value.status == "error" and "gone.py" in info.value.message
        with pytest.raises(SubmissionInputError) as info:
            no_notebook.result(timeout=60)
        assert info.value.status == "invalid_notebook"
        assert base64.b64decode(ok.result(timeout=60)["data_b64"]) == b"x = 1\n"


def test_shutdown_resolves_a_queued_retry(tmp_path):
    """A retry is a running future (it cannot be cancelled): shutting down with
    ``cancel_futures`` must still resolve it, never leave it for ever."""
    from autograder.grade.executor import ExecutorStopped

    ex = LocalProcessExecutor(FAKE, workers=1, task_timeout=30, retries=1, log_dir=tmp_path)
    blocker = ex.submit(_task("crash0"))
    queued = [ex.submit(_task(f"slow{i}")) for i in range(3)]
    deadline = time.monotonic() + 60
    while not ex._reasons and time.monotonic() < deadline:  # the crash's retry is queued
        time.sleep(0.01)
    ex.shutdown(wait=False, cancel_futures=True)
    for future in [blocker, *queued]:
        assert future.done()
        if not future.cancelled():
            with pytest.raises((ExecutorStopped, WorkerDied)):
                future.result(timeout=0)
    assert not ex.alive
    assert _workers_alive() == []
