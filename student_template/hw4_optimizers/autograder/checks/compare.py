"""``assert_close``: compare a result with its expected value, with a message that points at the mistake.

The one error metric (numpy's)::

    entry i matches  iff  |actual_i - expected_i| <= atol + rtol * |expected_i|

NaN matches NaN and an infinity matches the same infinity; every other non-finite entry is a
mismatch. Thresholds live in the signature (``rtol=1e-7, atol=0.0``), never in prose.

Values may be numbers, arrays, and tuples/lists/dicts of them, nested. The message reports, in
this order: type/shape/dtype problems, NaN and inf positions, how many entries mismatch, the worst
index with both values, the max absolute and relative error, the tolerance, and finally the hint
("which convention to check"). It names the element that differs, e.g. ``grads['W1']`` or
``result[1]``.

Nothing here trusts ``actual``: its type is checked first, arrays are viewed as plain
``np.ndarray`` (so a subclass's ``__eq__`` or ``__array_ufunc__`` never runs), and no method of
the object is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import attachments
from ._safe import (
    REAL_KINDS,
    fmt,
    fmt_pair,
    format_array,
    format_index,
    is_number,
    plain_array,
    type_name,
)
from .mistakes import alternatives

__all__ = ["CloseResult", "assert_close", "check_close"]

_MAX_LEAF_REPORTS = 3
_MAX_POSITIONS = 5


@dataclass
class CloseResult:
    """Outcome of :func:`check_close`.

    ``problems`` holds one ``(label, text)`` pair per element that differs (label such as
    ``"grads['W1']"``); ``message`` is what :func:`assert_close` raises with.
    """

    passed: bool
    message: str = ""
    problems: list = field(default_factory=list)
    rtol: float = 1e-7
    atol: float = 0.0


def check_close(actual, expected, *, rtol=1e-7, atol=0.0, name="value", hint=None) -> CloseResult:
    """Compare like :func:`assert_close` and return a :class:`CloseResult` instead of raising."""
    if rtol < 0 or atol < 0:
        raise ValueError("rtol and atol must be non-negative")
    problems: list[tuple[str, str]] = []
    leaves: list | None = [] if attachments.active() else None
    _compare(actual, expected, name, float(rtol), float(atol), problems, leaves)
    if not problems:
        return CloseResult(True, "", [], rtol, atol)
    for label, act, exp in (leaves or [])[:_MAX_LEAF_REPORTS]:
        _attach_leaf(act, exp, label, float(rtol), float(atol))
    first_label, first_text = problems[0]
    lines = _known_mistake_lines(actual, expected, rtol, atol) + [first_text]
    others = [label for label, _ in problems[1:]]
    if others:
        shown = ", ".join(others[:_MAX_LEAF_REPORTS])
        more = f" and {len(others) - _MAX_LEAF_REPORTS} more" if len(others) > _MAX_LEAF_REPORTS else ""
        lines.append(f"also wrong: {shown}{more}")
    if hint:
        lines.append(f"hint: {hint}")
    return CloseResult(False, "\n".join(lines), problems, rtol, atol)


def _known_mistake_lines(actual, expected, rtol, atol) -> list[str]:
    """The recorded known mistakes (see ``mistakes.py``) that ``actual`` matches within the
    case's own tolerance, in plain words, first in the message."""
    lines = []
    for value, why in alternatives(expected):
        found: list = []
        try:
            _compare(actual, value, "value", rtol, atol, found)
        except (TypeError, ValueError):
            continue
        if not found:
            lines.append(f"known mistake: your result is what {why}")
    return lines[:1]


