"""``call_each``: independent calls of student functions, made together where that is cheaper.

A test that calls the student's functions on inputs it fixes in advance (every activation on
every shape) lists the calls once; each comes back as an :class:`Outcome` whose ``get()``
returns the result or raises exactly what the call (through ``assert_no_mutation`` by default)
would have raised at that point. Read in the order of the calls, the outcomes give the verdict
and the message of the same calls made one by one.

In Jupyter the calls are simply made one after the other. In the batch grader, where the
functions are sandbox proxies of one submission, they cross in one request (one round trip
instead of one per call); the grader still encodes, observes and judges each call on its own.
"""

from __future__ import annotations

import copy

import numpy as np

from .convergence import run_steps, sandbox_request
from .mutation import _copy, assert_no_mutation, mutation_failure
from .numerics import recorded_call

__all__ = ["Outcome", "call_each"]


class Outcome:
    """What one call gave: ``get()`` returns its result or raises its error; ``warnings``: the
    numerical warnings it raised, ``(category, message)`` each, when they were asked for."""

    __slots__ = ("_value", "_error", "warnings")

    def __init__(self, value=None, error: BaseException | None = None, warnings=()):
        self._value = value
        self._error = error
        self.warnings = tuple(warnings)

    def get(self):
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def failed(self) -> bool:
        return self._error is not None


def call_each(calls, *, names=None, no_mutation=True, warnings=False) -> list[Outcome]:
    """Make every call of ``calls`` (``(fn, args)`` or ``(fn, args, kwargs)``) and return one
    :class:`Outcome` each, in order. With ``no_mutation`` (the default) each is checked as
    ``assert_no_mutation(fn, *args, name=name, **kwargs)`` checks it; ``names`` are the
    functions' names in its messages; without it each call gets copies of the arguments (as
    through the sandbox) and is not checked. ``no_mutation`` may also be one flag per call.
    A Generator argument is advanced by its call, as a direct call advances it; one Generator
    passed to several calls is drawn from in the order of the calls. Later calls are made even
    when an earlier one fails: the functions must not depend on each other's calls (pure
    functions of their inputs, but for the Generators they are given). With ``warnings`` (one
    flag for all or one per call) a call's numerical warnings are recorded in its outcome, as
    ``assert_warning_free`` records them (read with ``assert_warning_free(fn, outcome=...)``).

    A step loop can be one of the calls: ``(run_steps, (step, theta0, grad_fn, steps),
    {"state": ...})`` gives the :class:`~.convergence.Trajectory` of ``run_steps`` called so
    (never checked for mutation: the loop works on copies). When its ``StepCall`` calls a
    sandbox proxy, the loop runs in the sandbox within the same request as the other calls."""
    entries = []
    for call in calls:
        fn, args, *rest = call
        entries.append((fn, tuple(args), dict(rest[0]) if rest else {}))
    names = list(names) if names is not None else [None] * len(entries)
    if len(names) != len(entries):
        raise ValueError("call_each: one name per call")
    loops = [fn is run_steps for fn, _, _ in entries]
    # a loop works on copies (run_steps copies theta0, each step gets copies) and reports no
    # warnings of its own
    checks = [c and not loop
              for c, loop in zip(_flags(no_mutation, len(entries), "no_mutation"), loops)]
    records = [r and not loop
               for r, loop in zip(_flags(warnings, len(entries), "warnings"), loops)]
    # a Generator (or its bit generator) given to two of the calls makes the later draw where
    # the earlier left it: such calls are made one by one, in order
    requests = None if _shared_generators(entries) else \
        _requests(entries, checks, loops)
    answers = None if requests is None else _together(requests)
    if answers is None:
        return [_one(fn, args, kwargs, name, check, record)
                for (fn, args, kwargs), name, check, record
                in zip(entries, names, checks, records)]
    out = []
    for (fn, _, _), name, check, record, answer, (_, _, finish) in zip(
            entries, names, checks, records, answers, requests):
        if isinstance(answer, BaseException):
            out.append(Outcome(error=answer))
            continue
        if finish is not None:  # a loop's answer: the Trajectory run_steps gives, or its error
            try:
                out.append(Outcome(finish(answer.value)))
            except Exception as exc:
                out.append(Outcome(error=exc))
            continue
        fname = name or getattr(fn, "__name__", None) or "the function"
        failure = mutation_failure(fname, [], answer.mutations) if check else None
        found = answer.warnings if record else ()
        out.append(Outcome(error=failure, warnings=found) if failure is not None
                   else Outcome(answer.value, warnings=found))
    return out


