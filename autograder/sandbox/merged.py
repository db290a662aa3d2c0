"""Requests of several test cases sent as one (grader side), each answered as if sent alone.

The batch grader lets each case of an assignment run up to its first request of the sandbox
(``grade/lookahead.py``) and sends those requests together: a single call, a ``call_each``
batch or a step loop each become entries of one ``calls`` request (``batch.perform_batch``).
Nothing changes at the boundary: every entry is encoded, limited, observed and judged as
``perform_batch`` does for one ``call_each``, and the answers are cut back into what each case's
own request would have given (:class:`Answer`).

A request that cannot join the ones before it (a callback, a Generator an earlier one uses, an
argument that cannot cross, arrays that no longer fit the arena) is left to its case, which
makes it by its own path, in its turn, before the requests after it are sent. When the process
ends (a call that kills it, a time-out, the grading budget), the requests after the one it
ended in are not made at all: :func:`perform` reports where, and the caller runs those cases
again on a fresh sandbox, as it would have.
"""

from __future__ import annotations

from .batch import MAX_BATCH, Returned, perform_batch
from .errors import ProtocolError, SandboxDied

CALL, BATCH, LOOP = "call", "batch", "loop"


class Answer:
    """What one request gives its case: ``value`` (a call's or a loop's result, or a batch's
    outcome list) or ``error`` (raised where the request was made), and for a call or a loop
    the proxy's ``last_call_*`` attributes as its own request would have left them (set when
    the case resumes: two cases may call the same proxy)."""

    __slots__ = ("value", "error", "mutations", "unverified", "warnings")

    def __init__(self, value=None, error: BaseException | None = None, mutations=(),
                 unverified=(), warnings=()):
        self.value = value
        self.error = error
        self.mutations = tuple(mutations)
        self.unverified = tuple(unverified)
        self.warnings = tuple(warnings)

    def deliver(self, kind: str, payload):
        """Give the case what its request returns (or raise what it raised)."""
        proxy = payload[0] if kind == CALL else payload.proxy if kind == LOOP else None
        if proxy is not None:
            proxy.last_call_mutations = self.mutations
            proxy.last_call_unverified = self.unverified
            proxy.last_call_warnings = self.warnings
        if self.error is not None:
            raise self.error
        return self.value


class Ended:
    """Where the process ended during :func:`perform`: in request ``index`` (those after it
    were not made); ``by_budget`` when the grading budget stopped it before that request's
    first entry could start (so that request was not made either)."""

    __slots__ = ("index", "by_budget")

    def __init__(self, index: int, by_budget: bool):
        self.index = index
        self.by_budget = by_budget


def perform(sub, requests: list, budget: tuple[float, str] | None
            ) -> tuple[list[Answer], Ended | None, bool]:
    """Answers for the first of ``requests`` (``(kind, payload)`` each, in the order the cases
    made them: ``(CALL, (proxy, args, kwargs))``, ``(BATCH, entries)``, ``(LOOP, loop_requests.LoopEntry)``)
    that can share one request: ``(answers, ended, alone)``. There is one answer per request
    made, from the first on; ``ended`` says where the process ended, if it did (the requests
    after it are not made); otherwise ``alone`` says that the next request cannot join the
    ones before it (a callback, a Generator an earlier one uses, an argument that cannot cross,
    arrays that do not fit the arena after the earlier ones', an unknown kind): its case must
    make it itself, by its own path, before the requests after it are made."""
    entries, spans = [], []
    for kind, payload in requests:
        part = list(payload) if kind == BATCH else [payload] if kind in (CALL, LOOP) else None
        if part is None or not part or len(entries) + len(part) > MAX_BATCH:
            break  # (the rest go in a later request, or alone when this is the first)
        spans.append((kind, len(entries), len(part)))
        entries.extend(part)
    if not spans:
        return [], None, True
    ended_at: dict = {}
    try:
        with sub._lock:
            outcomes = perform_batch(sub, entries, budget, ended_at, labels=True)
    except SandboxDied:  # (raised before anything was sent: the process had already ended)
        return [], Ended(0, False), False
    except ProtocolError:  # raised only before anything was sent: an argument that cannot cross
        outcomes = None
    if outcomes is None:
        # the requests before the first that cannot join them go together; that one alone
        entry = ended_at.get("unbatchable", 0)
        index = next(i for i, (_, at, n) in enumerate(spans) if entry < at + n)
        if index == 0:
            return [], None, True
        answers, ended, alone = perform(sub, requests[:index], budget)
        return answers, ended, alone if len(answers) < index else ended is None
    ended = None
    if ended_at:
        entry = ended_at["entry"]
        index = next(i for i, (_, at, n) in enumerate(spans) if entry < at + n)
        # stopped by the budget at a request's first entry: that request was not made
        ended = Ended(index, ended_at["budget"] and entry == spans[index][1])
    answers = []
    for i, (kind, at, n) in enumerate(spans):
        if ended is not None and (i > ended.index or (i == ended.index and ended.by_budget)):
            break
        part = outcomes[at:at + n]
        answers.append(Answer(part) if kind == BATCH else _single(part[0]))
    return answers, ended, False


def _single(outcome) -> Answer:
    if isinstance(outcome, Returned):
        return Answer(outcome.value, None, outcome.mutations, outcome.unverified,
                      outcome.warnings)
    return Answer(error=outcome)


__all__ = ["Answer", "BATCH", "CALL", "Ended", "LOOP", "perform"]