def assert_close(actual, expected, *, rtol=1e-7, atol=0.0, name="value", hint=None) -> None:
    """Assert that ``actual`` matches ``expected`` entry by entry.

    Metric: ``|actual - expected| <= atol + rtol * |expected|`` for every entry (NaN == NaN,
    inf == inf of the same sign). ``expected`` is trusted (it comes from the reference
    solution); ``actual`` may be anything a student function returned.

    Scalars: a Python float, int, bool, a NumPy scalar or a 0-d array are all accepted where
    a scalar is expected; a shape ``(1,)`` array is not. Containers: tuple and list are
    interchangeable if the length matches; dicts must have exactly the expected keys.

    Raises AssertionError whose message names the element (``name``, ``name[1]``,
    ``name['W1']``), what is wrong with it, and ends with ``hint`` when given.
    """
    result = check_close(actual, expected, rtol=rtol, atol=atol, name=name, hint=hint)
    if not result.passed:
        raise AssertionError(result.message)


# --------------------------------------------------------------------------------------
# recursion over containers


def _describe_expected(expected) -> str:
    if isinstance(expected, np.ndarray) and expected.ndim > 0:
        return f"a float array of shape {expected.shape}"
    if isinstance(expected, (tuple, list)):
        return f"a {type(expected).__name__} of length {len(expected)}"
    if isinstance(expected, dict):
        return f"a dict with keys {sorted(map(str, expected))}"
    if isinstance(expected, (bool, np.bool_)):
        return "a bool"
    if expected is None:
        return "None"
    return "a number"


def _describe_actual(actual) -> str:
    if isinstance(actual, np.ndarray):
        return f"numpy.ndarray of shape {actual.shape} and dtype {actual.dtype}"
    if isinstance(actual, (tuple, list)):
        return f"{type_name(actual)} of length {len(actual)}"
    if isinstance(actual, str):
        text = actual if len(actual) <= 40 else actual[:37] + "..."
        return f"str {text!r}"
    return type_name(actual)


def _container_items(actual):
    """Items of a list/tuple read through the base class (never a subclass's __iter__)."""
    if isinstance(actual, tuple):
        return [tuple.__getitem__(actual, i) for i in range(tuple.__len__(actual))]
    return [list.__getitem__(actual, i) for i in range(list.__len__(actual))]


