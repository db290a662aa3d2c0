"""Pictures' data that a check leaves on its case's result: curves, error maps, arrays.

The checks already compute what a person would rather look at than read (a loss curve, the
per-entry error of a gradient, the expected and the returned array). While a case runs under
:func:`collecting` (the batch grader's runner), the checks :func:`attach` those data as plain,
bounded JSON (lists of floats, ``None`` for a non-finite entry); the feedback pages only draw
them. Outside :func:`collecting` (``grader.check`` in Jupyter, the build) attaching is a no-op
and nothing extra is computed: every caller asks :func:`active` first.

Kinds (the keys each carries):

- ``curve``: ``title``, ``ylabel``, ``got``, ``expected`` (or None), ``rtol``, ``atol``,
  ``first_diverging`` (step index or None), ``tol`` (a convergence threshold or None);
- ``heatmap``: ``title``, ``rel_error`` (rows of floats; a 1-D value is one row), ``rtol``;
- ``arrays``: ``title``, ``got``, ``expected``, ``mismatch`` (nested bools or None),
  ``shape_got``, ``shape_expected``.

Data computed in the grader from plain arrays only; a student's object never reaches here
without first being viewed as a plain ``np.ndarray`` by the check that attaches it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np

__all__ = ["MAX_ATTACHMENTS", "active", "attach", "collecting"]

#: Per case: a test of ten trajectories keeps the first few pictures, never megabytes.
MAX_ATTACHMENTS = 6
MAX_CURVE_POINTS = 400
MAX_MAP_SIDE = 48
MAX_ARRAY_ENTRIES = 400
MAX_TITLE_CHARS = 200

_collector: contextvars.ContextVar[list | None] = contextvars.ContextVar("attachments", default=None)


@contextlib.contextmanager
def collecting():
    """Collect what checks attach while the block runs; yields the list they fill."""
    found: list[dict] = []
    token = _collector.set(found)
    try:
        yield found
    finally:
        _collector.reset(token)


def active() -> bool:
    """Whether anything attached now is kept (so that callers compute it only then)."""
    found = _collector.get()
    return found is not None and len(found) < MAX_ATTACHMENTS


def attach(kind: str, **data) -> None:
    """Keep one attachment of ``kind`` on the running case (no-op outside :func:`collecting`)."""
    found = _collector.get()
    if found is None or len(found) >= MAX_ATTACHMENTS:
        return
    if "title" in data:
        data["title"] = str(data["title"])[:MAX_TITLE_CHARS]
    found.append({"kind": kind, **data})


# -- conversion to bounded plain data ---------------------------------------------------------

def number(value) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def curve_points(values: np.ndarray, keep: int | None = None) -> tuple[list, list[int] | None]:
    """At most ``MAX_CURVE_POINTS`` values of a 1-D series (every k-th, the last and ``keep``
    always in), as floats/None, and the step index of each kept value when thinned (else None)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = values.shape[0]
    if n <= MAX_CURVE_POINTS:
        return [number(v) for v in values], None
    picks = set(np.linspace(0, n - 1, MAX_CURVE_POINTS - 1).astype(int).tolist()) | {n - 1}
    if keep is not None and 0 <= keep < n:
        picks.add(int(keep))
    steps = sorted(picks)
    return [number(values[i]) for i in steps], steps


def error_map(rel: np.ndarray) -> list[list]:
    """Rows of a per-entry error array, 2-D at most ``MAX_MAP_SIDE`` a side: a 1-D value is one
    row, higher dimensions are flattened to (first axis, rest), and a larger map keeps the
    worst entry of each block so that no large error disappears."""
    rel = np.asarray(rel, dtype=np.float64)
    rel = rel.reshape(1, -1) if rel.ndim <= 1 else rel.reshape(rel.shape[0], -1)
    rows, cols = rel.shape
    br, bc = max(1, math.ceil(rows / MAX_MAP_SIDE)), max(1, math.ceil(cols / MAX_MAP_SIDE))
    if br > 1 or bc > 1:
        padded = np.full((math.ceil(rows / br) * br, math.ceil(cols / bc) * bc), np.nan)
        padded[:rows, :cols] = rel
        blocks = padded.reshape(padded.shape[0] // br, br, padded.shape[1] // bc, bc)
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            worst = np.nanmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=(1, 3))
        rel = np.where(np.isneginf(worst), np.nan, worst)
    return [[number(v) for v in row] for row in rel]


def nested(values: np.ndarray) -> list | float | None:
    """An array as nested lists of floats/None (a 0-d array as one number)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        return number(values)
    return [nested(row) for row in values]


def fits(*arrays: np.ndarray) -> bool:
    return all(np.asarray(a).size <= MAX_ARRAY_ENTRIES for a in arrays)


@contextlib.contextmanager
def _quiet_nan_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
