"""Poison pills in a real batch: submissions that crash or stall their grading worker are sorted
first and outnumber the workers. Each ends as ``grader_fault`` after exactly two attempts, every
honest submission is graded, the batch ends, and a re-run leaves the pills alone. The bundle is
re-verified before each result is stored. (The fake grader stands in for the sandbox: fast.)"""

from __future__ import annotations

import io
import json
import shutil
import time
from concurrent.futures import Future

import pytest
from rich.console import Console

from autograder.grade import grade_class
from autograder.grade.batch import BundleChanged
from autograder.grade.bundle import bundle_hash
from autograder.grade.executor import Executor, LocalProcessExecutor
from tests.fixtures.grade_helpers import TINY_BUNDLE, correct_cells, rows, stored, write_notebook

# what each pill does is its prefix (see tests/fixtures/fake_grader.py); all sort before "zz_"
PILLS = ["crash_a", "hang_a", "oomkill_a", "segv_a", "sigsegv_a", "spin_a"]
HONEST = [f"zz_honest_{i}" for i in range(4)]
WORKERS = 2
CASES = [("q1", "q1 - 1", False, 1.0), ("q1", "q1 - 2", True, 2.0),
         ("q2", "q2 - 1", False, 1.0), ("q2", "q2 - 2", True, 2.0)]


@pytest.fixture
def bundle(tmp_path):
    """The tiny bundle, its manifest listing the cases as ``autograder build`` writes them."""
    path = tmp_path / "tiny"
    shutil.copytree(TINY_BUNDLE, path)
    manifest = json.loads((path / "manifest.json").read_text())
    for question in manifest["questions"]:
        question["cases"] = [{"name": name, "hidden": hidden, "points": points}
                             for q, name, hidden, points in CASES if q == question["name"]]
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture
def klass(tmp_path):
    subs = tmp_path / "subs"
    for sid in PILLS + HONEST:
        write_notebook(subs / f"{sid}.ipynb", correct_cells())
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    return subs, tmp_path / "out", attempts


def _grade(subs, bundle, out, attempts=None, *, text=None, graded_with=None, **kwargs):
    config = {"factory": "tests.fixtures.fake_grader:make", "bundle_dir": str(bundle),
              "bundle_hash": graded_with or bundle_hash(bundle), "valid": True,
              "attempts_dir": str(attempts) if attempts else None}
    executor = LocalProcessExecutor(config, workers=WORKERS, task_timeout=2.0, retries=1,
                                    log_dir=out.parent / "logs")
    try:
        return grade_class(subs, bundle, out, executor=executor, progress=text is not None,
                           console=Console(file=text or io.StringIO(), width=200), **kwargs)
    finally:
        executor.shutdown()
        assert not executor.alive  # the dispatcher thread has ended


def _attempts(attempts, sid) -> int:
    path = attempts / sid
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_pills_get_their_own_status_and_honest_submissions_are_graded(klass, bundle):
    subs, out, attempts = klass
    text = io.StringIO()
    started = time.monotonic()
    summary = _grade(subs, bundle, out, attempts, text=text)
    assert time.monotonic() - started < 60  # a hang guard, not a speed target
    assert summary.fatal is None
    assert summary.by_status == {"graded": len(HONEST), "grader_fault": len(PILLS)}
    got = stored(out)
    for sid in HONEST:
        assert got[sid]["status"] == "graded" and got[sid]["score"] == 1.0
        assert _attempts(attempts, sid) == 1
    for sid in PILLS:
        message = got[sid]["message"]
        assert got[sid]["status"] == "grader_fault", message
        assert "twice while grading this submission" in message and "--regrade" in message
        assert _attempts(attempts, sid) == 2, sid  # one try and one retry on a fresh worker
        # every case of the manifest is there, failed, with the message
        assert [(c["question"], c["name"], c["passed"], c["score"]) for c in got[sid]["cases"]] == [
            (q, name, 0, 0.0) for q, name, _, _ in CASES]
        assert {c["message"] for c in got[sid]["cases"]} == {message}
    assert "died (signal SIGSEGV) twice" in got["segv_a"]["message"]
    assert "died (signal SIGSEGV) twice" in got["sigsegv_a"]["message"]
    assert "died (exit code 9) twice" in got["crash_a"]["message"]
    assert "signal SIGKILL" in got["oomkill_a"]["message"]
    assert "took longer than the 2 s backstop and was killed twice" in got["spin_a"]["message"]
    assert "took longer than the 2 s backstop" in got["hang_a"]["message"]
    # reports show the status like any other
    csv_rows = (out / "grades.csv").read_text().splitlines()
    assert sum(",grader_fault," in line for line in csv_rows) == len(PILLS)
    assert "grader_fault" in text.getvalue()

    # a re-run leaves them alone; a changed pill is graded again; --regrade grades all again
    assert _grade(subs, bundle, out, attempts).graded_now == 0
    assert all(_attempts(attempts, sid) == 2 for sid in PILLS)
    write_notebook(subs / "crash_a.ipynb", correct_cells() + ["x = 1"])
    again = _grade(subs, bundle, out, attempts)
    assert again.graded_now == 1 and _attempts(attempts, "crash_a") == 4
    assert _grade(subs, bundle, out, attempts, regrade=True).graded_now == len(PILLS + HONEST)
    assert _attempts(attempts, "segv_a") == 4
    events = rows(out / "results.sqlite", "SELECT COUNT(*) FROM gradings WHERE submission = 'segv_a'")
    assert events == [(2,)]  # one stored grading per run that graded it: first run, --regrade


