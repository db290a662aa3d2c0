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

A step loop (``loop_requests.LoopEntry``) can be one of the entries: it is encoded as a loop
asked for alone, has the limits of as many calls as it has steps, and its answer is judged as
that loop's (``loop_requests.read_reply``). A loop that needs a callback (a gradient without a
formula) or passes a Generator is not batched.
"""

from __future__ import annotations

import time

from . import codec
from .calls import MAX_LABELS, CallArguments, Proxy, _warnings, ask_labels, raise_for_answer
from .errors import CallTimeout, ProtocolError, SandboxDied, SandboxError
from .loop_requests import LoopEntry, encode_plan, read_reply

MAX_BATCH = 1000
FAILURES = ("raise", "protocol_error", "missing")


class Returned:
    """One call's plain result, where the grader saw its arguments change in shared memory and
    (once named) their labels, and its numerical warnings (what ``checks.call_each`` reads).
    A loop's: its checked answer (``read_reply``), nothing changed."""

    __slots__ = ("value", "changed", "mutations", "unverified", "warnings", "labels")

    def __init__(self, value, changed: list, warnings=(), labels=None):
        self.value = value
        self.changed = changed
        #: The child's parameter names for the call's arguments (words only), when they came
        #: with the answer: a list of strings, else None.
        self.labels = labels if isinstance(labels, list) and len(labels) <= MAX_LABELS \
            and all(isinstance(x, str) for x in labels) else None
        self.mutations: tuple[str, ...] = ()  # the changed arguments' names (perform_batch)
        self.unverified: tuple[str, ...] = ()  # arguments too large for the arena (by copy)
        self.warnings = warnings


