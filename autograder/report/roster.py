"""The class roster, and which student a submission's file name belongs to.

Roster CSV (``--roster``), one row per student, header names case-insensitive:

- ``student_id`` (required): the id the course table and the LMS export use;
- ``name``: "Jane Doe" or "Doe, Jane";
- ``email``, ``sis_login_id``, ``section``, ``lms_id`` (the LMS's own user id, Canvas's "ID"):
  optional, passed to the LMS export;
- ``submissions``: optional, file names or ids of this student's submissions, separated by
  ``;`` (for names the rule below cannot match).

A submission id (its file name without the extension) is matched to a roster row by
``submission_key``: the LMS download decorations are taken off and what is left is compared
with the roster. The rule, in order:

1. the id, lower-cased, equals a row's ``student_id``, ``email``, ``sis_login_id`` or one of
   its ``submissions`` (also without extensions);
2. a number of 4 or more digits in the id equals a row's ``student_id`` or ``lms_id``
   (``doe_jane_12345_hw4``: Canvas puts the user id after the name);
3. the words of the id, without the assignment's own words (``hw4``, the assignment name and
   its parts, and words like ``hw2``, ``homework``, ``lab3``), copy counters (``(1)``, ``-2``), ``late`` and Moodle's ``assignsubmission`` and
   ``file`` words, are the words of a row's name in any order (``Jane Doe - hw4 (1)`` and
   ``doe_jane`` are Jane Doe), or glued together in either order (Canvas's ``doejane``).

An id that matches no row, or more than one row at the same step, is not guessed: it is kept
under its own id and marked "not on the roster".
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

OPTIONAL_COLUMNS = ("name", "email", "sis_login_id", "section", "lms_id")
_NOISE_WORDS = {"late", "assignsubmission", "file", "onlinetext", "submission", "copy"}
_COPY_COUNTER = re.compile(r"(\s*\(\d+\)|[-_ ]+\d{1,2})$")
_EXTENSION = re.compile(r"\.(ipynb|py|zip)$", re.IGNORECASE)
#: Words that name an assignment, whatever the course calls it ("hw4", "assignment2", "lab").
_ASSIGNMENT_WORD = re.compile(r"^(hw|homework|assignment|asg|lab|exercise)\d*$")


class RosterError(ValueError):
    """A roster or late CSV that cannot be read; the message names the file and the row."""


@dataclass
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    sis_login_id: str = ""
    section: str = ""
    lms_id: str = ""
    aliases: list[str] = field(default_factory=list)

    @property
    def name_words(self) -> list[str]:
        return _words(self.name)


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[^0-9a-z]+", text.lower()) if word]


def read_csv_rows(path: str | Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV as dicts keyed by lower-cased, stripped header names."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
            missing = [name for name in required if name not in header]
            if missing:
                raise RosterError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(header)})")
            rows = []
            for row in reader:
                rows.append({(key or "").strip().lower(): (value or "").strip()
                             for key, value in row.items() if not isinstance(value, list)})
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"{path}: cannot read ({error})") from None


def read_roster(path: str | Path) -> list[Student]:
    students, seen = [], set()
    for line, row in enumerate(read_csv_rows(path, ("student_id",)), start=2):
        sid = row["student_id"]
        if not sid:
            raise RosterError(f"{path}, line {line}: empty student_id")
        if sid in seen:
            raise RosterError(f"{path}, line {line}: student_id {sid} appears twice")
        seen.add(sid)
        aliases = [a.strip() for a in row.get("submissions", "").split(";") if a.strip()]
        students.append(Student(sid, **{c: row.get(c, "") for c in OPTIONAL_COLUMNS},
                                aliases=aliases))
    return students


def submission_key(submission_id: str, assignment: str = "") -> tuple[list[str], list[str]]:
    """(name words, numbers) of a submission id, the LMS decorations taken off (rule 3)."""
    text = _EXTENSION.sub("", submission_id.strip())
    while True:
        stripped = _COPY_COUNTER.sub("", text)
        if stripped == text:
            break
        text = stripped
    assignment_words = set(_words(assignment)) | {w for w in _words(assignment.replace("_", " "))}
    assignment_words |= {assignment.lower()} if assignment else set()
    prefix = re.match(r"[a-z]+\d+", assignment.lower())
    if prefix:
        assignment_words.add(prefix.group(0))  # "hw4" of "hw4_optimizers"
    words, numbers = [], []
    for word in _words(text):
        if word in assignment_words or word in _NOISE_WORDS or _ASSIGNMENT_WORD.match(word):
            continue
        (numbers if word.isdigit() else words).append(word)
    return words, numbers


class RosterMatcher:
    """Maps submission ids to roster rows with the rule of this module's docstring."""

    def __init__(self, students: list[Student]):
        self.students = students
        self._exact: dict[str, list[Student]] = {}
        for student in students:
            keys = {student.student_id, student.email, student.sis_login_id, *student.aliases}
            keys |= {_EXTENSION.sub("", alias) for alias in student.aliases}
            for key in keys:
                if key:
                    self._exact.setdefault(key.lower(), []).append(student)

    def match(self, submission_id: str, assignment: str = "") -> Student | None:
        found = self._exact.get(submission_id.strip().lower()) or self._exact.get(
            _EXTENSION.sub("", submission_id.strip()).lower())
        if found:
            return found[0] if len(found) == 1 else None
        words, numbers = submission_key(submission_id, assignment)
        by_number = [s for s in self.students
                     if any(n in (s.student_id, s.lms_id) for n in numbers if len(n) >= 4)]
        if by_number:
            return by_number[0] if len(by_number) == 1 else None
        if not words:
            return None
        by_name = [s for s in self.students if s.name_words and _same_name(words, s.name_words)]
        return by_name[0] if len(by_name) == 1 else None


def _same_name(words: list[str], name: list[str]) -> bool:
    if sorted(words) == sorted(name):
        return True
    glued = "".join(words)
    return len(words) == 1 and glued in ("".join(name), "".join(reversed(name)))
