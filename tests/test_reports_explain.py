"""Outputs that explain themselves (issue 12, item 6), graded by the real batch grader:

grades.csv says per question what went wrong first; output that was cut is marked; a status
that cost no points is worded so; Ctrl-C writes the reports from what is stored and says that
a re-run resumes."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from autograder.grade import grade_class
from autograder.report.explain import first_line
from autograder.sandbox import Limits
from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    TEST_LIMITS,
    TINY_BUNDLE,
    write_notebook,
)

REPO = Path(__file__).resolve().parent.parent


def _csv(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_first_line_skips_otter_location_lines():
    message = ("Error at line 12 in test q1:\n  assert_close(got, want)\n"
               "AssertionError: value: 3 of 4 entries differ\n  worst at index 0")
    assert first_line(message) == "AssertionError: value: 3 of 4 entries differ"
    assert first_line("") == ""


def test_grades_csv_explains_wrong_answers_cut_output_and_dropped_cells(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_notebook(subs / "right.ipynb", [DOUBLE_OK, ADD_ROWS_OK])
    write_notebook(subs / "wrong.ipynb", [DOUBLE_OK, ADD_ROWS_WRONG])  # only wrong answers
    write_notebook(subs / "loud.ipynb", ["print('x' * 3_000_000)", DOUBLE_OK, ADD_ROWS_OK])
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))"
    write_notebook(subs / "bomb.ipynb", [DOUBLE_OK, bomb, ADD_ROWS_OK])
    write_notebook(subs / "spin.ipynb", [DOUBLE_OK, ADD_ROWS_OK, "while True:\n    pass"])
    write_notebook(subs / "dies_in_test.ipynb", [DOUBLE_OK, "import os\ndef add_rows(A):\n    os._exit(3)"])
    grade_class(subs, TINY_BUNDLE, out, workers=2, limits=Limits(**TEST_LIMITS), progress=False)
    table = _csv(out)

    assert table["right"]["status"] == "graded" and table["right"]["message"] == ""
    wrong = table["wrong"]
    assert wrong["status"] == "graded" and wrong["total"] == "3"
    # before: empty for a submission that merely got answers wrong
    assert wrong["message"].startswith("q2: "), wrong["message"]
    assert "q1:" not in wrong["message"]  # q1 is right: nothing to say about it

    loud = table["loud"]
    assert loud["total"] == loud["max_total"] == "6"
    assert "printed output cut" in loud["message"]

    bomb_row = table["bomb"]
    assert bomb_row["total"] == "6"  # the cases ran against the other cells
    # not "memory" next to full marks: the dropped cell is named and cost nothing by itself
    assert bomb_row["status"] == "graded; code cell 2 stopped: memory limit", bomb_row
    spin = table["spin"]
    assert spin["total"] == "6" and spin["status"] == "graded; code cell 3 dropped: time limit", spin
    # a death during a test cost that test its points: the status says what happened
    died = table["dies_in_test"]
    assert died["total"] == "3" and died["status"] == "sandbox_died", died
    assert "q2: " in died["message"]
    con = sqlite3.connect(out / "results.sqlite")
    try:  # the store keeps the machine status
        assert con.execute("SELECT status FROM submissions WHERE id='bomb'").fetchone() == ("memory",)
        assert con.execute("SELECT status FROM submissions WHERE id='spin'").fetchone() == ("timeout",)
    finally:
        con.close()


def test_ctrl_c_writes_the_reports_of_what_is_stored_and_a_rerun_resumes(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    slow = "import time\ntime.sleep(0.5)"
    ids = [f"student{i:02d}" for i in range(12)]
    for sid in ids:
        write_notebook(subs / f"{sid}.ipynb", [slow, DOUBLE_OK, ADD_ROWS_OK])
    limit_args = [f"--limit={k}={v}" for k, v in TEST_LIMITS.items()]
    cmd = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", TINY_BUNDLE.name,
           "--bundle-dir", str(TINY_BUNDLE.parent), "--out", str(out), "--workers", "1", "--quiet",
           *limit_args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    db = out / "results.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until some results are stored
        time.sleep(0.2)
        if db.exists():
            try:
                con = sqlite3.connect(db)
                n = con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
                con.close()
            except sqlite3.Error:
                continue
            if n >= 2:
                break
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    table = _csv(out)
    assert 2 <= len(table) < len(ids), sorted(table)
    assert f"{len(table)} submissions are kept" in " ".join(err.split())
    assert "run the same command again" in err
    assert all(row["total"] == "6" for row in table.values())
    assert (out / "summary.html").is_file()

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(_csv(out)) == ids
    assert f"unchanged {len(table)}" in again.stderr