def _flags(value, n: int, what: str) -> list[bool]:
    if isinstance(value, bool):
        return [value] * n
    flags = [bool(flag) for flag in value]
    if len(flags) != n:
        raise ValueError(f"call_each: one {what} flag per call")
    return flags


def _one(fn, args, kwargs, name, no_mutation, record=False) -> Outcome:
    def call():
        if no_mutation:
            return assert_no_mutation(fn, *args, name=name, **kwargs)
        # on copies, as through the sandbox: a function that changes its input in place must
        # not change what a later call of the list, or the test, sees (the calls are all made
        # before the test reads them)
        return fn(*[_sent(a) for a in args], **{k: _sent(v) for k, v in kwargs.items()})

    try:
        if not record:
            return Outcome(call())
        value, found = recorded_call(fn, call)
        return Outcome(value, warnings=found)
    except Exception as exc:  # raised again by get(), where the test reads this outcome
        return Outcome(error=exc)


def _as_checked(entry):
    """The arguments a checked call is given: what ``assert_no_mutation`` gives it (a copy of
    a Generator, so the student's draws do not advance the test's)."""
    fn, args, kwargs = entry
    as_copies = getattr(fn, "copies_arguments", False) is True
    return (fn, tuple(_copy(a, as_copies) for a in args),
            {k: _copy(v, as_copies) for k, v in kwargs.items()})


def _sent(value):
    """What a sandboxed call would receive: a copy of data; anything else (a Generator the
    call may advance, a function) itself, also inside a list, tuple or dict."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple, dict)):
        return copy.deepcopy(value, {id(g): g for g in _generators(value)})
    return value


def _generators(value, depth: int = 0) -> list:
    """The Generators in ``value`` and the lists, tuples and dicts in it."""
    if isinstance(value, np.random.Generator):
        return [value]
    if depth > 64:
        return []
    if isinstance(value, (list, tuple)):
        return [g for v in value for g in _generators(v, depth + 1)]
    if isinstance(value, dict):
        return [g for v in value.values() for g in _generators(v, depth + 1)]
    return []


def _shared_generators(entries) -> bool:
    """Whether two of the calls are given the same Generator, or Generators over one bit
    generator."""
    seen: set[int] = set()
    for _, args, kwargs in entries:
        mine = {id(g.bit_generator) for g in _generators([list(args), kwargs])}
        if mine & seen:
            return True
        seen |= mine
    return False


def _requests(entries, checks, loops):
    """``[(fn, entry, finish), ...]``: the function whose ``batch_group`` the entry joins, the
    entry as ``call_batch`` takes it (a call ``(fn, args, kwargs)``, checked ones with
    ``assert_no_mutation``'s arguments, or a loop's entry) and, for a loop, what turns its
    answer into the Trajectory; None when a loop cannot run in the sandbox (then all go one
    by one)."""
    out = []
    for entry, check, loop in zip(entries, checks, loops):
        if not loop:
            out.append((entry[0], _as_checked(entry) if check else entry, None))
            continue
        request = sandbox_request(entry[1], entry[2])
        if request is None:
            return None
        step_fn = entry[1][0].fn
        out.append((step_fn, *request))
    return out


def _together(requests):
    """The answers of one batched request when every function offers it for the same group
    (sandbox proxies of one submission), else None."""
    if not requests:
        return None
    group = getattr(requests[0][0], "batch_group", None)
    if group is None or any(getattr(fn, "batch_group", None) is not group
                            for fn, _, _ in requests):
        return None
    answers = requests[0][0].call_batch([entry for _, entry, _ in requests])
    if answers is None or len(answers) != len(requests):
        return None
    return answers
