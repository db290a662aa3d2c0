"""Run one question's test cases against a namespace and record what happened.

The namespace maps the names a case asks for to objects: the reference solutions (at build time),
the student's own functions (in Jupyter, through otter), or sandbox proxies (batch grading).
Running and reporting are separate: every case becomes a ``CaseResult`` record that reporters only
read, and all point arithmetic lives in ``score_question``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autograder.testfiles import Case, Question

MAX_MESSAGE_CHARS = 3000


@dataclass(frozen=True)
class CaseResult:
    question: str
    case: str
    hidden: bool
    passed: bool
    points: float
    message: str
    duration_s: float


@dataclass(frozen=True)
class QuestionResult:
    name: str
    cases: tuple[CaseResult, ...]
    score: float
    max_score: float
    all_or_nothing: bool = False

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases)


def _truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    # Student-controlled text (exception messages) must never flood a report.
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f"\n... [{len(text) - limit + 40} more characters cut]"


def _missing_name_message(name: str) -> str:
    return (
        f"`{name}` is not defined in the submission: did you rename or delete it, "
        "or did the cell that defines it fail?"
    )


def _describe_failure(case: Case, error: BaseException) -> str:
    lines = []
    if case.failure_message:
        lines.append(case.failure_message)
    text = str(error).strip()
    if isinstance(error, AssertionError):
        lines.append(f"AssertionError: {text}" if text else "AssertionError")
    else:
        # Anything but an assertion is reported with its type and the line of the test that
        # raised it, which is what a student needs to locate the call that went wrong.
        where = traceback.extract_tb(error.__traceback__)
        test_frames = [frame for frame in where if frame.name == case.func.__name__]
        if test_frames:
            lines.append(f"while running: {test_frames[-1].line}")
        lines.append(f"{type(error).__name__}: {text}")
    return _truncate("\n".join(lines))


def run_case(question: Question, case: Case, namespace: Mapping[str, Any]) -> CaseResult:
    """Run one case; any exception (including the sandbox's) is a failed case, never a crash."""
    started = time.perf_counter()
    missing = [name for name in case.params if name != "env" and name not in namespace]
    if missing:
        message = "\n".join(_missing_name_message(name) for name in missing)
        passed = False
    else:
        kwargs = {
            name: (namespace if name == "env" else namespace[name]) for name in case.params
        }
        try:
            case.func(**kwargs)
        except Exception as error:  # a failing or crashing check is this case's outcome
            passed, message = False, _describe_failure(case, error)
        else:
            passed, message = True, case.success_message or "passed"
    return CaseResult(
        question=question.name,
        case=case.name,
        hidden=case.hidden,
        passed=passed,
        points=case.points,
        message=message,
        duration_s=time.perf_counter() - started,
    )


def score_question(question: Question, results: tuple[CaseResult, ...]) -> QuestionResult:
    """The one place where points are added up (otter's rules, all-or-nothing included)."""
    possible = sum(case.points for case in question.cases)
    earned = sum(result.points for result in results if result.passed)
    if question.all_or_nothing:
        earned = possible if all(result.passed for result in results) else 0.0
    return QuestionResult(
        name=question.name,
        cases=results,
        score=float(earned),
        max_score=float(possible),
        all_or_nothing=question.all_or_nothing,
    )


def run_question(
    question: Question, namespace: Mapping[str, Any], *, include_hidden: bool = True
) -> QuestionResult:
    """Run every case of a question (public only when ``include_hidden`` is false)."""
    cases = question.cases if include_hidden else question.public_cases
    results = tuple(run_case(question, case, namespace) for case in cases)
    if not include_hidden:
        question = Question(question.name, question.path, cases, question.all_or_nothing)
    return score_question(question, results)
