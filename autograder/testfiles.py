"""Load otter-grader exception-format test files into plain dataclasses.

The same files serve twice: otter runs them in the student's kernel for ``grader.check``, and the
trusted grader runs them here against sandbox proxies. Loading goes through otter's own
``ExceptionTestFile`` so case names and point values resolve exactly as otter resolves them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One test case of a question."""

    name: str
    points: float
    hidden: bool
    func: Callable[..., None]
    failure_message: str | None = None
    success_message: str | None = None

    @property
    def params(self) -> tuple[str, ...]:
        """The student globals the case asks for, in signature order."""
        return tuple(inspect.signature(self.func).parameters)


@dataclass(frozen=True)
class Question:
    """One test file: a question, its cases and their points."""

    name: str
    path: Path
    cases: tuple[Case, ...]
    all_or_nothing: bool = False

    @property
    def points(self) -> float:
        return float(sum(case.points for case in self.cases))

    @property
    def public_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if not case.hidden)

    @property
    def hidden_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if case.hidden)


def load_question(path: str | Path) -> Question:
    """Load one otter exception-format test file (``tests/qN.py``)."""
    from otter.test_files.exception_test import ExceptionTestFile

    path = Path(path)
    parsed = ExceptionTestFile.from_file(str(path))
    cases = tuple(
        Case(
            name=tc.name,
            points=float(tc.points or 0.0),
            hidden=bool(tc.hidden),
            func=tc.body.test_func,
            failure_message=tc.failure_message,
            success_message=tc.success_message,
        )
        for tc in parsed.test_cases
    )
    return Question(
        name=parsed.name, path=path, cases=cases, all_or_nothing=bool(parsed.all_or_nothing)
    )


def _natural_key(path: Path) -> list[object]:
    # q2 sorts before q10.
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.stem)]


def question_files(tests_dir: str | Path) -> list[Path]:
    """The test files of one assignment, in natural order (q1, q2, ..., q10)."""
    return sorted(Path(tests_dir).glob("q*.py"), key=_natural_key)


def load_questions(tests_dir: str | Path) -> list[Question]:
    """Load every ``q*.py`` test file of an assignment's ``tests/`` folder."""
    return [load_question(path) for path in question_files(tests_dir)]
