"""Known mistakes: what each hand-written mutant returns on a case's inputs, recorded at build.

At build time (trusted instructor code, in the build process) every mutant of
``assignments/<hw>/mutants/`` runs the cases of the questions it fails in record mode; where its
value under an expected-value key differs from the reference's, the build stores it beside the
expected value under ``mistake:<key>:<mutant>`` as ``{"value": ..., "why": "..."}`` (public keys'
mistakes ship with the template, hidden ones stay in the bundle, as the expected values do).

At replay, :class:`~autograder.checks.expected.Reference` hands out the expected value and
remembers, for that very object (and each leaf of it), the known mistakes' values. When
``assert_close`` fails, it asks :func:`known_mistake` whether the student's value matches one of
them within the case's own tolerance and, if so, says which mistake it is in plain words.

The memory is a ``ContextVar`` holding an immutable mapping from ``id(expected)`` to the object
itself (kept alive, so an id is never reused while remembered) and its alternatives; it keeps the
last :data:`_LIMIT` lookups only.
"""

from __future__ import annotations

import contextlib
import contextvars

PREFIX = "mistake:"
_LIMIT = 256

_KNOWN: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "autograder_known_mistakes", default=None)


def mistake_key(key: str, mutant: str) -> str:
    return f"{PREFIX}{key}:{mutant}"


def mistakes_of(values: dict, key: str) -> list[tuple[object, str]]:
    """``[(value, why), ...]`` stored for expected-value ``key`` in one question's values."""
    start = mistake_key(key, "")
    out = []
    for name in sorted(values):
        entry = values[name]
        if name.startswith(start) and isinstance(entry, dict) and "why" in entry:
            out.append((entry["value"], str(entry["why"])))
    return out


def index(values: dict) -> dict[str, list[tuple[object, str]]]:
    """``{key: mistakes_of(values, key)}`` for every key that has any, in one pass: a lookup
    then costs a dict access, not a sort of the question's keys (a test makes dozens)."""
    out: dict[str, list[tuple[object, str]]] = {}
    for name in sorted(values):
        entry = values[name]
        if not (name.startswith(PREFIX) and isinstance(entry, dict) and "why" in entry):
            continue
        # every key K with name.startswith(f"{PREFIX}{K}:"), as mistakes_of matches them
        colon = name.find(":", len(PREFIX))
        while colon != -1:
            out.setdefault(name[len(PREFIX):colon], []).append(
                (entry["value"], str(entry["why"])))
            colon = name.find(":", colon + 1)
    return out


def _pairs(expected, alternative):
    """(expected leaf or container, the alternative's matching part), for every level."""
    yield expected, alternative
    if isinstance(expected, dict) and isinstance(alternative, dict):
        for k in expected:
            if k in alternative:
                yield from _pairs(expected[k], alternative[k])
    elif isinstance(expected, (tuple, list)) and isinstance(alternative, (tuple, list)) \
            and len(expected) == len(alternative):
        for e, a in zip(expected, alternative):
            yield from _pairs(e, a)


def remember(expected, mistakes: list[tuple[object, str]]) -> None:
    """Remember the known mistakes of the object ``expected`` (and of each part of it)."""
    if not mistakes:
        return
    known = dict(_KNOWN.get() or {})
    for value, why in mistakes:
        for part, alt in _pairs(expected, value):
            if isinstance(part, (int, bool)) or part is None:
                continue  # small ints are shared objects: their identity means nothing
            _, alts = known.get(id(part), (part, ()))
            known[id(part)] = (part, alts + ((alt, why),))
    while len(known) > _LIMIT:
        known.pop(next(iter(known)))
    _KNOWN.set(known)


@contextlib.contextmanager
def forgotten_after():
    """Remember only what is looked up inside the block (a grading case: its own expected
    values), and nothing of it after. Each ``remember`` copies the mapping, so one that had
    filled up with earlier cases' lookups cost hundreds of entries per lookup."""
    token = _KNOWN.set(None)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def alternatives(expected) -> tuple:
    """``((value, why), ...)`` remembered for this very object, else ``()``."""
    entry = (_KNOWN.get() or {}).get(id(expected))
    if entry is None or entry[0] is not expected:
        return ()
    return entry[1]
