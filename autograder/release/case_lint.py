"""Checks of a case that can never fail, found in its source (verify's static row).

The kill matrix judges a case as a whole: a case whose ``assert_close`` was cut off by a
``return`` still kills the mutants that an earlier check of it (``assert_no_mutation``) catches,
so it is not dead, yet the check a TA meant it to make is gone. Two slips are certain from the
source alone, whatever the mutants: statements after a ``return`` (never run), and a comparison
of a value with itself (``assert_close(expected, expected)``: always passes).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterator

from autograder.testfiles import Question

#: Statement fields that hold a block of statements (if/for/while/with/try bodies).
_BLOCKS = ("body", "orelse", "finalbody")


def _blocks(node: ast.AST) -> Iterator[list[ast.stmt]]:
    for name in _BLOCKS:
        block = getattr(node, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(node, "handlers", []) or []:
        yield handler.body


def _after_return(func: ast.FunctionDef) -> Iterator[tuple[int, int]]:
    """(line of the return, line of the first statement after it) in any block of ``func``,
    nested functions (a step callback's own ``return``) aside."""
    todo: list[ast.AST] = [func]
    while todo:
        node = todo.pop()
        for block in _blocks(node):
            for i, stmt in enumerate(block):
                if isinstance(stmt, ast.Return) and i + 1 < len(block):
                    yield stmt.lineno, block[i + 1].lineno
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    todo.append(stmt)


def _self_comparisons(func: ast.FunctionDef) -> Iterator[tuple[int, str]]:
    """(line, call) of every ``assert_*(a, a, ...)`` and ``assert a == a``."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            if name.startswith("assert_") and ast.dump(node.args[0]) == ast.dump(node.args[1]):
                yield node.lineno, f"{name}({ast.unparse(node.args[0])}, " \
                                   f"{ast.unparse(node.args[1])}, ...)"
        elif isinstance(node, ast.Compare) and len(node.comparators) == 1 and isinstance(
                node.ops[0], (ast.Eq, ast.Is)) and ast.dump(node.left) == ast.dump(
                node.comparators[0]):
            yield node.lineno, ast.unparse(node)


def never_failing_checks(questions: list[Question]) -> list[str]:
    """One line per slip: ``q2/<case> (tests/q2.py line N): ...``."""
    problems = []
    for question in questions:
        for case in question.cases:
            try:
                lines, first = inspect.getsourcelines(case.func)
            except (OSError, TypeError):
                continue
            tree = ast.parse(textwrap.dedent("".join(lines)))
            func = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
            if func is None:
                continue
            where = f"{question.name}/{case.name} ({question.path.parent.name}/" \
                    f"{question.path.name} line "
            offset = first - 1
            for ret, nxt in _after_return(func):
                problems.append(f"{where}{ret + offset}): `return` before line {nxt + offset}, "
                                "which never runs (fix: delete the `return`)")
            for line, call in _self_comparisons(func):
                problems.append(f"{where}{line + offset}): {call} compares a value with itself "
                                "(fix: compare the student's result with it)")
    return problems