def perform_batch(sub, entries: list, budget: tuple[float, str] | None = None,
                  ended: dict | None = None, labels: bool = False) -> list | None:
    """``[Returned | SandboxError, ...]`` for ``[(proxy, args, kwargs) | LoopEntry, ...]`` of
    ``sub``, or None when these cannot share a request. ``budget``: ``(deadline, why)``: an
    entry that would start after it does not (the child, already running it, is stopped), as
    a call made alone is refused once the submission's grading budget is spent.

    ``ended`` (a dict), when the process ends during the request, is given ``"entry"``: the
    index of the entry it ended in (the entries after it did not run), and ``"budget"``: True
    when that entry was stopped by the grading budget before its answer (it did not start as
    far as the tests can tell). When the entries cannot share a request (None, or a
    ProtocolError raised for an argument that cannot cross, before anything is sent) it is
    given ``"unbatchable"``: the first entry that cannot join the ones before it.

    With ``labels`` each call whose arguments are in the arena has the child's parameter names
    come with its answer (the cases' merged request, sandbox/merged.py: a later case's call may
    end the process before they could be asked for); they word a message, nothing else."""
    if not (0 < len(entries) <= MAX_BATCH) or sub.arena is None:
        return None
    proxies = [e.proxy if isinstance(e, LoopEntry) else e[0] for e in entries]
    alien = next((i for i, p in enumerate(proxies) if type(p) is not Proxy or p._sub is not sub),
                 None)
    if alien is not None:
        return _unbatchable(ended, alien)
    if not sub._alive:
        raise SandboxDied(sub._death_message())
    arrays: list = []
    calls, wire, weights = [], [], []
    generators: set[int] = set()
    sub.arena.start_call()
    for index, (proxy, entry) in enumerate(zip(proxies, entries)):
        if ended is not None:
            ended["unbatchable"] = index  # (for a ProtocolError raised while encoding it)
        if isinstance(entry, LoopEntry):
            call = CallArguments(sub, None, arrays)  # every step gets copies: nothing observed
            plan = encode_plan(call, entry.step, entry.theta, entry.grad_fn, entry.steps,
                               entry.state)
            if call.callbacks or call.generators:
                return _unbatchable(ended, index)
            wire.append({"name": proxy.name, "plan": plan})
            weights.append(max(1, entry.steps))  # a loop has the limits of its steps' calls
            calls.append(call)
            continue
        _, args, kwargs = entry
        call = CallArguments(sub, sub.arena, arrays)
        tree_args, tree_kwargs = call.encode(tuple(args), dict(kwargs), first=False)
        if call.callbacks or (call.crowded and index):
            # (crowded: an array that would fit the arena alone does not fit after the earlier
            # entries' and would cross unobserved; alone it is observed)
            return _unbatchable(ended, index)
        mine = {id(gen.bit_generator) for _, gen in call.generators}
        if mine & generators:  # a later call would draw from where an earlier one left it
            return _unbatchable(ended, index)
        generators |= mine
        calls.append(call)
        # an argument in the arena may change: its answer brings the parameter names
        wire.append({"name": proxy.name, "args": tree_args, "kwargs": tree_kwargs,
                     **({"labels": True} if labels and call.placements else {})})
        weights.append(1)
    if ended is not None:
        ended.pop("unbatchable", None)
    n = len(entries)
    call_wall, call_cpu = float(sub.limits.call_wall_s), float(sub.limits.call_cpu_s)
    started = time.monotonic()
    deadline = started + call_wall * sum(weights)
    cpu_mark = sub._cpu_mark()
    sub._send({"op": "calls", "calls": wire}, arrays, deadline)
    outcomes: list = []
    try:
        for proxy, entry, call, weight in zip(proxies, entries, calls, weights):
            if budget is not None and outcomes and time.monotonic() > budget[0]:
                sub._kill("timeout", budget[1])
                _ended(ended, len(outcomes), by_budget=True)
                outcomes += [CallTimeout(budget[1])] * (n - len(outcomes))
                break
            # each entry has the limits it has alone, counted from the answer before it (the
            # child starts the next as it sends an answer), so one that hangs ends as it
            # would alone: same limit, same words
            try:
                msg, arrs = sub._recv(min(deadline, started + call_wall * weight),
                                      (cpu_mark, call_cpu * weight),
                                      f"the call to {proxy.name}", call_wall * weight)
                started, cpu_mark = time.monotonic(), sub._cpu_mark()
            except SandboxError as exc:  # the process is gone: this call and the rest fail so
                _ended(ended, len(outcomes))
                outcomes += [exc] * (n - len(outcomes))
                break
            loop = entry if isinstance(entry, LoopEntry) else None
            outcomes.append(_outcome(sub, proxy, call, msg, arrs, loop))
            if not sub._alive:
                _ended(ended, len(outcomes) - 1)
                outcomes += [SandboxDied(sub._death_message())] * (n - len(outcomes))
                break
    finally:
        sub.arena.release_pages()
        if len(outcomes) < n and sub._alive:  # interrupted mid-request: not reusable
            sub._kill("died", "a batch of calls was interrupted by the grader")
    # the changes were observed as each answer arrived; the names that word their messages
    # are asked for now that the child waits again (only for calls with a change)
    for index, (proxy, call, outcome) in enumerate(zip(proxies, calls, outcomes)):
        # (a loop's arguments are copies, never observed: call.arena is None)
        if isinstance(outcome, Returned) and call.arena is not None and \
                (outcome.changed or call.unverified):
            # (not once the grading budget is spent: then the arguments are arg0, arg1...)
            in_time = budget is None or time.monotonic() <= budget[0]
            names = outcome.labels
            if names is None and in_time and call.needs_labels(outcome.changed) and sub._alive:
                names = ask_labels(sub, proxy.name, call)
                if not sub._alive and ended is not None and "entry" not in ended:
                    _ended(ended, index)  # (that request ended it: charged to its call)
            outcome.mutations = call.named(outcome.changed, names)
            outcome.unverified = call.unverified_labels(names)
    return outcomes


def _unbatchable(ended: dict | None, entry: int) -> None:
    if ended is not None:
        ended["unbatchable"] = entry


def _ended(ended: dict | None, entry: int, by_budget: bool = False) -> None:
    if ended is not None:
        ended.update(entry=entry, budget=by_budget)


def _outcome(sub, proxy: Proxy, call: CallArguments, msg: dict, arrs: list,
             loop: LoopEntry | None):
    op = msg.get("op")
    result_op = "return" if loop is None else "loop"
    if op != result_op and op not in FAILURES:  # (a callback was never offered: a forgery)
        sub._kill("protocol", f"the submission sent an unexpected message {str(op)[:50]!r}")
        return ProtocolError(sub.reason)
    # observed when the answer arrives, as for a single call (before any later call runs)
    changed = call.changed() if loop is None else []
    if op != result_op:
        try:
            raise_for_answer(sub, proxy.name, op, msg)
        except SandboxError as exc:
            return exc
    if loop is not None:
        try:
            reply = read_reply(sub, proxy, msg, arrs, loop.theta, loop.steps)
        except SandboxError as exc:
            return exc
        return Returned(reply, [], _warnings(msg.get("warnings")))
    try:
        value = codec.decode(msg.get("value"), arrs)
    except codec.CodecError as exc:
        return ProtocolError(f"{proxy.name} returned malformed data: {exc}")
    if call.generators:  # as perform_call does, before any later call's answer is read
        try:
            call.adopt_states(msg.get("rng"), arrs)
        except ProtocolError as exc:
            return exc
    return Returned(value, changed, _warnings(msg.get("warnings")), msg.get("labels"))
