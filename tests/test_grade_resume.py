"""Resume: unchanged submissions are skipped, changed ones re-graded; kill -9 then re-run grades
every submission exactly once and leaves no process behind."""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.grade import grade_class
from autograder.sandbox import Limits
from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    TEST_LIMITS,
    TINY_BUNDLE,
    correct_cells,
    grade_cli_under_reaper,
    rows,
    write_notebook,
)


def _counts(out: Path) -> dict[str, int]:
    return dict(rows(out / "results.sqlite", "SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))


def test_rerun_skips_unchanged_and_regrades_changed(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_notebook(subs / "alice.ipynb", correct_cells())
    write_notebook(subs / "bob.ipynb", [DOUBLE_OK, ADD_ROWS_WRONG])
    write_notebook(subs / "carol.ipynb", [DOUBLE_OK])
    limits = Limits(**TEST_LIMITS)
    first = grade_class(subs, TINY_BUNDLE, out, workers=1, limits=limits, progress=False)
    assert (first.graded_now, first.unchanged) == (3, 0)
    assert first.totals == {"alice": 6, "bob": 3, "carol": 3}

    (out / "grades.csv").unlink()  # reports are regenerated from the store every run
    again = grade_class(subs, TINY_BUNDLE, out, workers=1, limits=limits, progress=False)
    assert (again.graded_now, again.unchanged) == (0, 3)
    assert again.totals == first.totals
    assert (out / "grades.csv").exists()
    assert _counts(out) == {"alice": 1, "bob": 1, "carol": 1}

    write_notebook(subs / "bob.ipynb", [DOUBLE_OK, ADD_ROWS_OK])  # bob fixes his bug
    (subs / "carol.ipynb").unlink()  # carol's file disappears: kept in the store, not reported
    third = grade_class(subs, TINY_BUNDLE, out, workers=1, limits=limits, progress=False)
    assert (third.graded_now, third.unchanged) == (1, 1)
    assert third.totals == {"alice": 6, "bob": 6}
    assert third.disappeared == ["carol"]
    assert _counts(out) == {"alice": 1, "bob": 2, "carol": 1}
    with open(out / "grades.csv", newline="") as handle:
        assert [r["submission"] for r in csv.DictReader(handle)] == ["alice", "bob"]
    assert rows(out / "results.sqlite", "SELECT present FROM submissions WHERE id = 'carol'") == [(0,)]
    assert sorted(p.name for p in (out / "results").iterdir()) == ["alice.json", "bob.json"]

    forced = grade_class(subs, TINY_BUNDLE, out, workers=1, limits=limits, progress=False, regrade=True)
    assert (forced.graded_now, forced.unchanged) == (2, 0)
    assert _counts(out) == {"alice": 2, "bob": 3, "carol": 1}


def test_kill_9_then_rerun_grades_each_submission_exactly_once(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    slow = "import time\ntime.sleep(0.4)"
    ids = [f"student{i:02d}" for i in range(20)]
    for i, sid in enumerate(ids):
        write_notebook(subs / f"{sid}.ipynb", [slow, DOUBLE_OK, ADD_ROWS_OK if i % 2 else ADD_ROWS_WRONG])

    killed = grade_cli_under_reaper(subs, out, tmp_path / "kill.json", kill_after=3)
    assert killed["killed"] is True
    assert killed["leftovers"] == []  # workers, fork servers and sandboxes died with the grader
    stored_at_kill = sum(_counts(out).values())
    assert 3 <= stored_at_kill < 20

    finished = grade_cli_under_reaper(subs, out, tmp_path / "rerun.json")
    assert finished["returncode"] == 0
    assert finished["leftovers"] == []
    assert _counts(out) == {sid: 1 for sid in ids}
    results = rows(out / "results.sqlite", "SELECT id, status, score FROM submissions ORDER BY id")
    assert results == [(sid, "graded", 6.0 if i % 2 else 3.0) for i, sid in enumerate(ids)]
    with open(out / "grades.csv", newline="") as handle:
        assert [r["submission"] for r in csv.DictReader(handle)] == ids
    assert sorted(p.stem for p in (out / "results").glob("*.json")) == ids
