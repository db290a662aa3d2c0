"""Load otter-grader test files (both of otter's formats) into plain dataclasses.

The same files serve twice: otter runs them in the student's kernel for ``grader.check``, and the
trusted grader runs them here against sandbox proxies. Loading goes through otter's own
``ExceptionTestFile`` / ``OKTestFile`` so case names and point values resolve exactly as otter
resolves them, and discovery is otter's (every ``*.py`` of ``tests/``). A file otter could not
load is a :class:`TestFileError` naming the file and the problem.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TestFileError(ValueError):
    """A test file otter could not load; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Case:
    """One test case of a question."""

    name: str
    points: float
    hidden: bool
    func: Callable[..., None]
    failure_message: str | None = None
    success_message: str | None = None
    #: The question's name (otter's "in test <name>" of a failure message).
    question: str = ""
    #: OK format: runs the case's doctest against a namespace (``func`` is then unused).
    run: Callable[[Mapping[str, Any]], tuple[bool, str]] | None = None
    #: OK format: the globals the doctest reads.
    doctest_params: tuple[str, ...] | None = None

    @property
    def params(self) -> tuple[str, ...]:
        """The student globals the case asks for, in signature order."""
        if self.doctest_params is not None:
            return self.doctest_params
        return _parameters(self.func)


@functools.lru_cache(maxsize=4096)
def _parameters(func: Callable[..., None]) -> tuple[str, ...]:
    # asked three times per case per submission; inspect.signature is not cheap
    return tuple(inspect.signature(func).parameters)


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

    @functools.cached_property
    def source_lines(self) -> list[str]:
        """The test file's lines (otter quotes the failing one)."""
        try:
            return self.path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            return []

    @property
    def public_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if not case.hidden)

    @property
    def hidden_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if case.hidden)


def _no_test(namespace: Mapping[str, Any]) -> None:
    return None


def _load_ok(path: Path) -> Question:
    from otter.test_files.ok_test import OKTestFile

    from autograder.ok_format import doctest_names, doctest_runner

    parsed = OKTestFile.from_file(str(path))
    cases = tuple(
        Case(
            name=tc.name,
            points=float(tc.points or 0.0),
            hidden=bool(tc.hidden),
            func=_no_test,
            failure_message=tc.failure_message,
            success_message=tc.success_message,
            question=parsed.name,
            run=doctest_runner(parsed.name, i, tc.body, tc.failure_message),
            doctest_params=doctest_names(tc.body),
        )
        for i, tc in enumerate(parsed.test_cases)
    )
    return Question(
        name=parsed.name, path=path, cases=cases, all_or_nothing=bool(parsed.all_or_nothing)
    )


def _load_exception(path: Path) -> Question:
    """Otter's own loader (``loader="otter"``; imports otter-grader: about 1.3 s)."""
    from otter.test_files.exception_test import ExceptionTestFile

    parsed = ExceptionTestFile.from_file(str(path))
    return _question(path, parsed.name, parsed.test_cases, parsed.all_or_nothing)


def _question(path: Path, name: Any, test_cases: list, all_or_nothing: Any) -> Question:
    cases = tuple(
        Case(
            name=tc.name,
            points=float(tc.points or 0.0),
            hidden=bool(tc.hidden),
            func=tc.body.test_func,
            failure_message=tc.failure_message,
            success_message=tc.success_message,
            question=name,
        )
        for tc in test_cases
    )
    return Question(name=name, path=path, cases=cases, all_or_nothing=bool(all_or_nothing))


def _exec_test_file(path: Path) -> dict[str, Any]:
    """The test file's globals, executed once with ``test_case`` (from ``autograder.checks`` or
    ``otter.test_files``) resolved to :class:`lightcases.test_case`, so otter is not imported."""
    from autograder.lightcases import exec_globals

    env = exec_globals()
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), env)
    return env


def _format_of(path: Path, env: dict[str, Any]) -> str:
    """"ok" or "exception", decided as otter decides it (the file's ``OK_FORMAT`` global). A file
    without ``OK_FORMAT`` (otter refuses it) is read by what it defines: a ``test`` dict is an
    OK-format file."""
    if "OK_FORMAT" in env:
        return "ok" if env["OK_FORMAT"] else "exception"
    if isinstance(env.get("test"), dict):
        return "ok"
    if "name" not in env:
        raise TestFileError(
            f"{path}: not an otter test file: it defines neither OK_FORMAT, nor `test` (a dict: "
            "OK format), nor `name` with @test_case functions (exception format)"
        )
    return "exception"


def load_question(path: str | Path, *, loader: str = "light") -> Question:
    """Load one otter test file (``tests/*.py``), in either of otter's formats.

    Exception-format files are read by ``lightcases`` (otter's semantics, without importing
    otter: a grading worker starts 1.3 s sooner; ``tests/test_light_loader.py`` holds it to
    otter's results); ``loader="otter"`` uses otter's ``ExceptionTestFile`` itself."""
    from autograder.lightcases import from_globals

    path = Path(path)
    kind = None
    try:
        env = _exec_test_file(path)
        kind = _format_of(path, env)
        if kind == "ok":
            question = _load_ok(path)
        elif loader == "otter":
            question = _load_exception(path)
        else:
            question = _question(path, *from_globals(env, str(path)))
    except TestFileError:
        raise
    except AssertionError as error:
        if kind == "exception":  # otter asserts each case's point type
            first = str(error).split("\n")[0]  # (pytest rewrites otter's assert: more lines)
            raise TestFileError(f"{path}: a test case's points must be an int or a float "
                                f"({first})") from None
        # otter's OK loader asserts what it supports
        raise TestFileError(
            f"{path}: not an OK-format test otter supports (a `name`, one doctest suite with "
            f"`cases`, no setup/teardown){': ' + str(error) if str(error) else ''}"
        ) from None
    except SyntaxError as error:
        raise TestFileError(f"{path}: syntax error at line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise TestFileError(f"{path}: {type(error).__name__}: {error}") from None
    if not question.cases:
        raise TestFileError(f"{path}: defines no test case (question {question.name!r})")
    return question


def _natural_key(path: Path) -> list[object]:
    # q2 sorts before q10.
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.stem)]


def question_files(tests_dir: str | Path) -> list[Path]:
    """The test files of one assignment as otter finds them (every ``*.py``; ``__init__.py``
    and other dunder files are no tests), in natural order (q1, q2, ..., q10)."""
    files = (p for p in Path(tests_dir).glob("*.py") if not p.name.startswith("__"))
    return sorted(files, key=_natural_key)


def load_questions(tests_dir: str | Path) -> list[Question]:
    """Load every test file of an assignment's ``tests/`` folder."""
    return [load_question(path) for path in question_files(tests_dir)]
