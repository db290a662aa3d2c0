"""Defensive conversion of values that may come from student code.

Student objects may carry a magic ``__eq__``, ``__float__`` or ``__array_ufunc__``; nothing
here calls a method of the value itself. Python numbers are read through the base classes'
own slots (``float.__float__`` on a float subclass), NumPy arrays are viewed as plain
``np.ndarray`` before any arithmetic, and every other type is rejected before conversion.
"""

from __future__ import annotations

import numpy as np

#: dtype kinds accepted as real numbers: bool, signed, unsigned, float
REAL_KINDS = "biuf"


def type_name(value: object) -> str:
    """A short, readable name of ``value``'s type (``numpy.ndarray``, ``list``, ``None``)."""
    if value is None:
        return "None"
    cls = type(value)
    module = cls.__module__
    if module in ("builtins", None):
        return cls.__qualname__
    if module.startswith("numpy"):
        return "numpy." + cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def is_number(value: object) -> bool:
    """True for Python bool/int/float (and subclasses) and NumPy scalars of real dtype."""
    if isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, np.generic):
        return np.dtype(type(value)).kind in REAL_KINDS
    return False


def plain_number(value: object) -> float | int | bool:
    """The value of a number as an exact built-in ``bool``, ``int`` or ``float``."""
    if isinstance(value, bool):
        return bool(int.__int__(value))
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        return arr.view(np.ndarray).item()
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    raise TypeError(f"not a number: {type_name(value)}")


def plain_array(value: object) -> np.ndarray | None:
    """A private plain-``ndarray`` copy of an array or number, or None for other types.

    The dtype is kept (so that callers can report complex, object or string dtypes); the
    copy never shares memory with ``value`` and is never an ndarray subclass.
    """
    if isinstance(value, np.ndarray):
        base = np.ndarray.view(value, np.ndarray)
        return np.array(base, copy=True, subok=False)
    if isinstance(value, np.generic):
        return np.array(np.asarray(value).view(np.ndarray), copy=True)
    if isinstance(value, (bool, int, float)):
        num = plain_number(value)
        try:
            return np.array(num, dtype=float if isinstance(num, float) else None)
        except OverflowError:  # an int too large for int64
            return np.array(float(num))
    return None


def as_float_array(value: object, what: str = "value") -> np.ndarray:
    """A private float64 copy of an array or number; TypeError naming ``what`` otherwise."""
    arr = plain_array(value)
    if arr is None:
        raise TypeError(f"{what} must be a NumPy array or a number, got {type_name(value)}")
    if arr.dtype.kind not in REAL_KINDS:
        raise TypeError(f"{what} must have a real numeric dtype, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def as_float_scalar(value: object, what: str = "value") -> float:
    """A Python float from a number, 0-d array or size-1 array; TypeError otherwise."""
    kind = type(value)  # exact types first (a finite-difference check reads hundreds)
    if kind is float:
        return value
    if kind is np.float64:  # numpy's own float subclass: its value through the base slot
        return float.__float__(value)
    arr = as_float_array(value, what)
    if arr.size != 1:
        raise TypeError(f"{what} must be a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def format_array(arr: np.ndarray, max_items: int = 12) -> str:
    """``arr`` printed on one line, summarised with ``...`` beyond ``max_items`` entries."""
    with np.printoptions(threshold=max_items, edgeitems=3, precision=6, linewidth=10_000):
        text = np.array2string(np.asarray(arr), separator=", ")
    return " ".join(text.split())


def format_index(index: tuple) -> str:
    """An index tuple as NumPy prints it: ``(1, 2)``, ``(3,)`` or ``()``."""
    return "(" + ", ".join(str(int(i)) for i in index) + ("," if len(index) == 1 else "") + ")"


def fmt(x: float) -> str:
    """A number with enough digits to see a difference in the 7th significant figure."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    return f"{float(x):.10g}"


def fmt_pair(a: float, b: float) -> tuple[str, str]:
    """Two numbers printed with the fewest digits (10 to 17) that show they differ."""
    a, b = float(a), float(b)
    for digits in range(10, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb:
            return sa, sb
    return sa, sb
