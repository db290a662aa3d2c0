"""Course totals: percentages per assignment, the best n-1 of n, roster, late penalties, CLI.

The expected totals are the lecture's (../shared/seeds/000_6ddad3d16188d1a5.txt): 60, 90, 70
give 160/200; 60, 0, 70 give 130/200.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.grade.store import Store
from autograder.report.gradebook import build_gradebook, read_assignment, write_course_csv
from autograder.report.grades_csv import write_grades_csv
from autograder.report.late import read_late
from autograder.report.roster import RosterMatcher, Student, read_roster, submission_key


def graded_folder(path: Path, max_points: float, scores: dict[str, float],
                  statuses: dict[str, str] | None = None) -> Path:
    """An output folder with a real results store, as `autograder grade` leaves it."""
    statuses = statuses or {}
    with Store(path / "results.sqlite") as store:
        run = store.start_run("bundle", 1, {})
        for sid, score in scores.items():
            store.record(run, {"id": sid, "kind": "notebook", "path": f"/subs/{sid}.ipynb",
                               "content_hash": sid, "bundle_hash": "bundle",
                               "status": statuses.get(sid, "graded"), "score": score,
                               "max_score": max_points, "questions": []})
    return path


def csv_folder(path: Path, max_points: float, scores: dict[str, float]) -> Path:
    """An output folder with only grades.csv (a store moved away, a copy from elsewhere)."""
    path.mkdir(parents=True)
    write_grades_csv(path / "grades.csv", [], [
        {"id": sid, "score": score, "max_score": max_points, "status": "graded", "message": ""}
        for sid, score in scores.items()])
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def lecture_class(tmp_path):
    # Different maxima: 12/20 = 60 %, 9/10 = 90 %, 18.9/27 = 70 %; bo scores 0 on hw2.
    hw1 = graded_folder(tmp_path / "hw1", 20, {"ann": 12, "bo": 12})
    hw2 = graded_folder(tmp_path / "hw2", 10, {"ann": 9, "bo": 0})
    hw3 = graded_folder(tmp_path / "hw3", 27, {"ann": 18.9, "bo": 18.9})
    return [str(hw1), str(hw2), str(hw3)]


def test_lecture_examples_best_two_of_three(lecture_class):
    book = build_gradebook([read_assignment(s) for s in lecture_class], drop_lowest=1)
    rows = {row.student_id: row for row in book.rows}
    assert book.assignments == ["hw1", "hw2", "hw3"]
    assert rows["ann"].percents == pytest.approx({"hw1": 60, "hw2": 90, "hw3": 70})
    assert (rows["ann"].total, rows["ann"].out_of) == (pytest.approx(160), 200)
    assert rows["ann"].dropped == ["hw1"]
    assert (rows["bo"].total, rows["bo"].out_of) == (pytest.approx(130), 200)
    assert rows["bo"].dropped == ["hw2"]
    assert rows["bo"].percent == pytest.approx(65)


def test_drop_none_and_too_many(lecture_class):
    assignments = [read_assignment(s) for s in lecture_class]
    book = build_gradebook(assignments, drop_lowest=0)
    ann = next(r for r in book.rows if r.student_id == "ann")
    assert (ann.total, ann.out_of) == (pytest.approx(220), 300)
    with pytest.raises(ValueError, match="leaves none"):
        build_gradebook(assignments, drop_lowest=3)


def test_missing_submission_is_zero_and_marked(tmp_path):
    hw1 = graded_folder(tmp_path / "hw1", 10, {"ann": 6, "cy": 10})
    hw2 = graded_folder(tmp_path / "hw2", 10, {"ann": 9})
    hw3 = csv_folder(tmp_path / "hw3", 5, {"ann": 3.5, "cy": 4})
    book = build_gradebook([read_assignment(str(p)) for p in (hw1, hw2, hw3)])
    cy = next(r for r in book.rows if r.student_id == "cy")
    assert cy.percents == pytest.approx({"hw1": 100, "hw2": 0, "hw3": 80})
    assert "hw2: missing (0)" in cy.notes
    assert (cy.total, cy.dropped) == (pytest.approx(180), ["hw2"])


def test_named_assignments_and_status_notes(tmp_path):
    out = graded_folder(tmp_path / "out_a", 4, {"ann": 4, "bo": 1}, {"bo": "timeout"})
    other = graded_folder(tmp_path / "out_b", 4, {"ann": 2, "bo": 2})
    book = build_gradebook([read_assignment(f"first={out}"), read_assignment(f"second={other}")],
                           drop_lowest=0)
    assert book.assignments == ["first", "second"]
    bo = next(r for r in book.rows if r.student_id == "bo")
    assert "first: timeout" in bo.notes


@pytest.mark.parametrize(("file_name", "words", "numbers"), [
    ("Jane Doe - hw4 (1).ipynb", ["jane", "doe"], []),
    ("Jane Doe - hw4_optimizers", ["jane", "doe"], []),
    ("doe_jane_12345_hw4.ipynb", ["doe", "jane"], ["12345"]),
    ("doejane_LATE_12345_67890_hw4_optimizers-2.ipynb", ["doejane"], ["12345", "67890"]),
    ("Jane Doe_998877_assignsubmission_file_homework4.ipynb", ["jane", "doe"], ["998877"]),
])
def test_submission_key_takes_off_lms_decorations(file_name, words, numbers):
    assert submission_key(file_name, "hw4_optimizers") == (words, numbers)


def test_roster_matches_lms_download_names(tmp_path):
    roster_csv = tmp_path / "roster.csv"
    roster_csv.write_text(
        "student_id,name,email,section,lms_id,submissions\n"
        "s1001,Jane Doe,jane@uni.edu,A,12345,\n"
        "s1002,\"Lee, Min\",min@uni.edu,B,23456,\n"
        "s1003,Ana Perez,ana@uni.edu,A,34567,odd-upload-name.ipynb\n"
        "s1004,Ana Perez Ruiz,ruiz@uni.edu,A,45678,\n"
    )
    roster = read_roster(roster_csv)
    matcher = RosterMatcher(roster)
    match = {name: (s.student_id if s else None) for name in (
        "Jane Doe - hw4 (1)", "doe_jane_12345_hw4", "doejane_late_99_hw4", "min lee hw4",
        "leemin", "odd-upload-name", "s1004", "jane@uni.edu", "perez_ana_hw4",
        "ana_perez_ruiz", "somebody_else", "12345",
    ) for s in [matcher.match(name, "hw4_optimizers")]}
    assert match == {
        "Jane Doe - hw4 (1)": "s1001", "doe_jane_12345_hw4": "s1001",
        "doejane_late_99_hw4": "s1001", "min lee hw4": "s1002", "leemin": "s1002",
        "odd-upload-name": "s1003", "s1004": "s1004", "jane@uni.edu": "s1001",
        "perez_ana_hw4": "s1003", "ana_perez_ruiz": "s1004", "somebody_else": None,
        "12345": "s1001",
    }


def test_roster_rows_one_per_student_and_unmatched_kept(tmp_path):
    hw4 = graded_folder(tmp_path / "hw4", 27, {
        "Jane Doe - hw4": 20, "Jane Doe - hw4 (1)": 27, "stranger": 5})
    hw3 = graded_folder(tmp_path / "hw3", 10, {"doe_jane_12345_hw3": 10})
    roster = [Student("s1001", "Jane Doe", lms_id="12345"), Student("s1002", "Min Lee")]
    book = build_gradebook([read_assignment(str(hw3)), read_assignment(str(hw4))],
                           drop_lowest=0, roster=roster)
    rows = {r.student_id: r for r in book.rows}
    assert sorted(rows) == ["s1001", "s1002", "stranger"]
    assert rows["s1001"].percents == pytest.approx({"hw3": 100, "hw4": 100})
    assert any("2 submissions" in note for note in rows["s1001"].notes)
    assert rows["s1002"].notes == ["hw3: missing (0)", "hw4: missing (0)"]
    assert "not on the roster" in rows["stranger"].notes


def test_late_penalties_cap_zero_after_and_extensions(tmp_path):
    late_csv = tmp_path / "late.csv"
    late_csv.write_text(
        "assignment,student,submitted_at,extension_days,due_at,penalty_per_day,max_penalty,zero_after\n"
        "hw1,,,,2026-10-01 23:59,10,25,\n"
        "hw2,,,,2026-10-08T23:59:00Z,,,2026-10-08T23:59:00Z\n"
        "hw1,ann,2026-10-02T10:00:00+00:00,,,,,\n"   # 1 started day late: -10
        "hw1,bo,2026-10-05 00:30,,,,,\n"              # 4 days late: -40, capped at -25
        "hw1,cy,2026-10-02 10:00,1,,,,\n"             # 1-day extension: on time
        "hw2,ann,2026-10-09 08:00,,,,,\n"             # after the last accepted time: 0
        "hw2,bo,2026-10-09 08:00,0.5,,,,\n"           # half a day more: accepted, on time
    )
    policy = read_late(late_csv)
    hw1 = graded_folder(tmp_path / "hw1", 10, {"ann": 8, "bo": 9, "cy": 7})
    hw2 = graded_folder(tmp_path / "hw2", 10, {"ann": 10, "bo": 10, "cy": 10})
    book = build_gradebook([read_assignment(str(hw1)), read_assignment(str(hw2))],
                           drop_lowest=0, late=policy)
    rows = {r.student_id: r for r in book.rows}
    assert rows["ann"].percents == pytest.approx({"hw1": 70, "hw2": 0})
    assert rows["bo"].percents == pytest.approx({"hw1": 65, "hw2": 100})
    assert rows["cy"].percents == pytest.approx({"hw1": 70, "hw2": 100})
    assert "hw1: 1 day late: -10" in rows["ann"].notes
    assert "hw1: 4 days late: -25" in rows["bo"].notes
    assert "hw2: late after the last accepted time: 0" in rows["ann"].notes


def test_late_csv_errors_name_the_line(tmp_path):
    bad = tmp_path / "late.csv"
    bad.write_text("assignment,student,submitted_at\nhw1,ann,yesterday\n")
    with pytest.raises(ValueError, match=r"line 2: 'yesterday' is not a time"):
        read_late(bad)


def test_formula_guard_on_ids_names_and_notes(tmp_path):
    hw1 = graded_folder(tmp_path / "hw1", 10, {"=HYPERLINK(\"http://x\")": 5, "@SUM(A1)": 1})
    roster = [Student("+cmd|' /C calc'!A0", "-Eve =1", aliases=["@SUM(A1)"])]
    book = build_gradebook([read_assignment(str(hw1))], drop_lowest=0, roster=roster)
    out = write_course_csv(tmp_path / "course.csv", book)
    cells = [cell for row in csv.reader(open(out, encoding="utf-8")) for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert "'+cmd|' /C calc'!A0" in cells and "'-Eve =1" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_cli_writes_course_csv_and_lms_file(lecture_class, tmp_path):
    out = tmp_path / "course.csv"
    result = CliRunner().invoke(main, ["gradebook", *lecture_class, "--drop-lowest", "1",
                                       "--out", str(out), "--lms", "canvas"])
    assert result.exit_code == 0, result.output
    assert "best 2 of 3 assignments" in result.output
    rows = {r["student_id"]: r for r in read_csv(out)}
    assert list(rows["ann"])[:5] == ["student_id", "name", "hw1 (%)", "hw2 (%)", "hw3 (%)"]
    assert (rows["ann"]["total"], rows["ann"]["out_of"], rows["ann"]["dropped"]) == ("160", "200", "hw1")
    assert (rows["bo"]["total"], rows["bo"]["percent"]) == ("130", "65")
    assert (tmp_path / "course-canvas.csv").is_file()


def test_cli_usage_errors(tmp_path, lecture_class):
    runner = CliRunner()
    missing = runner.invoke(main, ["gradebook", str(tmp_path / "nowhere"), "--out", "x.csv"])
    assert missing.exit_code == 2 and "neither results.sqlite nor grades.csv" in missing.output
    too_many = runner.invoke(main, ["gradebook", *lecture_class, "--drop-lowest", "3",
                                    "--out", str(tmp_path / "c.csv")])
    assert too_many.exit_code == 2 and "leaves none" in too_many.output
