"""LMS export: the header formats Canvas's and Moodle's gradebook importers read.

Canvas (Grades > Import) expects the leading columns of its own gradebook export, "Student",
"ID", "SIS User ID", "SIS Login ID", "Section", then one column per assignment, and accepts
the export's "Points Possible" row; Moodle's CSV grade import needs one column identifying
the user (here "Email address" or "ID number") and one column per grade item.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.report.gradebook import build_gradebook, read_assignment
from autograder.report.lms import canvas_rows, moodle_rows, write_lms_csv
from autograder.report.roster import Student
from tests.test_gradebook import graded_folder


@pytest.fixture
def book(tmp_path):
    hw1 = graded_folder(tmp_path / "hw1", 20, {"Jane Doe - hw1": 12, "lee_min_hw1": 20})
    hw2 = graded_folder(tmp_path / "hw2", 10, {"Jane Doe - hw2 (1)": 9})
    hw3 = graded_folder(tmp_path / "hw3", 27, {"doe_jane_hw3": 18.9, "lee_min_hw3": 27})
    roster = [Student("s1001", "Jane Doe", email="jane@uni.edu", sis_login_id="jdoe",
                      section="A", lms_id="777"),
              Student("s1002", "Min Lee", email="min@uni.edu", section="B", lms_id="778")]
    return build_gradebook([read_assignment(str(p)) for p in (hw1, hw2, hw3)],
                           drop_lowest=1, roster=roster)


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_header_points_possible_and_rows(book, tmp_path):
    rows = read_rows(write_lms_csv(tmp_path / "canvas.csv", book, "canvas"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "hw1", "hw2", "hw3", "Course total (best 2 of 3)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "100", "100", "100", "100"]
    assert rows[2] == ["Doe, Jane", "777", "s1001", "jdoe", "A", "60", "90", "70", "80"]
    # Min Lee: 100, missing (0), 100 -> the missing one is dropped.
    assert rows[3] == ["Lee, Min", "778", "s1002", "", "B", "100", "0", "100", "100"]
    assert len(rows) == 4


def test_moodle_header_by_email_else_id_number(book, tmp_path):
    rows = read_rows(write_lms_csv(tmp_path / "moodle.csv", book, "moodle"))
    assert rows[0] == ["Email address", "hw1", "hw2", "hw3", "Course total (best 2 of 3)"]
    assert rows[1] == ["jane@uni.edu", "60", "90", "70", "80"]
    book.rows[1].student.email = ""  # one student without an email: ID number for all
    header = moodle_rows(book)[0]
    assert header[0] == "ID number"
    assert [row[0] for row in moodle_rows(book)[1:]] == ["s1001", "s1002"]


def test_without_roster_ids_are_the_submission_ids(tmp_path):
    hw1 = graded_folder(tmp_path / "hw1", 4, {"ann": 4})
    book = build_gradebook([read_assignment(str(hw1))], drop_lowest=0)
    assert canvas_rows(book)[2] == ["ann", "", "ann", "", "", "100", "100"]
    assert moodle_rows(book)[0][0] == "ID number"


def test_formula_guard_in_lms_files(tmp_path):
    hw1 = graded_folder(tmp_path / "=hw", 4, {"x": 4})  # a folder name is a cell too
    roster = [Student("=1+1", "@evil -x", email="=cmd@x", section="+A", lms_id="-3",
                      aliases=["x"])]
    book = build_gradebook([read_assignment(str(hw1))], drop_lowest=0, roster=roster)
    for kind in ("canvas", "moodle"):
        rows = read_rows(write_lms_csv(tmp_path / f"{kind}.csv", book, kind))
        cells = [cell for row in rows for cell in row]
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells), (kind, cells)
    assert read_rows(tmp_path / "canvas.csv")[0][5] == "'=hw"


def test_unknown_lms_is_refused(book, tmp_path):
    with pytest.raises(ValueError, match="unknown LMS"):
        write_lms_csv(tmp_path / "x.csv", book, "blackboard")


def test_cli_moodle_export_to_a_named_file(tmp_path):
    hw1 = graded_folder(tmp_path / "hw1", 10, {"ann": 6})
    hw2 = graded_folder(tmp_path / "hw2", 10, {"ann": 0})
    hw3 = graded_folder(tmp_path / "hw3", 10, {"ann": 7})
    target = tmp_path / "to-moodle.csv"
    result = CliRunner().invoke(main, [
        "gradebook", str(hw1), str(hw2), str(hw3), "--out", str(tmp_path / "course.csv"),
        "--lms", "moodle", "--lms-out", str(target)])
    assert result.exit_code == 0, result.output
    assert read_rows(target) == [["ID number", "hw1", "hw2", "hw3", "Course total (best 2 of 3)"],
                                 ["ann", "60", "0", "70", "65"]]
