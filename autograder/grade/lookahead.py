"""The cases of a submission, their first requests of the sandbox sent together.

Every case of the bundled assignments makes one request of the sandbox (a call, a
``call_each`` batch or a step loop), in the middle of its own code: the test prepares its
inputs, asks, then judges the answer against the reference. Made one case at a time, that is
one round trip per case, and each round trip has a fixed price on both sides (about 0.1-0.2 ms)
that is most of what a batch of calls saves.

So the worker runs the cases ahead: each case runs in a greenlet of its own (the same thread,
one at a time) until its first request, which is parked; the next case then runs to its own,
and so on. The parked requests cross as one (``sandbox/merged.py``); then each case resumes,
in order, with exactly what its request would have given alone, and finishes. The student's
calls run in the order they run one case at a time, as long as each case makes at most one
request; a case's later requests are made when it resumes (after the later cases' first ones),
which is the same as long as the functions are what the contract asks: pure functions of their
inputs (``call_each``'s assumption, across cases).

What stays exactly as before:
- every verdict is the grader's: the same encoding, limits, observation and judging per call;
- each case's code runs once (its beginning again only when it was put back, below), in its
  own contextvars context (as asyncio runs tasks), with its own warnings filters and
  ``sys.stdout``/``sys.stderr`` while it is parked;
- a request that cannot join the others (``merged.perform``'s ``alone``) is made by its own
  case after the earlier cases have finished; no case starts ahead, and no request is made
  alone or merged again after earlier cases' work, once the grading budget is spent;
- a case that runs no request finishes while running ahead; a case the worker does not run
  (refused by the import policy) is not started; an OK-format (doctest) case runs alone, in
  its turn, as do the cases after it until it has run;
- when a call ends the process (a crash, a time-out, the grading budget), the cases whose
  requests were not made are put back, not started (``restart`` with the fresh sandbox runs
  them again from their start); the death is charged to the case whose call it was
  (``ended_by``); a case that would make a later request of the dead process (the death was a
  later case's) raises :class:`Replay` instead: the worker runs it again, alone, on a fresh
  sandbox, as it would have run on a live one.
"""

from __future__ import annotations

import contextvars
import sys
import time
import warnings
from collections.abc import Callable

import greenlet

from autograder.sandbox import merged

#: At most this many cases are run ahead at once (each parked case holds its inputs).
MAX_AHEAD = 64

AHEAD, ALONE, SKIP = "ahead", "alone", "skip"
_PARKED = object()
#: What ``Lookahead.intercept`` returns for a request that is made now, as usual.
DIRECT = object()


class Replay(BaseException):
    """Raised in a case that made a later request after a later case's call had ended the
    process: the worker runs the case again from its start on a fresh sandbox. (A
    BaseException: the case's own ``except Exception`` must not turn it into a failure.)"""


class _Case(greenlet.greenlet):
    def __init__(self, owner: Lookahead, index: int, run: Callable):
        super().__init__(run)
        self.owner = owner
        self.index = index
        self.requested = False  # its first request has been made (parked or not)
        self.discarded = False  # being put back: it must make no request any more
        self.request: tuple | None = None  # the parked (kind, payload)
        self.answer: merged.Answer | None = None
        self.result = None  # what run returned, once it has
        self.saved: tuple | None = None  # the process-wide state it had when parked


