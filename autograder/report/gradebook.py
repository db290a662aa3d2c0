"""``autograder gradebook``: graded assignments combined into one course table.

Each assignment is a graded output folder (its ``results.sqlite``, else its ``grades.csv``),
named by the folder unless given as ``NAME=PATH``. Per student and assignment the table holds
a *percentage* (score / the assignment's maximum), so that assignments worth different points
weigh the same; late penalties (``report.late``) apply to it. The course total is the lecture's
rule: of n assignments the highest n-k percentages count (k = ``--drop-lowest``, 1 by
default): 60, 90, 70 give 160/200, and 60, 0, 70 give 130/200. A missing submission counts as
zero and is marked. Students are the roster's rows (``report.roster``), or without a roster
the submission ids; a submission no roster row claims is kept under its own id and marked.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.report.grades_csv import _cell_text
from autograder.report.late import LatePolicy
from autograder.report.roster import RosterError, RosterMatcher, Student

GRADED = "graded"


@dataclass
class Submission:
    id: str
    score: float
    max_score: float
    status: str


@dataclass
class Assignment:
    name: str
    path: Path
    max_points: float
    submissions: list[Submission]


@dataclass
class CourseRow:
    student_id: str
    student: Student | None
    percents: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    total: float = 0.0
    out_of: float = 0.0

    @property
    def name(self) -> str:
        return self.student.name if self.student else ""

    @property
    def percent(self) -> float:
        return 100.0 * self.total / self.out_of if self.out_of else 0.0


@dataclass
class Gradebook:
    assignments: list[str]
    keep: int
    rows: list[CourseRow]


def parse_assignment_spec(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named by the folder)."""
    name, sep, path = spec.partition("=")
    if sep and name and not Path(spec).exists():
        return name, Path(path)
    path = Path(spec)
    return path.resolve().name, path


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def read_assignment(spec: str) -> Assignment:
    """The submissions of one graded output folder (present ones only)."""
    name, path = parse_assignment_spec(spec)
    store_path, csv_path = path / "results.sqlite", path / "grades.csv"
    submissions = []
    if store_path.is_file():
        from autograder.grade.store import Store
        from autograder.report.explain import status_text

        with Store(store_path) as store:
            for row in store.submissions():  # the status as grades.csv words it
                submissions.append(Submission(row["id"], float(row["score"]),
                                              float(row["max_score"]), status_text(row)))
    elif csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                sid = row.get("submission", "")
                if sid.startswith("'") and sid[1:2] in ("=", "+", "-", "@", "\t", "\r"):
                    sid = sid[1:]  # grades.csv's formula guard, undone
                submissions.append(Submission(sid, _float(row.get("total")),
                                              _float(row.get("max_total")), row.get("status", "")))
    else:
        raise RosterError(f"{path}: neither results.sqlite nor grades.csv (grade it first)")
    max_points = max((s.max_score for s in submissions), default=0.0)
    return Assignment(name, path, max_points, submissions)


def _percent(submission: Submission, max_points: float) -> float:
    top = submission.max_score or max_points
    return 100.0 * submission.score / top if top > 0 else 0.0


def build_gradebook(assignments: list[Assignment], *, drop_lowest: int = 1,
                    roster: list[Student] | None = None,
                    late: LatePolicy | None = None) -> Gradebook:
    names = [a.name for a in assignments]
    if len(set(names)) != len(names):
        raise RosterError(f"two assignments share a name ({', '.join(names)}): name them NAME=PATH")
    keep = len(assignments) - drop_lowest
    if drop_lowest < 0 or keep < 1:
        raise RosterError(f"--drop-lowest {drop_lowest} of {len(assignments)} assignments leaves none")
    matcher = RosterMatcher(roster) if roster is not None else None
    rows: dict[str, CourseRow] = {}
    if roster is not None:
        for student in roster:
            rows[student.student_id] = CourseRow(student.student_id, student)
    for assignment in assignments:
        counted: dict[str, list[Submission]] = {}
        for submission in assignment.submissions:
            student = matcher.match(submission.id, assignment.name) if matcher else None
            key = student.student_id if student else submission.id
            if key not in rows:
                rows[key] = CourseRow(key, student)
                if matcher is not None:
                    rows[key].notes.append("not on the roster")
            counted.setdefault(key, []).append(submission)
        for key, mine in counted.items():
            best = max(mine, key=lambda s: _percent(s, assignment.max_points))
            percent = _percent(best, assignment.max_points)
            row = rows[key]
            if len(mine) > 1:
                row.notes.append(f"{assignment.name}: {len(mine)} submissions ("
                                 f"{', '.join(sorted(s.id for s in mine))}); the best counted")
            if best.status != GRADED and not best.status.startswith(GRADED + ";"):
                row.notes.append(f"{assignment.name}: {best.status}")
            if late is not None:
                percent, note = late.penalty(assignment.name, key, percent)
                if note:
                    row.notes.append(f"{assignment.name}: {note}")
            row.percents[assignment.name] = percent
    for row in rows.values():
        for name in names:
            if name not in row.percents:
                row.percents[name] = 0.0
                row.notes.append(f"{name}: missing (0)")
        _total(row, names, keep)
    return Gradebook(names, keep, sorted(rows.values(), key=lambda r: r.student_id))


def _total(row: CourseRow, names: list[str], keep: int) -> None:
    """The highest ``keep`` percentages; among equal ones the later assignment is dropped."""
    order = sorted(range(len(names)), key=lambda i: (-row.percents[names[i]], i))
    kept = order[:keep]
    row.dropped = [names[i] for i in sorted(order[keep:])]
    row.total = sum(row.percents[names[i]] for i in kept)
    row.out_of = 100.0 * keep


def number(value: float) -> str:
    value = round(float(value), 2)
    return str(int(value)) if value == int(value) else str(value)


def course_header(book: Gradebook) -> list[str]:
    return ["student_id", "name", *(f"{a} (%)" for a in book.assignments),
            "dropped", "total", "out_of", "percent", "notes"]


def write_course_csv(path: str | Path, book: Gradebook) -> Path:
    """``course.csv``, atomically; every text cell guarded against spreadsheet formulas."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([_cell_text(h) for h in course_header(book)])
        for row in book.rows:
            writer.writerow([
                _cell_text(row.student_id), _cell_text(row.name),
                *(number(row.percents[a]) for a in book.assignments),
                _cell_text("; ".join(row.dropped)), number(row.total), number(row.out_of),
                number(row.percent), _cell_text("; ".join(row.notes)),
            ])
    os.replace(tmp, path)
    return path
