"""otter's OK format (doctest test files), run in the trusted grader.

An OK-format file defines ``OK_FORMAT = True`` and a ``test`` dict whose single doctest suite
holds the cases. Loading goes through otter's own ``OKTestFile`` (names, hidden-by-default,
points resolution, all-or-nothing as otter has them) and each case runs through otter's own
``run_doctest``, so the comparison of printed values is doctest's, exactly as in otter. The
grader runs the doctest against the same namespace as the exception-format cases: sandbox
proxies for the student's functions and plain-data copies of the other globals it names.
"""

from __future__ import annotations

import ast
import builtins
import doctest
from collections.abc import Callable, Mapping
from typing import Any

_BUILTINS = frozenset(dir(builtins))


def doctest_names(code: str) -> tuple[str, ...]:
    """The global names a doctest reads (those it does not assign first are the submission's),
    in order of appearance; builtins are left out."""
    names: dict[str, None] = {}
    assigned: set[str] = set()
    for example in doctest.DocTestParser().get_examples(code):
        try:
            tree = ast.parse(example.source)
        except SyntaxError:
            continue  # doctest reports it when the case runs
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Store):
                    assigned.add(node.id)
                elif node.id not in assigned and node.id not in _BUILTINS:
                    names.setdefault(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                assigned.update((a.asname or a.name).split(".")[0] for a in node.names)
    return tuple(names)


def doctest_runner(question: str, index: int, code: str, failure_message: str | None
                   ) -> Callable[[Mapping[str, Any]], tuple[bool, str]]:
    """The run function of one OK case: ``namespace -> (passed, message)``, otter's verdict."""
    from otter.test_files.ok_test import run_doctest

    from autograder.runner import Unavailable

    wanted = doctest_names(code)

    def run(namespace: Mapping[str, Any]) -> tuple[bool, str]:
        blocked = [v for n in wanted if isinstance(v := namespace.get(n), Unavailable)]
        if blocked:
            return False, "\n".join(b.message() for b in blocked)
        # otter runs every doctest in the notebook's one global environment, so a name one case
        # assigns is seen by the next: the same dict is used here (a plain dict of the grader's)
        env = namespace if isinstance(namespace, dict) else dict(namespace)
        try:
            passed, output = run_doctest(f"{question} {index}", code, env)
        except Exception as error:  # a doctest that cannot even be parsed
            return False, f"{type(error).__name__}: {error}"
        if passed:
            return True, "✅ Test case passed"
        head = f"{failure_message}\n" if failure_message else ""
        return False, f"{head}❌ Test case failed\n{output}"

    return run
