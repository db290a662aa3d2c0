"""The per-submission grading budget: ``run_wall_s + call_wall_s * number of cases`` from the
start of a grading; once it is spent no call of the student's code starts (see worker.py)."""

from __future__ import annotations

import time
from typing import Any


class Budget:
    """The time a submission's tests may spend calling into it, from its start."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() > self.deadline

    @property
    def spent_message(self) -> str:
        return f"grading time budget of {self.seconds:.0f} s for this submission is spent"


class BudgetedProxy:
    """A proxy that refuses to start a call once the submission's time budget is spent."""

    def __init__(self, proxy: Any, budget: Budget, timeout_error: type[BaseException]):
        self._proxy = proxy
        self._budget = budget
        self._timeout_error = timeout_error

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check_budget()
        return self._proxy(*args, **kwargs)

    def run_loop(self, *args: Any) -> Any:  # a StepCall loop run in the sandbox: one call
        self._check_budget()
        return self._proxy.run_loop(*args)

    def call_batch(self, entries: list) -> Any:  # independent calls (and loops) in one request
        self._check_budget()
        # checked again before each entry of the request starts, as for calls made one by one;
        # a loop entry (loop_entry, below) already holds the proxy itself
        return self._proxy.call_batch(
            [(getattr(e[0], "_proxy", e[0]), e[1], e[2]) if isinstance(e, tuple) else e
             for e in entries],
            budget=(self._budget.deadline, self._spent_message()))

    def _spent_message(self) -> str:
        return self._budget.spent_message

    def _check_budget(self) -> None:
        if self._budget.spent:
            raise self._timeout_error(self._spent_message())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proxy, name)