def _compare(actual, expected, label, rtol, atol, problems, leaves=None) -> None:
    """Append ``(label, text)`` to ``problems`` per element that differs; with ``leaves`` (a
    list), also ``(label, actual, expected)`` per differing number or array, for pictures."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append((label, f"{label}: expected {_describe_expected(expected)}, "
                                    f"got {_describe_actual(actual)}"))
            return
        actual_keys = list(dict.keys(actual))
        missing = [k for k in expected if k not in actual_keys]
        extra = [k for k in actual_keys if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing keys {missing!r}")
            if extra:
                parts.append(f"unexpected keys {[_short_key(k) for k in extra]!r}")
            problems.append((label, f"{label}: dict has {' and '.join(parts)} "
                                    f"(expected keys {list(expected)!r})"))
        for key in expected:
            if key in actual_keys:
                _compare(dict.__getitem__(actual, key), expected[key], f"{label}[{key!r}]",
                         rtol, atol, problems, leaves)
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            problems.append((label, f"{label}: expected {_describe_expected(expected)}, "
                                    f"got {_describe_actual(actual)}"))
            return
        items = _container_items(actual)
        if len(items) != len(expected):
            problems.append((label, f"{label}: expected {_describe_expected(expected)}, "
                                    f"got a {type_name(actual)} of length {len(items)}"))
            return
        for i, (a, e) in enumerate(zip(items, expected)):
            _compare(a, e, f"{label}[{i}]", rtol, atol, problems, leaves)
        return
    if expected is None:
        if actual is not None:
            problems.append((label, f"{label}: expected None, got {_describe_actual(actual)}"))
        return
    if isinstance(expected, str):
        if not (isinstance(actual, str) and str.__eq__(str(actual), expected)):
            problems.append((label, f"{label}: expected str {expected!r}, got {_describe_actual(actual)}"))
        return
    text = _compare_leaf(actual, expected, label, rtol, atol)
    if text:
        problems.append((label, text))
        if leaves is not None:
            leaves.append((label, actual, expected))


def _attach_leaf(actual, expected, label, rtol, atol) -> None:
    """Expected and got side by side (small values), or the per-entry relative error (large
    ones of the same shape). Only real numbers and arrays: a wrong type has no picture."""
    act, exp = plain_array(actual), plain_array(expected)
    if act is None or exp is None or act.dtype.kind not in REAL_KINDS or act.size == 0:
        return
    act, exp = act.astype(np.float64), exp.astype(np.float64)
    same = act.shape == exp.shape
    if attachments.fits(act, exp):
        attachments.attach(
            "arrays", title=label, got=attachments.nested(act), expected=attachments.nested(exp),
            mismatch=_mismatch_mask(act, exp, rtol, atol).tolist() if same else None,
            shape_got=list(act.shape), shape_expected=list(exp.shape))
    elif same:
        with np.errstate(all="ignore"):
            rel = np.abs(act - exp) / np.maximum(np.abs(exp), atol if atol > 0 else 1e-300)
        attachments.attach("heatmap", title=f"{label}: relative error per entry",
                           rel_error=attachments.error_map(rel), rtol=rtol)


def _short_key(key):
    return key if isinstance(key, (str, int, float, bool)) else type_name(key)


# --------------------------------------------------------------------------------------
# a single number or array


def _compare_leaf(actual, expected, label, rtol, atol) -> str | None:
    exp = plain_array(expected)
    if exp is None or exp.dtype.kind not in REAL_KINDS:
        raise TypeError(f"expected value for {label} must be a real number or array, "
                        f"got {type_name(expected)}")
    want_scalar = exp.ndim == 0
    wanted = "a float (a 0-d array or NumPy scalar is fine)" if want_scalar else \
        f"a float array of shape {exp.shape}"

    # 1. type
    if actual is None:
        return f"{label}: expected {wanted}, got None (a missing `return`?)"
    if not (isinstance(actual, np.ndarray) or is_number(actual)
            or isinstance(actual, np.generic)):
        extra = ""
        if isinstance(actual, (list, tuple)) and not want_scalar:
            extra = " (convert with np.array(...))"
        return f"{label}: expected {wanted}, got {_describe_actual(actual)}{extra}"
    act = plain_array(actual)
    if act is None:
        return f"{label}: expected {wanted}, got {_describe_actual(actual)}"

    # 2. dtype
    if act.dtype.kind == "c":
        imag = np.abs(act.imag)
        return (f"{label}: expected real values, got complex dtype {act.dtype} "
                f"(max |imaginary part| {fmt(imag.max()) if imag.size else 0}); "
                "a sqrt or log of a negative number?")
    if act.dtype.kind not in REAL_KINDS:
        return f"{label}: expected {wanted}, got an array of dtype {act.dtype}"

    # 3. shape
    if want_scalar:
        if act.ndim != 0:
            note = " (use float(...) or .item() to return a scalar)" if act.size == 1 else ""
            return f"{label}: expected {wanted}, got an array of shape {act.shape}{note}"
    elif act.shape != exp.shape:
        return _shape_message(act, exp, label, rtol, atol)

    # 4. values
    return _value_message(act, exp, label, rtol, atol)


def _matches(a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> bool:
    """True if float arrays ``a`` and ``e`` (same shape) match under the module's metric."""
    return not _mismatch_mask(a, e, rtol, atol).any()


