"""Late penalties from a CSV of submission times, due dates and extensions (``--late``).

One CSV, two kinds of rows (header names case-insensitive; times ISO 8601, ``2026-10-01 23:59``
or with ``T``, an offset or ``Z``; a time without an offset is UTC):

- an **assignment rule**: ``student`` empty; ``due_at`` the deadline, and either
  ``penalty_per_day`` (percentage points of the assignment taken per started day late) with
  an optional cap ``max_penalty`` (percentage points), or ``zero_after`` (a time after which
  the submission scores zero), or both;
- a **student row**: ``student`` (a roster ``student_id``, or the submission's id when there is
  no roster), ``submitted_at`` (when the LMS received it) and/or ``extension_days`` (days, may
  be fractional, added to this student's ``due_at`` and ``zero_after`` for that assignment).

A student without a ``submitted_at`` row is not late. Penalties apply to the assignment's
percentage, which never goes below zero: 85 % one day late at 10 points a day is 75 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autograder.report.roster import RosterError, read_csv_rows


@dataclass
class Rule:
    due_at: datetime | None = None
    penalty_per_day: float = 0.0
    max_penalty: float | None = None
    zero_after: datetime | None = None


@dataclass
class LatePolicy:
    rules: dict[str, Rule] = field(default_factory=dict)
    submitted: dict[tuple[str, str], datetime] = field(default_factory=dict)
    extensions: dict[tuple[str, str], float] = field(default_factory=dict)

    def penalty(self, assignment: str, student: str, percent: float) -> tuple[float, str]:
        """(percentage after the penalty, a note such as "2 days late: -20"; "" if on time)."""
        rule = self.rules.get(assignment)
        when = self.submitted.get((assignment, student))
        if rule is None or when is None or rule.due_at is None and rule.zero_after is None:
            return percent, ""
        extra = timedelta(days=self.extensions.get((assignment, student), 0.0))
        if rule.zero_after is not None and when > rule.zero_after + extra:
            return 0.0, "late after the last accepted time: 0"
        if rule.due_at is None or when <= rule.due_at + extra:
            return percent, ""
        days = math.ceil((when - rule.due_at - extra) / timedelta(days=1))
        taken = rule.penalty_per_day * days
        if rule.max_penalty is not None:
            taken = min(taken, rule.max_penalty)
        after = max(0.0, percent - taken)
        plural = "s" if days != 1 else ""
        return after, f"{days} day{plural} late: -{_short(percent - after)}"


def _short(value: float) -> str:
    value = round(value, 2)
    return str(int(value)) if value == int(value) else str(value)


def parse_time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RosterError(f"{where}: {text!r} is not a time (ISO 8601, e.g. 2026-10-01 23:59)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RosterError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise RosterError(f"{where}: {text!r} must be a finite number >= 0")
    return value


def read_late(path: str | Path) -> LatePolicy:
    policy = LatePolicy()
    for line, row in enumerate(read_csv_rows(path, ("assignment", "student")), start=2):
        where = f"{path}, line {line}"
        assignment, student = row["assignment"], row["student"]
        if not assignment:
            raise RosterError(f"{where}: empty assignment")
        if not student:
            if assignment in policy.rules:
                raise RosterError(f"{where}: a second rule for {assignment}")
            rule = Rule()
            if row.get("due_at"):
                rule.due_at = parse_time(row["due_at"], where)
            if row.get("zero_after"):
                rule.zero_after = parse_time(row["zero_after"], where)
            if row.get("penalty_per_day"):
                rule.penalty_per_day = _number(row["penalty_per_day"], where)
            if row.get("max_penalty"):
                rule.max_penalty = _number(row["max_penalty"], where)
            if rule.due_at is None and rule.zero_after is None:
                raise RosterError(f"{where}: a rule for {assignment} needs due_at or zero_after")
            policy.rules[assignment] = rule
            continue
        if row.get("submitted_at"):
            policy.submitted[(assignment, student)] = parse_time(row["submitted_at"], where)
        if row.get("extension_days"):
            policy.extensions[(assignment, student)] = _number(row["extension_days"], where)
    return policy
