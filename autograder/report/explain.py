"""What a stored result means, in words a person reads in grades.csv and on the pages.

The store keeps machine statuses (``graded``, ``timeout``, ``memory``, ``sandbox_died``...) and
every case's full message. A gradebook reader needs less and plainer: per question, the first
case that failed and the first line of what it said; whether the printed output was cut; and,
for a process that died in a cell that was then dropped, that this cost no points by itself
(the cases ran against what the other cells define), e.g. ``graded; code cell 7 dropped:
memory limit``.
"""

from __future__ import annotations

import re

#: Statuses the worker sets when the sandbox killed the process (see ``grade/worker.py``).
SANDBOX_STATUSES = {"timeout": "time limit", "memory": "memory limit",
                    "sandbox_died": "the process died"}

_DROPPED = re.compile(r"code cell (\d+); graded again without that cell")
# a MemoryError the cell raised itself: the process lived on, the cell stopped there
_STOPPED = re.compile(r"code cell (\d+) raised MemoryError")
_OTTER_LINE = re.compile(r"^Error at line \d+ in test ")
_CUT_MARKS = ("\n[output truncated: ", "more characters cut]")


def first_line(message: str) -> str:
    """The first line that says something: otter's "Error at line N in test qK:" and the test
    line it quotes are where, not what, and are skipped."""
    lines = [line.strip() for line in str(message or "").splitlines()]
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            continue
        if _OTTER_LINE.match(line):
            skip_next = True
            continue
        if line:
            return line
    return ""


def first_failures(cases: list[dict]) -> list[str]:
    """Per question with a failed case: ``"q2: <case name>: <first line of its message>"``."""
    seen: dict[str, str] = {}
    for case in cases:
        question = case["question"]
        if case["passed"] or question in seen:
            continue
        seen[question] = f"{question}: {case['name']}: {first_line(case['message'])}"
    return list(seen.values())


def output_was_cut(submission: dict) -> bool:
    return any(mark in str(submission.get("output") or "") for mark in _CUT_MARKS)


def costs_no_points(submission: dict) -> bool:
    """A sandbox status that came from the cells, not from a test: a cell was dropped (the
    process died running it) or stopped by a MemoryError, and no test was running when the
    process died (a death during a test fails that test: then the status stays as it is)."""
    message = str(submission.get("message") or "")
    from_cells = bool(_DROPPED.search(message)) or (
        submission.get("status") == "memory" and bool(_STOPPED.search(message)))
    return (submission.get("status") in SANDBOX_STATUSES and from_cells
            and " during test " not in message)


def status_text(submission: dict) -> str:
    """The status as a person reads it: ``graded; code cell 7 dropped: memory limit`` for a
    dropped cell (``stopped`` for a cell whose MemoryError ended it), the stored status
    otherwise."""
    status = str(submission.get("status") or "")
    if not costs_no_points(submission):
        return status
    message = str(submission.get("message") or "")
    parts = [f"code cell {n} dropped" for n in sorted({int(n) for n in _DROPPED.findall(message)})]
    if status == "memory":
        parts += [f"code cell {n} stopped" for n in sorted({int(n) for n in _STOPPED.findall(message)})]
    return f"graded; {', '.join(parts)}: {SANDBOX_STATUSES[status]}"


def message_text(submission: dict, cases: list[dict]) -> str:
    """The grader's notes on the submission, then what went wrong first per question, then
    whether its printed output was cut."""
    parts = [str(submission.get("message") or "").strip()]
    parts += first_failures(cases)
    if output_was_cut(submission):
        parts.append("printed output cut (too long to keep whole); the grade does not depend on it")
    return "; ".join(part for part in parts if part)