def _mismatch_mask(a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        if a.dtype.kind == "f" and e.dtype.kind == "f":
            # the usual case, every entry finite (|a - e| finite says so: a NaN or an infinity
            # on either side, or an overflow, makes it NaN or inf): the general rule below
            # reduces to this one comparison
            diff = np.abs(a - e)
            if np.isfinite(diff).all():
                return diff > atol + rtol * np.abs(e)
    return _mismatch_mask_general(a, e, rtol, atol)


def _mismatch_mask_general(a: np.ndarray, e: np.ndarray, rtol: float,
                           atol: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        a_nan, e_nan = np.isnan(a), np.isnan(e)
        finite = np.isfinite(a) & np.isfinite(e)
        bad = np.zeros(a.shape, dtype=bool)
        bad |= a_nan ^ e_nan
        nonfinite = ~finite & ~(a_nan | e_nan)
        bad |= nonfinite & (a != e)
        bad |= finite & (np.abs(a - e) > atol + rtol * np.abs(e))
    return bad


def _shape_message(act, exp, label, rtol, atol) -> str:
    lines = [f"{label}: shape mismatch: got shape {act.shape}, expected {exp.shape}"]
    try:
        a = act.astype(np.float64)
        e = exp.astype(np.float64)
        if a.ndim == 2 and a.T.shape == e.shape and _matches(a.T, e, rtol, atol):
            lines.append("  the values match the expected array transposed (check the orientation)")
        elif a.size == e.size and _matches(a.reshape(e.shape), e, rtol, atol):
            lines.append(f"  the values match after reshaping to {e.shape} "
                         "(an extra or missing axis, e.g. a column vector (n, 1) instead of (n,))")
        elif a.size == 1 and e.size > 1:
            lines.append("  got a single number where an array was expected")
        elif a.size > 1 and e.size > 1 and a.size % e.size == 0 and a.ndim > e.ndim:
            lines.append("  more entries than expected: an unintended broadcast, "
                         "e.g. (n,) combined with (n, 1)?")
    except (ValueError, TypeError):
        pass
    return "\n".join(lines)


def _value_message(act, exp, label, rtol, atol) -> str | None:
    a = act.astype(np.float64)
    e = exp.astype(np.float64)
    bad = _mismatch_mask(a, e, rtol, atol)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return None
    n = a.size
    scalar = a.ndim == 0
    a_nan, e_nan = np.isnan(a), np.isnan(e)
    finite = np.isfinite(a) & np.isfinite(e)
    with np.errstate(all="ignore"):
        abs_err = np.where(finite, np.abs(a - e), 0.0)
        tol = atol + rtol * np.abs(e)
        rel_err = np.where(finite & (abs_err > 0), abs_err / np.abs(e), 0.0)
        ratio = np.where(finite, abs_err / np.where(tol > 0, tol, np.finfo(float).tiny), 0.0)

    lines = []
    if scalar:
        ga, ge = fmt_pair(a, e)
        lines.append(f"{label}: got {ga}, expected {ge}")
    else:
        lines.append(f"{label}: {n_bad} of {n} entries differ ({100.0 * n_bad / n:.3g}%)")

    # NaN / inf positions
    for mask, text in (
        (a_nan & ~e_nan, "NaN in the result where the expected value is not NaN"),
        (e_nan & ~a_nan, "expected NaN but the result is not NaN"),
        (np.isinf(a) & ~np.isnan(e) & (a != e), "inf in the result where a finite/other value is expected"),
        (np.isinf(e) & ~np.isnan(a) & (a != e) & ~np.isinf(a), "expected inf but the result is finite"),
    ):
        count = int(mask.sum())
        if count:
            lines.append(f"  {text}: {count} entr{'y' if count == 1 else 'ies'}"
                         + ("" if scalar else f" at {_positions(mask)}"))

    bad_finite = bad & finite
    if bad_finite.any():
        flat = int(np.argmax(np.where(bad_finite, ratio, -1.0).ravel()))
        idx = np.unravel_index(flat, a.shape) if not scalar else ()
        if not scalar:
            ga, ge = fmt_pair(a[idx], e[idx])
            lines.append(f"  worst at index {format_index(idx)}: got {ga}, expected {ge}")
        lines.append(f"  max abs error {abs_err.max():.3g}, max rel error {rel_err.max():.3g}")
    elif not scalar:
        idx = np.unravel_index(int(np.argmax(bad.ravel())), a.shape)
        lines.append(f"  first mismatch at index {format_index(idx)}: got {fmt(a[idx])}, "
                     f"expected {fmt(e[idx])}")
    lines.append(f"  tolerance: |got - expected| <= atol + rtol*|expected| "
                 f"with rtol={rtol:g}, atol={atol:g}")
    if not scalar:
        shown_a, shown_e = format_array(a), format_array(e)
        lines.append(f"  got:      {shown_a}")
        lines.append(f"  expected: {shown_e}")
        if shown_a == shown_e:
            with np.errstate(all="ignore"):
                lines.append(f"  got - expected: {format_array(a - e)}")
    if act.dtype != np.float64:
        lines.append(f"  note: the result has dtype {act.dtype}, float64 was expected")
    with np.errstate(all="ignore"):
        lines.extend(_diagnose(a, e, rtol, atol))
    return "\n".join(lines)


def _positions(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)
    shown = ", ".join(format_index(tuple(i)) for i in idx[:_MAX_POSITIONS])
    return shown + (", ..." if len(idx) > _MAX_POSITIONS else "")


def _simple_ratio(r: float) -> tuple[int, int] | None:
    """``(p, q)`` when ``r`` is ``p`` or ``1/q`` for a small whole number (2..64), else None."""
    for value, as_pair in ((r, lambda n: (n, 1)), (1.0 / r, lambda n: (1, n))):
        n = round(value)
        if 2 <= n <= 64 and abs(value - n) <= 1e-6 * n:
            return as_pair(n)
    return None


def _factor_causes(r: float) -> str:
    """Only the causes that fit the measured factor: 4.64669 names none."""
    simple = _simple_ratio(abs(r))
    if simple is None:
        return "a constant factor"
    p, q = simple
    if p == 2:
        return "a factor 2 too many (2 vs 1, or a sum over 2 entries where a mean was wanted)"
    if q == 2:
        return "half the expected value (a 1/2 too many, or a mean over 2 entries instead of a sum)"
    if p > 1:
        return (f"a factor {p} too many: a sum over {p} entries where a mean was wanted, "
                f"or a missing 1/{p}?")
    return f"1/{q} of the expected value: a mean over {q} entries where a sum was wanted?"


def _diagnose(a: np.ndarray, e: np.ndarray, rtol: float, atol: float) -> list[str]:
    """Cheap guesses at the kind of mistake: sign, constant factor, offset, transpose.

    A guess is printed only if the corrected result matches within 10x the tolerance AND its
    largest error is at most 1% of the original one (so an error near the tolerance is never
    "explained" by a coincidence), and only if it holds for more than one entry: a factor or a
    sign fitted on one entry is confirmed by at least one other, an offset by at least two others
    (two entries moved by the same amount is what a single wrong step of size lr looks like, e.g.
    Adam without bias correction on its first step). A single number gets a diagnosis only when
    its ratio to the expected value is a small whole number or its inverse (2, 1/2, 4, ...).
    """
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return []
    if a.size == 1:
        return _diagnose_number(float(a.reshape(-1)[0]), float(e.reshape(-1)[0]))
    loose = max(rtol, 1e-9) * 10
    err0 = float(np.max(np.abs(a - e)))

    def explains(corrected):
        return (float(np.max(np.abs(corrected - e))) <= 0.01 * err0
                and _matches(corrected, e, loose, atol))

    nz = np.abs(e) > 0
    if int(nz.sum()) >= 2 and explains(-a):
        return ["  the result equals -expected: a sign error?"]
    if int(nz.sum()) >= 2 and np.any(a != 0):
        r = float(np.median(a[nz] / e[nz]))
        if np.isfinite(r) and r != 0 and abs(r - 1) > loose and explains(a / r):
            return [f"  the result is {r:.6g} times the expected value: {_factor_causes(r)}"]
    c = float(np.median(a - e))
    if a.size >= 3 and c != 0 and explains(a - c):
        return [f"  the result is the expected value plus {c:.6g} everywhere: an offset"]
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 and explains(a.T):
        return ["  the result equals the expected array transposed"]
    return []


def _diagnose_number(a: float, e: float) -> list[str]:
    if e == 0 or a == 0:
        return []
    r = a / e
    if abs(r + 1) <= 1e-9:
        return ["  the result equals -expected: a sign error?"]
    if _simple_ratio(abs(r)) is None:
        return []
    sign = "" if r > 0 else " and of the opposite sign"
    return [f"  the result is {abs(r):.6g} times the expected value{sign}: {_factor_causes(r)}"]