class Lookahead:
    """Runs the cases of ``plan`` (``[(question, case), ...]``) against one sandbox.

    ``mode(i)`` is AHEAD (may run ahead), ALONE (runs alone in its turn) or SKIP (the worker
    does not run it); ``run_case(question, case, namespace)`` runs one; ``budget`` is the
    grading budget's ``(deadline, why)``."""

    DIRECT = DIRECT

    def __init__(self, plan: list, run_case: Callable, mode: Callable[[int], str],
                 budget: tuple[float, str] | None):
        self.plan = plan
        self._run_case = run_case
        self._mode = mode
        self._budget = budget
        self._cases: dict[int, _Case] = {}
        self.sub = None
        self.namespace: dict = {}
        #: The index of the case whose request ended the process during a merged request
        #: (None: it has not ended there). A later case's death is not an earlier case's.
        self.ended_by: int | None = None
        self._alone_through = -1  # cases up to this index run alone (see run's Replay)

    # -- the worker's side
    def restart(self, sub, namespace: dict) -> None:
        """Run the cases not yet run against ``sub`` (a fresh sandbox) from now on."""
        self._discard(list(self._cases))
        if self.sub is not None and getattr(self.sub, "lookahead", None) is self:
            self.sub.lookahead = None
        self.sub, self.namespace, self.ended_by = sub, namespace, None
        sub.lookahead = self

    def close(self) -> None:
        self._discard(list(self._cases))
        if self.sub is not None and getattr(self.sub, "lookahead", None) is self:
            self.sub.lookahead = None
        self.sub = None

    def answered(self, index: int) -> bool:
        """Whether case ``index`` has run ahead and its request has been made (it resumes in
        its turn whatever happened since, as it would have run before)."""
        return index in self._cases

    def died_in(self, index: int) -> bool:
        """Whether the process ended during case ``index``'s own requests (asked when it has
        run: a process a later case's call ended is not that case's death)."""
        if self.sub is None or self.sub.alive:
            return False
        return self.ended_by is None or self.ended_by == index

    def run(self, index: int, *, alone: bool = False):
        """The result of case ``index`` (its CaseResult), or :class:`Replay` (the class) when
        it must run again on a fresh sandbox. ``alone``: no running ahead (a replayed case)."""
        question, case = self.plan[index]
        alone = alone or index <= self._alone_through
        if alone or index not in self._cases and (self._mode(index) != AHEAD
                                                  or not self.sub.alive):
            self._discard([i for i in self._cases if i >= index])
            return self._run_case(question, case, self.namespace)
        if index not in self._cases:
            self._run_ahead(index)
        runner = self._cases.pop(index, None)
        if runner is None:  # (not started: the budget ran out meanwhile) in its turn, alone
            return self._run_case(question, case, self.namespace)
        try:
            while not runner.dead:
                self._switch(runner, runner.answer)
        except Replay:
            # the cases up to the one whose call ended the process run alone from now on:
            # running them ahead again would end it again (and replay again)
            ended = index if self.ended_by is None else self.ended_by
            self._alone_through = max(self._alone_through, ended)
            return Replay
        return runner.result

    # -- running ahead
    def _run_ahead(self, start: int) -> None:
        self._discard([i for i in self._cases if i >= start])
        self.ended_by = None
        parked: list[_Case] = []
        for index in range(start, len(self.plan)):
            mode = self._mode(index)
            if mode == SKIP:
                continue
            if mode != AHEAD or len(parked) >= MAX_AHEAD or self._spent():
                break  # (once the budget is spent no case starts: the worker says "not run")
            runner = self._start(index)
            self._cases[index] = runner
            if runner.request is not None:
                parked.append(runner)
            if not self.sub.alive:
                break
        if parked:
            self._send(parked)

    def _start(self, index: int) -> _Case:
        question, case = self.plan[index]
        namespace = self.namespace

        def run():
            return self._run_case(question, case, namespace)

        runner = _Case(self, index, run)
        # its own copy of the context, as a case run in its turn would see (a new greenlet
        # starts in an empty one)
        runner.gr_context = contextvars.copy_context()
        self._switch(runner)
        return runner

    def _send(self, parked: list[_Case]) -> None:
        """Make the parked requests, together where they can be; a request that cannot join
        the ones before it is made by its own case, resumed now (its calls then keep their
        place among the student's calls), before the requests after it."""
        answered: list[_Case] = []
        later = False  # earlier cases' work has run since these parked (see below)
        while parked:
            if later and self._spent():
                # in turn these would have started after that work: no call starts once the
                # budget is spent (the first round is sent whatever the time its later cases'
                # own code took; perform_batch stops every entry after the first past it)
                self._discard([r.index for r in parked])
                return
            answers, ended, alone = merged.perform(self.sub, [r.request for r in parked],
                                                   self._budget)
            for runner, answer in zip(parked, answers):
                runner.answer = answer
                answered.append(runner)
            if ended is not None:
                stopped = parked[ended.index].index
                # (a stop by the budget is no case's death: the worker does not run that case)
                self.ended_by = stopped
                # not made: these cases start again from their beginning when their turn comes
                self._discard([i for i in self._cases if i > stopped or
                               (i == stopped and ended.by_budget)])
                return
            parked = parked[len(answers):]
            if parked and (alone or not answers):  # (never a round without progress)
                # the cases before it finish first (their later requests come before its
                # calls, as in turn), then it makes its request now, by its own path
                for runner in [*answered, parked.pop(0)]:
                    if runner.answer is None and self._spent():
                        self._discard([runner.index, *(r.index for r in parked)])
                        return
                    while not runner.dead:
                        self._switch(runner, runner.answer)
                    if not self.sub.alive:  # (ended by that case's own later request)
                        self.ended_by = runner.index
                        self._discard([i for i in self._cases if i > runner.index])
                        return
                answered, later = [], True

    def _spent(self) -> bool:
        return self._budget is not None and time.monotonic() > self._budget[0]

    def _switch(self, runner: _Case, *value) -> None:
        """Run ``runner`` until it parks or ends, with its own process-wide state."""
        outer = _process_state()
        if runner.saved is not None:
            _set_process_state(runner.saved)
        try:
            back = runner.switch(*value)
        finally:
            runner.saved = _process_state()
            _set_process_state(outer)
        if runner.dead:
            runner.result = back

    def _discard(self, indices: list[int]) -> None:
        for index in indices:
            runner = self._cases.pop(index, None)
            if runner is None or runner.dead:
                continue
            runner.discarded = True
            outer = _process_state()
            if runner.saved is not None:
                _set_process_state(runner.saved)
            try:
                runner.throw()  # GreenletExit where it is parked: its `finally`s run
            except Exception:  # noqa: BLE001 - what an abandoned case raises on its way out
                pass           # is no one's result: it starts again from its beginning
            finally:
                _set_process_state(outer)

    # -- the sandbox's side (Submission._call, _batch, _loop)
    def intercept(self, sub, kind: str, payload):
        """Park the first request of a case running ahead and return its answer when the case
        resumes; ``DIRECT`` when the request is to be made now, as usual."""
        runner = greenlet.getcurrent()
        if sub is not self.sub or not isinstance(runner, _Case) or runner.owner is not self:
            return DIRECT
        if runner.discarded:
            raise greenlet.GreenletExit
        if runner.requested:
            if self.ended_by is not None and self.ended_by > runner.index and not sub.alive:
                raise Replay()
            return DIRECT
        runner.requested = True
        runner.request = (kind, payload)
        runner.parent.switch(_PARKED)
        answer = runner.answer
        if answer is None:  # it could not join the others: made now, by its own path
            return DIRECT
        return answer.deliver(kind, payload)


def _process_state() -> tuple:
    return (warnings.filters, warnings.showwarning, getattr(warnings, "_showwarnmsg_impl", None),
            sys.stdout, sys.stderr)


def _set_process_state(state: tuple) -> None:
    filters, showwarning, showmsg, stdout, stderr = state
    if warnings.filters is not filters:
        warnings.filters = filters
        warnings._filters_mutated()
    warnings.showwarning = showwarning
    if showmsg is not None:
        warnings._showwarnmsg_impl = showmsg
    sys.stdout, sys.stderr = stdout, stderr