def test_a_changed_bundle_grades_pills_again(klass, bundle):
    subs, out, attempts = klass
    for sid in PILLS[1:]:
        (subs / f"{sid}.ipynb").unlink()
    assert _grade(subs, bundle, out, attempts).by_status == {"graded": len(HONEST), "grader_fault": 1}
    with open(bundle / "tests" / "q1.py", "a") as handle:
        handle.write("\n# a fixed test\n")
    assert _grade(subs, bundle, out, attempts).graded_now == 1 + len(HONEST)
    assert _attempts(attempts, "crash_a") == 4


def test_a_bundle_changed_mid_run_stops_the_run_and_stores_nothing_wrong(tmp_path, bundle):
    subs = tmp_path / "subs"
    write_notebook(subs / "edit_bundle.ipynb", correct_cells())
    for sid in HONEST:
        write_notebook(subs / f"{sid}.ipynb", correct_cells())
    out = tmp_path / "out"
    expected = bundle_hash(bundle)
    started = time.monotonic()
    with pytest.raises(BundleChanged) as info:
        _grade(subs, bundle, out)
    assert time.monotonic() - started < 60
    message = str(info.value)
    assert f"the bundle in {bundle} changed during grading (expected hash {expected[:12]}, found " in message
    assert "nothing more was stored; rebuild and run again" in message
    # the result graded while the bundle changed is not stored, nor anything after it
    assert "edit_bundle" not in stored(out)
    assert all(sub["bundle_hash"] == expected for sub in stored(out).values())


def test_a_result_graded_with_another_bundle_is_refused(tmp_path, bundle):
    subs = tmp_path / "subs"
    write_notebook(subs / "alice.ipynb", correct_cells())
    out = tmp_path / "out"
    with pytest.raises(BundleChanged, match="another bundle"):
        _grade(subs, bundle, out, graded_with="0" * 64)
    assert stored(out) == {}


def test_the_cli_exits_non_zero_when_the_bundle_changes(tmp_path, bundle, monkeypatch):
    from autograder.grade import console

    def changed(*args, **kwargs):
        raise BundleChanged("the bundle in X changed during grading")

    monkeypatch.setattr(console, "grade_class", changed)
    (tmp_path / "subs").mkdir()
    code = console.run_grade(tmp_path / "subs", assignment=bundle.name, out_dir=tmp_path / "out",
                             bundle_dir=bundle.parent)
    assert code == 1


class _DeadExecutor(Executor):
    """An executor whose dispatcher died without resolving anything (a bug it must not have)."""

    alive = False

    def submit(self, task: dict) -> Future:
        return Future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


def test_futures_nobody_holds_are_stored_as_errors(tmp_path, bundle):
    subs = tmp_path / "subs"
    for sid in HONEST:
        write_notebook(subs / f"{sid}.ipynb", correct_cells())
    started = time.monotonic()
    summary = grade_class(subs, bundle, tmp_path / "out", executor=_DeadExecutor(), progress=False,
                          console=Console(file=io.StringIO()))
    assert time.monotonic() - started < 30
    assert summary.by_status == {"error": len(HONEST)}
    assert all("graded again on the next run" in sub["message"] for sub in stored(tmp_path / "out").values())


def test_the_bundle_hash_sees_a_rewrite_even_when_remembered(tmp_path):
    # the hash is remembered while every file is the same file (stat); a rewrite of the same
    # size, in place, is seen at once when its timestamps move and within a second otherwise
    import os

    from autograder.grade import bundle as bundle_module

    copy = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, copy)
    first = bundle_hash(copy)
    assert bundle_hash(copy) == first
    test_file = sorted((copy / "tests").glob("*.py"))[0]
    text = test_file.read_bytes()
    test_file.write_bytes(text.replace(b"points", b"pOints", 1))  # same size, same inode
    assert bundle_hash(copy) != first
    test_file.write_bytes(text)
    assert bundle_hash(copy) == first
    # a rewrite whose stat looks unchanged: found when the remembered hash is a second old
    st = test_file.stat()
    with open(test_file, "r+b") as f:
        f.write(text.replace(b"points", b"pOints", 1))
    os.utime(test_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    entry = bundle_module._hashes[str(copy)]
    signature = tuple((p.as_posix(), bundle_module._stat_key(p))
                      for p in bundle_module._bundle_files(copy))
    bundle_module._hashes[str(copy)] = (signature, entry[1], time.monotonic())
    assert bundle_hash(copy) == first  # within the second: remembered
    bundle_module._hashes[str(copy)] = (signature, entry[1], time.monotonic() - 2)
    assert bundle_hash(copy) != first
