"""``test_case``: otter's exception-format decorator, with the assignment's import policy.

A drop-in subclass of ``otter.test_files.test_case`` (same arguments, same loading by otter's
``ExceptionTestFile``). Before a case runs in the student's kernel (``grader.check``), every
student function it receives is analysed (:func:`import_policy.analyze_function`); one that uses
a refused module fails the case with the message the batch grader gives for the same notebook.
In the batch grader the case receives sandbox proxies, not functions: the grader applies the
policy to the notebook's source before it runs the case, so the check here does nothing there.
"""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path

from otter.test_files import test_case as _otter_test_case

from .import_policy import POLICY_FILE, ImportPolicy, analyze_function, load_policy, problem_message

__all__ = ["test_case", "policy_problem"]


class test_case(_otter_test_case):  # noqa: N801 - otter's name, so test files read the same
    def __call__(self, test_func):
        test_file = sys._getframe(1).f_code.co_filename
        policy_path = Path(test_file).resolve().parent.parent / POLICY_FILE

        @functools.wraps(test_func)
        def checked(*args, **kwargs):
            problem = policy_problem(kwargs, load_policy_cached(str(policy_path)))
            if problem is not None:
                raise AssertionError(problem)
            return test_func(*args, **kwargs)

        return super().__call__(checked)


def policy_problem(arguments: dict, policy: ImportPolicy) -> str | None:
    """The message for the first student function among ``arguments`` the policy refuses."""
    for name, value in arguments.items():
        if isinstance(value, types.FunctionType):
            message = problem_message(name, analyze_function(value, policy))
            if message is not None:
                return message
    return None


@functools.lru_cache(maxsize=16)
def load_policy_cached(path: str) -> ImportPolicy:
    return load_policy(path)
