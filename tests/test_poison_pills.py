"""Poison pills in a real batch: submissions that crash or stall their grading worker are sorted
first and outnumber the workers. Each ends as ``grader_fault`` after exactly two attempts, every
honest submission is graded, the batch ends, and a re-run leaves the pills alone."""

from __future__ import annotations

import io
import shutil
import time

import pytest
from rich.console import Console

from autograder.grade import grade_class
from autograder.grade.batch import BundleChanged
from autograder.grade.bundle import bundle_hash
from autograder.grade.executor import LocalProcessExecutor
from tests.fixtures.grade_helpers import TINY_BUNDLE, correct_cells, rows, stored, write_notebook

PILLS = ["crash_a", "crash_b", "segv_a", "segv_b", "hang_a"]
HONEST = [f"ok_{i}" for i in range(4)]


def _grade(subs, bundle, out, **kwargs):
    config = {"factory": "tests.fixtures.fake_grader:make", "bundle_dir": str(bundle),
              "bundle_hash": bundle_hash(bundle), "valid": True}
    executor = LocalProcessExecutor(config, workers=2, task_timeout=3.0, retries=1,
                                    log_dir=out.parent / "logs")
    try:
        return grade_class(subs, bundle, out, executor=executor, progress=False,
                           console=Console(file=io.StringIO()), **kwargs)
    finally:
        executor.shutdown()


@pytest.fixture
def klass(tmp_path):
    subs = tmp_path / "subs"
    for sid in PILLS + HONEST:
        write_notebook(subs / f"{sid}.ipynb", correct_cells())
    return subs, tmp_path / "out"


def test_pills_get_their_own_status_and_honest_submissions_are_graded(klass):
    subs, out = klass
    started = time.monotonic()
    summary = _grade(subs, TINY_BUNDLE, out)
    assert time.monotonic() - started < 90  # a hang guard, not a speed target
    got = stored(out)
    for sid in HONEST:
        assert got[sid]["status"] == "graded" and got[sid]["score"] == 1.0
    for sid in PILLS:
        assert got[sid]["status"] == "grader_fault", got[sid]["message"]
        assert "on each of 2 attempts" in got[sid]["message"]
    assert summary.by_status == {"graded": 4, "grader_fault": 5}
    assert summary.fatal is None

    # a re-run does not touch them again; --regrade does; a changed pill is graded again
    again = _grade(subs, TINY_BUNDLE, out)
    assert again.graded_now == 0
    write_notebook(subs / "crash_a.ipynb", correct_cells() + ["x = 1"])
    assert _grade(subs, TINY_BUNDLE, out).graded_now == 1
    assert _grade(subs, TINY_BUNDLE, out, regrade=True).graded_now == len(PILLS + HONEST)
    events = rows(out / "results.sqlite", "SELECT COUNT(*) FROM gradings WHERE submission = 'segv_a'")
    assert events == [(2,)]  # first run and --regrade: one stored grading each


def test_a_bundle_changed_mid_run_stops_the_run_and_stores_nothing_wrong(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, bundle)
    subs = tmp_path / "subs"
    write_notebook(subs / "edit_bundle.ipynb", correct_cells())
    out = tmp_path / "out"
    with pytest.raises(BundleChanged, match="changed during grading"):
        _grade(subs, bundle, out)
    assert "edit_bundle" not in stored(out)
