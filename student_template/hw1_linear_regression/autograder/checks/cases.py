"""``test_case``: otter's exception-format decorator, with the assignment's import policy.

A drop-in subclass of ``otter.test_files.test_case`` (same arguments, same loading by otter's
``ExceptionTestFile``). When otter runs a case in the student's kernel (``grader.check``), every
student function the case receives is analysed first (:func:`import_policy.analyze_function`);
one that uses a refused module fails the case with the message the batch grader gives for the
same notebook. The batch grader calls the case's function itself, with sandbox proxies: it has
applied the policy to the notebook's source before, so nothing here runs there.
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
        self._policy_path = str(
            Path(sys._getframe(1).f_code.co_filename).resolve().parent.parent / POLICY_FILE)
        return super().__call__(test_func)

    def call_func(self, global_environment: dict) -> None:
        # as otter's own call_func (a missing name is None, ``env`` is the environment); the
        # test function is called from this frame, so otter's "Error at line N" (it reads the
        # line of the third traceback frame) still points into the test file
        kwargs = {arg: (global_environment if arg == "env" else global_environment.get(arg))
                  for arg in self._get_func_params()}
        problem = policy_problem(kwargs, _policy(getattr(self, "_policy_path", "")))
        if problem is not None:
            # raised by code compiled at the test function's first line, in this frame's
            # place: otter's message then shows the case's own ``def`` line
            code = self.test_func.__code__
            exec(compile("\n" * (code.co_firstlineno - 1) + "raise __refusal__",
                         code.co_filename, "exec"), {"__refusal__": AssertionError(problem)})
        self.test_func(**kwargs)


def policy_problem(arguments: dict, policy: ImportPolicy) -> str | None:
    """The message for the first student function among ``arguments`` the policy refuses."""
    for name, value in arguments.items():
        if isinstance(value, types.FunctionType):
            message = problem_message(name, analyze_function(value, policy))
            if message is not None:
                return message
    return None


@functools.lru_cache(maxsize=16)
def _policy(path: str) -> ImportPolicy:
    return load_policy(path or None)
