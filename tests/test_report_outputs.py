"""The store and the reports built from it, on synthetic results (no sandbox needed)."""

from __future__ import annotations

import csv
import json

from autograder.grade.batch import write_reports
from autograder.grade.store import Store


def _result(sid, status="graded", q1=(True, False), q2=(True, True), content_hash="h"):
    def question(name, passed):
        cases = [
            {"name": f"test_{name}_public", "hidden": False, "passed": passed[0], "points": 1.0,
             "score": 1.0 if passed[0] else 0.0, "message": "passed" if passed[0] else "AssertionError: wrong",
             "duration_s": 0.01},
            {"name": f"test_{name}_hidden", "hidden": True, "passed": passed[1], "points": 2.0,
             "score": 2.0 if passed[1] else 0.0, "message": "passed" if passed[1] else "AssertionError: bad",
             "duration_s": 0.01},
        ]
        return {"name": name, "score": sum(c["score"] for c in cases), "max_score": 3.0, "cases": cases}

    questions = [question("q1", q1), question("q2", q2)]
    return {
        "id": sid, "kind": "notebook", "path": f"/x/{sid}.ipynb", "content_hash": content_hash,
        "bundle_hash": "b", "status": status, "message": "cell 2 raised NameError: x" if status != "graded" else "",
        "score": sum(q["score"] for q in questions), "max_score": 6.0, "questions": questions,
        "output": "hello\n", "execution_time": 0.5,
    }


def test_store_record_replace_and_resume_rules(tmp_path):
    with Store(tmp_path / "results.sqlite") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        run = store.start_run("b", 2, {})
        store.record(run, _result("alice"))
        store.record(run, _result("bob", status="error", q1=(False, False), q2=(False, False)))
        assert not store.needs_grading("alice", "h", "b")
        assert store.needs_grading("alice", "h2", "b")  # changed bytes
        assert store.needs_grading("alice", "h", "b2")  # changed bundle
        assert store.needs_grading("bob", "h", "b")  # the grader's own error: try again
        assert store.needs_grading("carol", "h", "b")
        store.record(run, _result("alice", content_hash="h2", q1=(True, True)))
        assert len(store.cases("alice")) == 4  # replaced, not appended
        assert store.submissions()[0]["score"] == 6.0
        assert store.grading_counts() == {"alice": 2, "bob": 1}
        assert store.mark_present(["bob"]) == ["alice"]
        assert [s["id"] for s in store.submissions()] == ["bob"]
        assert {s["id"] for s in store.submissions(present_only=False)} == {"alice", "bob"}


def test_grades_csv_results_json_and_summary(tmp_path):
    with Store(tmp_path / "results.sqlite") as store:
        run = store.start_run("b", 1, {})
        store.record(run, _result("alice"))
        store.record(run, _result("=cmd|evil", status="timeout", q1=(False, False), q2=(False, True)))
        csv_path, rows, stats = write_reports(store, tmp_path, ["q1", "q2"], {"q1": 3.0, "q2": 3.0})
    with open(csv_path, newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["submission", "q1", "q2", "total", "max_total", "status", "message"]
    by_id = {row[0]: row for row in table[1:]}
    assert by_id["alice"][1:6] == ["1", "3", "4", "6", "graded"]
    evil = by_id["'=cmd|evil"]  # never a spreadsheet formula
    assert evil[1:6] == ["0", "2", "2", "6", "timeout"]
    assert "NameError" in evil[6]

    data = json.loads((tmp_path / "results" / "alice.json").read_text())
    assert set(data) >= {"score", "execution_time", "output", "tests", "stdout_visibility"}
    assert data["score"] == 4.0
    assert len(data["tests"]) == 4
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
    vis = {t["name"]: t["visibility"] for t in data["tests"]}
    assert vis["q1: test_q1_public"] == "visible"
    assert vis["q1: test_q1_hidden"] == "after_published"
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    from autograder.report.gradescope import result_file_name

    assert result_file_name("alice") == "alice.json"
    assert result_file_name("=cmd|evil").startswith("_cmd_evil-")
    assert result_file_name("a b") != result_file_name("a_b")
    assert result_file_name("../../etc/passwd").count("/") == 0
    assert (tmp_path / "results" / result_file_name("=cmd|evil")).exists()

    assert stats.by_status == {"graded": 1, "timeout": 1}
    assert stats.mean_total == 3.0 and stats.median_total == 3.0
    assert stats.question_means == {"q1": 0.5, "q2": 2.5}
