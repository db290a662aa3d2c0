"""Otter's exception-format test files, loaded without importing otter-grader.

``import otter`` costs a grading worker about 1.3 s of start-up (otter's package imports pandas,
nbconvert and more) only to read ``name``, ``points`` and the ``@test_case`` functions of a few
files. This module executes a test file once with ``test_case`` resolved to a light class of
the same shape, then resolves names and points with a copy of otter's own rules
(``otter/test_files/exception_test.py`` ``_from_compiled_code`` and ``abstract_test.py``
``resolve_test_file_points``, otter-grader 7). ``tests/test_light_loader.py`` compares it with
otter's ``ExceptionTestFile`` on every assignment's tests and on files made for each rule.

Only the loading is replaced: in Jupyter the files still import ``autograder.checks.test_case``
(otter's subclass) and otter runs them. The grader calls ``Case.func`` itself, so the light
class needs no ``call_func``.
"""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass, replace
from typing import Any

#: Modules whose ``test_case`` a test file imports with ``from ... import test_case``.
_DECORATOR_MODULES = ("autograder.checks", "otter.test_files")


class InvalidPointType(AssertionError):
    """A case's points are neither an int nor a float (otter asserts this: an AssertionError)."""


class test_case:  # noqa: N801 - otter's name and signature
    """Holds a case's metadata and function, as ``otter.test_files.test_case`` does."""

    def __init__(self, name=None, points=None, hidden=False, success_message=None,
                 failure_message=None):
        self.name = name
        self.points = points
        self.hidden = hidden
        self.success_message = success_message
        self.failure_message = failure_message
        self.test_func = lambda: None

    def __call__(self, test_func):
        self.test_func = test_func
        return self


@dataclass
class TestCase:
    """otter's ``TestCase`` fields (``body`` is the decorator object)."""

    name: Any
    body: Any
    hidden: Any
    points: Any
    success_message: Any
    failure_message: Any


class _View:
    """A module as ``from <module> import ...`` sees it, with ``test_case`` the light one; any
    other name comes from the real module, imported only when asked for (so ``otter`` is never
    imported for ``from otter.test_files import test_case``)."""

    def __init__(self, name: str):
        self.__name = name

    def __getattr__(self, attr: str) -> Any:
        if attr == "test_case":
            return test_case
        module = sys.modules.get(self.__name) or builtins.__import__(self.__name, fromlist=["*"])
        return getattr(module, attr)


def _import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 - __import__'s
    if level == 0 and name in _DECORATOR_MODULES and fromlist and "test_case" in fromlist:
        if name == "autograder.checks":
            builtins.__import__(name)  # the real package is light (numpy only)
        return _View(name)
    return builtins.__import__(name, globals, locals, fromlist, level)


def exec_globals() -> dict[str, Any]:
    """Fresh globals for executing one test file (otter executes it in ``{}``)."""
    return {"__builtins__": {**builtins.__dict__, "__import__": _import}}


def _is_case(value: Any) -> bool:
    if isinstance(value, test_case):
        return True
    # a file that imported otter's own decorator some other way (``import otter.test_files``)
    otter_files = sys.modules.get("otter.test_files")
    return otter_files is not None and isinstance(value, otter_files.test_case)


def from_globals(env: dict[str, Any], path: str) -> tuple[Any, list[TestCase], Any]:
    """(name, resolved cases, all_or_nothing) of an executed test file, as otter's
    ``ExceptionTestFile._from_compiled_code`` finds them (same errors and messages)."""
    if "name" not in env:
        raise ValueError(f"Test file {path} does not define 'name'")
    name = env["name"]
    points = env.get("points", None)
    all_or_nothing = env.get("all_or_nothing", False)
    cases: list[TestCase] = []
    for value in list(env.values()):
        if _is_case(value):
            if value.name is None:  # otter names it on the object (a case bound twice keeps it)
                value.name = f"{name} - {len(cases) + 1}"
            cases.append(TestCase(name=value.name, body=value, hidden=value.hidden,
                                  points=value.points, success_message=value.success_message,
                                  failure_message=value.failure_message))
    return name, resolve_points(points, cases), all_or_nothing


def resolve_points(total_points: Any, cases: list[TestCase]) -> list[TestCase]:
    """otter's ``TestFile.resolve_test_file_points``: a list gives each case its points; a
    total is shared among the cases without points; with neither, a question whose cases give
    no (or only zero) points is worth 1, shared among the cases without points."""
    if isinstance(total_points, list):
        if len(total_points) != len(cases):
            raise ValueError(
                "Points specified in test has different length than number of test cases")
        cases = [replace(tc, points=pt) for tc, pt in zip(cases, total_points)]
        total_points = None
    elif total_points is not None and not isinstance(total_points, (int, float)):
        raise TypeError(f"Test spec points has invalid type: {type(total_points)}")

    point_values = []
    for case in cases:
        if case.points is not None:
            if type(case.points) not in (int, float):  # exact types, as otter's assert
                raise InvalidPointType(f"Invalid point type: {type(case.points)}")
            point_values.append(case.points)
        else:
            point_values.append(None)

    pre_specified = sum(p for p in point_values if p is not None)
    if total_points is not None:
        if pre_specified > total_points:
            raise ValueError("More points specified in test cases than allowed for test")
        try:
            per_remaining = (total_points - pre_specified) / sum(
                1 for p in point_values if p is None)
        except ZeroDivisionError:
            per_remaining = 0.0
    elif pre_specified == 0 and all(p in (0, None) for p in point_values):
        try:
            per_remaining = 1 / sum(p is None for p in point_values)
        except ZeroDivisionError:
            per_remaining = 0.0
    else:
        per_remaining = 0.0

    point_values = [p if p is not None else per_remaining for p in point_values]
    return [replace(tc, points=p) for tc, p in zip(cases, point_values)]
