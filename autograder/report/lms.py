"""The course table as a CSV that an LMS gradebook imports (``--lms canvas|moodle``).

Every grade is a percentage (0-100), so each assignment column is worth 100 points in the LMS.

- **Canvas** (Grades > Import): the columns Canvas's own gradebook export starts with,
  ``Student`` ("Last, First"), ``ID`` (Canvas's user id: the roster's ``lms_id``), ``SIS User
  ID`` (the roster's ``student_id``), ``SIS Login ID``, ``Section``, then one column per
  assignment and the course total. The second row is Canvas's ``Points Possible`` row (100
  for each column). Canvas matches a row by ID, SIS User ID or SIS Login ID; a column whose
  name is not an existing assignment becomes a new assignment, which is how the course total
  gets in (Canvas does not import its own read-only total columns).
- **Moodle** (Grades > Import > CSV file): an identifier column, ``Email address`` when every
  student has one in the roster, else ``ID number`` (the roster's ``student_id``), then one
  column per grade item and the course total; at import, "Map from" is that column, "Map to"
  the matching user field, and each column is mapped to a grade item (or a new one).

Text cells are guarded against spreadsheet formulas as in ``grades.csv``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from autograder.report.gradebook import CourseRow, Gradebook, number
from autograder.report.grades_csv import _cell_text

CANVAS_ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
LMS_KINDS = ("canvas", "moodle")


def total_column(book: Gradebook) -> str:
    n = len(book.assignments)
    return f"Course total (best {book.keep} of {n})"


def _canvas_name(row: CourseRow) -> str:
    name = row.name.strip()
    if not name or "," in name:
        return name or row.student_id
    first, _, last = name.rpartition(" ")
    return f"{last}, {first}" if first else name


def _atomic_rows(path: str | Path, rows: list[list[str]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    os.replace(tmp, path)
    return path


def canvas_rows(book: Gradebook) -> list[list[str]]:
    grade_columns = [*book.assignments, total_column(book)]
    rows = [[_cell_text(c) for c in (*CANVAS_ID_COLUMNS, *grade_columns)],
            [POINTS_POSSIBLE, "", "", "", "", *("100" for _ in grade_columns)]]
    for row in book.rows:
        student = row.student
        ids = (_canvas_name(row), student.lms_id if student else "", row.student_id,
               student.sis_login_id if student else "", student.section if student else "")
        rows.append([*(_cell_text(v) for v in ids),
                     *(number(row.percents[a]) for a in book.assignments), number(row.percent)])
    return rows


def moodle_rows(book: Gradebook) -> list[list[str]]:
    by_email = bool(book.rows) and all(r.student and r.student.email for r in book.rows)
    identifier = "Email address" if by_email else "ID number"
    rows = [[_cell_text(c) for c in (identifier, *book.assignments, total_column(book))]]
    for row in book.rows:
        key = row.student.email if by_email else row.student_id
        rows.append([_cell_text(key), *(number(row.percents[a]) for a in book.assignments),
                     number(row.percent)])
    return rows


def write_lms_csv(path: str | Path, book: Gradebook, kind: str) -> Path:
    if kind == "canvas":
        return _atomic_rows(path, canvas_rows(book))
    if kind == "moodle":
        return _atomic_rows(path, moodle_rows(book))
    raise ValueError(f"unknown LMS {kind!r}; known: {', '.join(LMS_KINDS)}")
