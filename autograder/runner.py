"""Run one question's test cases against a namespace and record what happened.

The namespace maps the names a case asks for to objects: the reference solutions (at build time),
the student's own functions (in Jupyter, through otter), or sandbox proxies (batch grading).
Running and reporting are separate: every case becomes a ``CaseResult`` record that reporters only
read, and all point arithmetic lives in ``score_question``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import linecache
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autograder.checks import attachments as checks_attachments
from autograder.checks import mistakes as checks_mistakes
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
    #: What the checks attached while the case ran (``checks.attachments``: curves, error maps,
    #: arrays as plain JSON data), drawn by the feedback pages.
    attachments: tuple = ()


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


@dataclass(frozen=True)
class Unavailable:
    """A global the submission defines but that cannot be given to a test (a class, an
    instance, a generator, a module the policy does not allow): the case fails with ``why``."""

    name: str
    why: str

    def message(self) -> str:
        return f"`{self.name}` cannot be given to the test: {self.why}"


def _failing_line(case: Case, error: BaseException, source: list[str] | None) -> str | None:
    """otter's "Error at line N in test <question>:" and that line of the test file: the
    innermost traceback frame that runs the test file (an assert in a helper of the file too)."""
    code = getattr(case.func, "__code__", None)
    if code is None:
        return None
    # walk_tb, not extract_tb: the frames' line numbers are all this needs, and extracting
    # every frame with its source positions cost about a quarter of a millisecond per case
    linenos = [lineno for frame, lineno in traceback.walk_tb(error.__traceback__)
               if frame.f_code.co_filename == code.co_filename and lineno]
    if not linenos:
        return None
    lineno = linenos[-1]
    line = (source[lineno - 1] if source and lineno <= len(source)
            else linecache.getline(code.co_filename, lineno)).strip()
    return f"Error at line {lineno} in test {case.question or case.name}:\n  {line}"


def _describe_failure(case: Case, error: BaseException, source: list[str] | None = None) -> str:
    lines = []
    if case.failure_message:
        lines.append(case.failure_message)
    where = _failing_line(case, error, source)
    if where:
        lines.append(where)
    text = str(error).strip()
    if isinstance(error, AssertionError):
        lines.append(f"AssertionError: {text}" if text else "AssertionError")
    else:
        lines.append(f"{type(error).__name__}: {text}")
    return _truncate("\n".join(lines))


def run_case(question: Question, case: Case, namespace: Mapping[str, Any]) -> CaseResult:
    """Run one case; any exception (including the sandbox's) is a failed case, never a crash.

    As otter's ``call_func``: ``env`` is the namespace itself and a name the namespace does not
    hold is ``None`` (a failure then also says the name is missing). An :class:`Unavailable`
    value fails the case without running it, naming the global and why."""
    # each case in a copy of the context (contextvars, NumPy's error state) and with the
    # warnings filters it found: what one case leaves set does not reach the next, nor the
    # next submission, whether the cases run in turn or ahead (grade/lookahead.py)
    with warnings.catch_warnings():
        result, attached = contextvars.copy_context().run(_collected, question, case, namespace)
    if not attached:
        return result
    return dataclasses.replace(result, attachments=tuple(attached))


def _collected(question: Question, case: Case, namespace: Mapping[str, Any]):
    with checks_attachments.collecting() as attached, checks_mistakes.forgotten_after():
        return _run_case(question, case, namespace), attached


def _run_case(question: Question, case: Case, namespace: Mapping[str, Any]) -> CaseResult:
    started = time.perf_counter()
    params = [name for name in case.params if name != "env"]
    unavailable = [namespace[n] for n in params if isinstance(namespace.get(n), Unavailable)]
    missing = [name for name in params if name not in namespace]
    if case.run is not None:
        # an OK-format case runs its doctest itself, against the whole namespace
        passed, message = case.run(namespace)
    elif unavailable:
        passed = False
        message = _truncate("\n".join(u.message() for u in unavailable))
    else:
        kwargs = {
            name: (namespace if name == "env" else namespace.get(name)) for name in case.params
        }
        try:
            case.func(**kwargs)
        except Exception as error:  # a failing or crashing check is this case's outcome
            passed = False
            message = _describe_failure(case, error, question.source_lines)
            notes = [_missing_name_message(name) for name in missing]
            if isinstance(error, TypeError) and "not callable" in str(error):
                # a value where the test expected a function (otter passes it the same way)
                notes += [f"`{name}` is a {type(kwargs[name]).__name__} in the submission, "
                          "not a function" for name in params
                          if kwargs[name] is not None and not callable(kwargs[name])]
            if notes:
                message = _truncate("\n".join([*notes, message]))
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
