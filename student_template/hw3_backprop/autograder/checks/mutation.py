"""``assert_no_mutation``: a stub must never modify its inputs in place.

The function is called on deep copies of the arguments; afterwards each copy is compared with
the untouched original (arrays by shape, dtype and values with NaN == NaN; numbers; lists,
tuples and dicts recursively). Objects of other types (a ``numpy.random.Generator``, a callable)
are passed as deep copies where possible and not compared: advancing a generator is not a
mutation of data.

Sandbox proxies record the mutations they saw on the student's side in
``fn.last_call_mutations`` (a tuple of argument names); those count as well, so the in-kernel
and the sandboxed paths give the same verdict.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np

from ._safe import fmt, format_index, type_name

__all__ = ["assert_no_mutation"]

_ADVICE = ("a function must not modify its inputs in place: work on a copy (x = x.copy()) or "
           "use out-of-place operations (x = x - lr * g, not x -= lr * g)")


def assert_no_mutation(fn, *args, name=None, **kwargs):
    """Call ``fn(*args, **kwargs)`` on deep copies, fail if any argument changed, return the result.

    ``name`` is the function's name in the message (default ``fn.__name__``). The argument is
    named by its parameter name when ``inspect.signature(fn)`` binds the call, else
    ``argument 0``, ``argument 1``..., or by its keyword. Raises AssertionError.
    """
    fname = name or getattr(fn, "__name__", None) or "the function"
    # A sandbox proxy sends copies of its array arguments and compares them itself (its
    # ``last_call_mutations``): copying and comparing them here too would find nothing. Other
    # arguments are still copied (a Generator: the student's draws must not advance the test's)
    sent_as_copies = getattr(fn, "copies_arguments", False) is True
    call_args = [_copy(a, sent_as_copies) for a in args]
    call_kwargs = {k: _copy(v, sent_as_copies) for k, v in kwargs.items()}
    result = fn(*call_args, **call_kwargs)

    problems = []
    pairs = list(zip(list(args) + list(kwargs.values()), call_args + list(call_kwargs.values())))
    if any(after is not original and _difference(original, after, "")
           for original, after in pairs):
        # named only when something changed: inspect.signature of a sandbox proxy is the most
        # expensive part of a passing check
        labels = _labels(fn, len(args), list(kwargs))
        for label, (original, after) in zip(labels, pairs):
            diff = None if after is original else _difference(original, after, label)
            if diff:
                problems.append(diff)
    failure = mutation_failure(fname, problems, getattr(fn, "last_call_mutations", ()))
    if failure is not None:
        raise failure
    return result


def mutation_failure(fname: str, problems: list, reported) -> AssertionError | None:
    """The no-mutation verdict: ``problems`` found by comparing copies, plus the argument
    names a sandbox proxy ``reported`` it saw changed; None when there is none."""
    reported = reported or ()
    if isinstance(reported, str):
        reported = (reported,)
    for arg_name in reported:
        if not any(p.startswith(f"{arg_name} ") or p.startswith(f"{arg_name}[")
                   for p in problems):
            problems.append(f"{arg_name} was modified in place")
    if not problems:
        return None
    lines = [f"{fname} modified its input: {problems[0]}"]
    lines.extend(f"  also: {p}" for p in problems[1:4])
    lines.append(f"  {_ADVICE}")
    return AssertionError("\n".join(lines))


def _copy(value, sent_as_copies: bool = False):
    if isinstance(value, np.ndarray):
        return value if sent_as_copies and type(value) is np.ndarray else value.copy()
    try:
        return copy.deepcopy(value)
    except Exception:  # an object that cannot be copied (a proxy, a socket): pass it through
        return value


def _labels(fn, n_pos: int, kw_names: list) -> list:
    labels = [f"argument {i}" for i in range(n_pos)] + list(kw_names)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return labels
    for i in range(n_pos):
        if i < len(params) and params[i].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD):
            labels[i] = params[i].name
        else:
            break
    return labels


def _difference(original, after, label) -> str | None:
    """A description of how ``after`` differs from ``original``, or None if it does not."""
    if isinstance(original, np.ndarray):
        if not isinstance(after, np.ndarray):
            return f"{label} was replaced by a {type_name(after)}"
        a = np.ndarray.view(after, np.ndarray)
        o = np.ndarray.view(original, np.ndarray)
        if a.shape != o.shape:
            return f"{label} changed shape from {o.shape} to {a.shape}"
        if a.dtype != o.dtype:
            return f"{label} changed dtype from {o.dtype} to {a.dtype}"
        if o.dtype.kind in "biufc":
            changed = (a != o) & ~(_isnan(a) & _isnan(o))
        else:
            changed = np.array([x is not y and x != y for x, y in zip(o.ravel(), a.ravel())],
                               dtype=bool).reshape(o.shape)
        n = int(np.count_nonzero(changed))
        if n == 0:
            return None
        idx = tuple(np.argwhere(changed)[0]) if o.ndim else ()
        return (f"{label} was modified in place ({n} of {o.size} entries changed; "
                f"at index {format_index(idx)} it was {_show(o[idx])}, now {_show(a[idx])})")
    if isinstance(original, dict):
        if not isinstance(after, dict):
            return f"{label} was replaced by a {type_name(after)}"
        if list(dict.keys(original)) != list(dict.keys(after)):
            added = [k for k in dict.keys(after) if k not in original]
            removed = [k for k in original if k not in dict.keys(after)]
            return f"{label} was modified in place (keys added {added!r}, removed {removed!r})"
        for k in original:
            d = _difference(original[k], dict.__getitem__(after, k), f"{label}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(original, (list, tuple)):
        if type(after) is not type(original) or len(after) != len(original):
            return f"{label} was modified in place (now {type_name(after)} of length {len(after)})"
        for i, (o, a) in enumerate(zip(original, after)):
            d = _difference(o, a, f"{label}[{i}]")
            if d:
                return d
        return None
    if isinstance(original, (bool, int, float, complex, str, bytes, np.generic)) or original is None:
        return None  # immutable: cannot be changed in place
    return None  # other objects (generators, callables): not compared


def _isnan(a):
    try:
        return np.isnan(a)
    except TypeError:
        return np.zeros(a.shape, dtype=bool)


def _show(v):
    try:
        return fmt(v)
    except (TypeError, ValueError):
        return repr(v)[:40]
