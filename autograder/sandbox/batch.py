"""Several independent calls of one submission in one request (grader side).

A test that calls student functions on inputs fixed in advance (every activation on every shape,
say) can hand them to ``checks.call_each``: through proxies they cross in one ``calls`` request
instead of one round trip each. The child runs them one after the other, as it would have run
them one by one, and answers each as it finishes (``serve_call``'s answer, unchanged), so a call
that kills the process leaves the answers before it intact.

Nothing changes at the boundary: every call's arguments are encoded as a single call's (plain
data; array arguments in their own places in the shared-memory arena, compared by the grader
after the request), every answer is decoded and judged as a single call's, and each call has
the limits of a single call, counted from the answer before it (the request as a whole at most
those of as many calls). A call that passes a Generator gets its own copy in the child and the
grader's Generator is moved to the state the copy ended in (validated) when that call's
answer arrives, as for a single call; one Generator passed to two calls of a request makes the
second depend on the first, so such calls go one by one. Calls that pass a test function (a
callback) are not batched: they need the conversation of a single call.
"""

from __future__ import annotations

import time

from . import codec
from .calls import CallArguments, Proxy, _warnings, ask_labels, raise_for_answer
from .errors import CallTimeout, ProtocolError, SandboxDied, SandboxError

MAX_BATCH = 1000
ANSWERS = ("return", "raise", "protocol_error", "missing")


class Returned:
    """One call's plain result, where the grader saw its arguments change in shared memory and
    (once named) their labels, and its numerical warnings (what ``checks.call_each`` reads)."""

    __slots__ = ("value", "changed", "mutations", "warnings")

    def __init__(self, value, changed: list, warnings=()):
        self.value = value
        self.changed = changed
        self.mutations: tuple[str, ...] = ()  # the changed arguments' names (perform_batch)
        self.warnings = warnings


def perform_batch(sub, entries: list, budget: tuple[float, str] | None = None) -> list | None:
    """``[Returned | SandboxError, ...]`` for ``[(proxy, args, kwargs), ...]`` of ``sub``, or
    None when these calls cannot share a request. ``budget``: ``(deadline, why)``: a call that
    would start after it does not (the child, already running it, is stopped), as a call made
    alone is refused once the submission's grading budget is spent."""
    if not (0 < len(entries) <= MAX_BATCH) or sub.arena is None:
        return None
    if not all(type(p) is Proxy and p._sub is sub for p, _, _ in entries):
        return None
    if not sub._alive:
        raise SandboxDied(sub._death_message())
    arrays: list = []
    calls, wire = [], []
    generators: set[int] = set()
    for i, (proxy, args, kwargs) in enumerate(entries):
        call = CallArguments(sub, sub.arena, arrays)
        tree_args, tree_kwargs = call.encode(tuple(args), dict(kwargs), first=i == 0)
        if call.callbacks:
            return None
        mine = {id(gen.bit_generator) for _, gen in call.generators}
        if mine & generators:  # a later call would draw from where an earlier one left it
            return None
        generators |= mine
        calls.append(call)
        wire.append({"name": proxy.name, "args": tree_args, "kwargs": tree_kwargs})
    n = len(entries)
    call_wall, call_cpu = float(sub.limits.call_wall_s), float(sub.limits.call_cpu_s)
    started = time.monotonic()
    deadline = started + call_wall * n
    cpu_mark = sub._cpu_mark()
    sub._send({"op": "calls", "calls": wire}, arrays, deadline)
    outcomes: list = []
    try:
        for (proxy, _, _), call in zip(entries, calls):
            if budget is not None and outcomes and time.monotonic() > budget[0]:
                sub._kill("timeout", budget[1])
                outcomes += [CallTimeout(budget[1])] * (n - len(outcomes))
                break
            # each call has a single call's limits, counted from the answer before it (the
            # child starts the next call as it sends an answer), so a call that hangs ends as
            # it would alone: same limit, same words
            try:
                msg, arrs = sub._recv(min(deadline, started + call_wall), (cpu_mark, call_cpu),
                                      f"the call to {proxy.name}", call_wall)
                started, cpu_mark = time.monotonic(), sub._cpu_mark()
            except SandboxError as exc:  # the process is gone: this call and the rest fail so
                outcomes += [exc] * (n - len(outcomes))
                break
            outcomes.append(_outcome(sub, proxy, call, msg, arrs))
            if not sub._alive:
                outcomes += [SandboxDied(sub._death_message())] * (n - len(outcomes))
                break
    finally:
        sub.arena.release_pages()
        if len(outcomes) < n and sub._alive:  # interrupted mid-request: not reusable
            sub._kill("died", "a batch of calls was interrupted by the grader")
    # the changes were observed as each answer arrived; the names that word their messages
    # are asked for now that the child waits again (only for calls with a change)
    for (proxy, _, _), call, outcome in zip(entries, calls, outcomes):
        if isinstance(outcome, Returned) and outcome.changed:
            # (not once the grading budget is spent: then the arguments are arg0, arg1...)
            in_time = budget is None or time.monotonic() <= budget[0]
            labels = ask_labels(sub, proxy.name, call) \
                if in_time and call.needs_labels(outcome.changed) else None
            outcome.mutations = call.named(outcome.changed, labels)
    return outcomes


def _outcome(sub, proxy: Proxy, call: CallArguments, msg: dict, arrs: list):
    op = msg.get("op")
    if op not in ANSWERS:  # a callback was never offered: anything else is a forgery
        sub._kill("protocol", f"the submission sent an unexpected message {str(op)[:50]!r}")
        return ProtocolError(sub.reason)
    # observed when the answer arrives, as for a single call (before any later call runs)
    changed = call.changed()
    if op != "return":
        try:
            raise_for_answer(sub, proxy.name, op, msg)
        except SandboxError as exc:
            return exc
    try:
        value = codec.decode(msg.get("value"), arrs)
    except codec.CodecError as exc:
        return ProtocolError(f"{proxy.name} returned malformed data: {exc}")
    if call.generators:  # as perform_call does, before any later call's answer is read
        try:
            call.adopt_states(msg.get("rng"), arrs)
        except ProtocolError as exc:
            return exc
    return Returned(value, changed, _warnings(msg.get("warnings")))
