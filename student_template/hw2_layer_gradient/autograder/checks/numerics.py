"""``assert_warning_free``: the contract's "finite and warning-free" clauses, on both paths.

In Jupyter the student's function runs here, under NumPy's default error handling made explicit
(overflow, invalid and divide warn; underflow is silent) with every warning recorded. In the
batch grader the argument is a sandbox proxy: the child records the warnings of the call the
same way and returns them as plain text with the result (``Proxy.last_call_warnings``), and the
grader's analysis of the notebook's source says whether the function switches warnings off
(``np.errstate``, ``np.seterr``, ``warnings.filterwarnings``), which fails the case as well:
a stable form raises no warning to hide.
"""

from __future__ import annotations

import types
import warnings

import numpy as np

from .import_policy import ImportPolicy, analyze_function

__all__ = ["assert_warning_free"]


def assert_warning_free(fn, *args, name: str = "the call", stable_form: str | None = None,
                        outcome=None, **kwargs):
    """Call ``fn(*args, **kwargs)``; fail when it raised a numerical warning; return its result.

    With ``outcome`` (from ``call_each(..., warnings=True)``) the call was already made: its
    result and warnings are read from it, with the same verdicts and messages."""
    fix = f" Use the stable form: {stable_form}." if stable_form else ""
    if isinstance(fn, types.FunctionType):
        if analyze_function(fn, ImportPolicy()).suppresses_warnings:
            raise AssertionError(_suppressed(name, fix))
    elif getattr(fn, "suppresses_warnings", False) is True:  # a sandbox proxy (batch grading)
        raise AssertionError(_suppressed(name, fix))
    if outcome is not None:
        result, found = outcome.get(), list(outcome.warnings)
    else:
        result, found = recorded_call(fn, lambda: fn(*args, **kwargs))
    if found:
        kind, text = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise AssertionError(f"{name} raised {kind}: {text}{more}; the contract asks for a "
                             f"result without numerical warnings.{fix}")
    return result


def recorded_call(fn, call):
    """``(call(), its numerical warnings)``: recorded here under NumPy's default error handling
    made explicit when ``fn`` runs here (a plain function), else what the sandbox proxy says the
    child recorded (``last_call_warnings``)."""
    if isinstance(fn, types.FunctionType):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
                result = call()
        return result, [(type(w.message).__name__ if isinstance(w.message, Warning)
                         else w.category.__name__, str(w.message)) for w in caught]
    result = call()
    return result, list(getattr(fn, "last_call_warnings", ()) or ())


def _suppressed(name: str, fix: str) -> str:
    return (f"{name}: the function switches numerical warnings off (np.errstate, np.seterr or "
            f"warnings filters); the contract asks for a form that raises none.{fix}")
