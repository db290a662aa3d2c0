"""When two recordings of expected values mean the same: structure exactly, numbers within ULPs.

BLAS and SIMD kernels differ between CPUs in the last bits (a least-squares solve, a matrix
product, an optimizer run of a few steps), so a rebuild on another machine records values that
differ from the committed ones by a few units in the last place. Comparing bytes would call the
template stale on every CPU but the one that built it. What must agree exactly, and what may
differ by rounding:

- exactly: the keys of each file, the nesting (dict keys and their order, list or tuple, their
  lengths), the Python type of every leaf (float, int, bool, str, None, ndarray), array shapes
  and dtypes, every int, bool and str, where the NaNs are and every infinity;
- within :data:`ULPS` units in the last place, normwise: every finite float (or complex) leaf
  ``a`` against ``b`` satisfies ``max|a - b| <= ULPS * eps(dtype) * max(max|a|, max|b|)``.

Why normwise, and why 16: rounding errors of a sum or a solve are proportional to the size of
the terms, not of the result, so an entry that cancels to nearly zero may differ by many ULPs
of itself while being as accurate as the rest of the array; the largest entry of the leaf is
the natural scale. Rebuilding all four assignments under every OpenBLAS kernel family and
NumPy SIMD level this x86 machine can run (Prescott, Nehalem, Sandybridge, Haswell, SkylakeX,
AVX-512 on and off) moved recorded values by at most 3.6 ULPs normwise (11.8 ULPs of the entry
itself, ``hw1 q2 theta_12x4``, the AMD EPYC difference of the bug report). 16 ULPs (3.6e-15
relative for float64) leaves a 4x margin above that, is below the tightest tolerance any test
compares a recorded value with (rtol=1e-14) and six orders below the common ones (1e-10 to
1e-6); a value changed by 1e-9 relative, a missing key or a changed shape is a difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Floats agree when they differ by at most this many units in the last place of their dtype,
#: measured against the largest magnitude in their leaf (see the module docstring).
ULPS = 16


def _float_difference(a: np.ndarray, b: np.ndarray, where: str, ulps: int) -> str | None:
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return f"{where}: NaN at different places"
    finite_a, finite_b = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(finite_a, finite_b) or not np.array_equal(
        a[~finite_a & ~nan_a], b[~finite_b & ~nan_b]
    ):
        return f"{where}: infinities differ"
    x, y = a[finite_a], b[finite_b]
    if x.size == 0:
        return None
    diff = float(np.max(np.abs(x - y)))
    scale = max(float(np.max(np.abs(x))), float(np.max(np.abs(y))))
    eps = float(np.finfo(a.dtype).eps)
    if diff <= ulps * eps * scale:
        return None
    return (
        f"{where}: max |difference| {diff:.3g} is {diff / (eps * scale) if scale else np.inf:.3g} "
        f"ULPs of the largest magnitude {scale:.3g} (allowed: {ulps})"
    )


def value_differences(a: Any, b: Any, where: str = "value", *, ulps: int = ULPS) -> list[str]:
    """Why ``a`` and ``b`` (as ``load_expected`` returns them) do not mean the same; [] if they do."""
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} vs {type(b).__name__}"]
    if isinstance(a, dict):
        if list(a) != list(b):
            missing = [k for k in a if k not in b]
            extra = [k for k in b if k not in a]
            detail = f"missing {missing}" if missing else ""
            detail += ("; " if detail and extra else "") + (f"new {extra}" if extra else "")
            return [f"{where}: keys differ ({detail or 'order'})"]
        return [d for k in a for d in value_differences(a[k], b[k], f"{where}[{k!r}]", ulps=ulps)]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b))
            for d in value_differences(x, y, f"{where}[{i}]", ulps=ulps)
        ]
    if isinstance(a, float):
        a, b = np.asarray(a), np.asarray(b)
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return [f"{where}: shape {a.shape} vs {b.shape}"]
        if a.dtype != b.dtype:
            return [f"{where}: dtype {a.dtype} vs {b.dtype}"]
        if a.dtype.kind in "fc":
            found = _float_difference(a, b, where, ulps)
            return [found] if found else []
        return [] if np.array_equal(a, b) else [f"{where}: values differ"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def expected_file_differences(a: Path, b: Path, *, ulps: int = ULPS) -> list[str]:
    """Why two ``expected/<question>.npz`` files do not hold the same values ([] if they do).

    Identical bytes are the same without reading; a file that cannot be read is a difference.
    """
    from autograder.checks import load_expected

    if a.read_bytes() == b.read_bytes():
        return []
    try:
        values_a, values_b = load_expected(a), load_expected(b)
    except (OSError, ValueError, KeyError) as error:
        return [f"unreadable: {error}"]
    return value_differences(values_a, values_b, "values", ulps=ulps)


def keep_equivalent_files(staged: Path, existing: Path, *, ulps: int = ULPS) -> list[Path]:
    """Copy ``existing/**/*.npz`` over ``staged/**/*.npz`` where the values are the same.

    A rebuild on another CPU then leaves the committed files untouched unless a value really
    changed. Returns the staged files that now hold the existing bytes.
    """
    kept = []
    if not existing.is_dir():
        return kept
    for new in sorted(staged.rglob("*.npz")):
        old = existing / new.relative_to(staged)
        if not old.is_file():
            continue
        old_bytes = old.read_bytes()
        if new.read_bytes() != old_bytes and not expected_file_differences(new, old, ulps=ulps):
            new.write_bytes(old_bytes)
            kept.append(new)
    return kept
