"""Gradient checks by central differences.

The one error metric, for every compared quantity ``i`` (a coordinate of the gradient, or a
directional derivative)::

    |analytic_i - numeric_i| <= atol + rtol * |numeric_i| + noise_i

    numeric_i = (f(x + h e) - f(x - h e)) / (2h)        central difference along e
    noise_i   = noise * eps * max(|f(x + h e)|, |f(x - h e)|) / h   (+ the same factor times
                the rounding of <grad, e> for directions)

``noise_i`` is the floating-point floor of a central difference (``eps`` = 2.2e-16): below it a
difference of two values of ``f`` is rounding, not signal, so no check can see it. It keeps
correct gradients of badly scaled functions (``|f|`` large, some gradient entries tiny) from
failing. ``rtol``, ``atol``, ``h`` and ``noise`` are keyword arguments of every check; the
default ``noise=16`` is a 16x margin: on the test suite's badly scaled functions (``|f|`` up to
1e6, curvatures 1e-4..1e4, up to 10^4 parameters) correct gradients already pass with
``noise=1`` and fail without the floor.

The perturbed point is written into a private float64 copy of ``x``; ``f`` receives a read-only
view of it (so an ``f`` that modifies its input fails loudly instead of corrupting the check).
The step is taken as the floating-point difference of the two points actually evaluated, so
rounding of ``x +- h`` does not bias the quotient.

Checks:

- :func:`check_gradient`: every coordinate, ``2 N`` evaluations of ``f``.
- :func:`check_directional`: random Gaussian directions ``u``; compares
  ``(f(x + h u) - f(x - h u)) / 2h`` with ``<grad, u>``; 2 evaluations per direction whatever
  ``N``. On failure it localises a wrong coordinate by bisection (about ``4 log2 N`` more
  evaluations) so the message can name an index.
- :func:`check_sampled`: random coordinates, 2 evaluations each.
- :func:`check_vjp`: array-valued ``f``; random output cotangents ``u``; compares a claimed
  vector-Jacobian product ``vjp(u)`` (or a full Jacobian) with central differences of
  ``<u, f(x)>``.

Why Gaussian directions (not Rademacher signs, not coordinate vectors): an error vector ``e``
in the gradient shows up as ``<e, u>``, which for Gaussian ``u`` is ``N(0, |e|^2)`` whatever the
structure of ``e``: a single wrong coordinate, two swapped entries (``e_j = -e_k``; Rademacher
signs cancel that with probability 1/2 per direction) or a transposed block are all seen with
the same probability. Unnormalised ``u`` moves every coordinate by about ``h``, so the same
``h`` suits coordinate and directional checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import attachments
from ._safe import as_float_array, as_float_scalar, fmt, fmt_pair, format_index, type_name

__all__ = [
    "GradCheckResult",
    "assert_directional",
    "assert_gradient",
    "assert_gradient_fast",
    "assert_sampled",
    "assert_vjp",
    "check_directional",
    "check_gradient",
    "check_sampled",
    "check_vjp",
    "numerical_gradient",
]

_EPS = float(np.finfo(np.float64).eps)
_TINY = 1e-300


@dataclass
class GradCheckResult:
    """Outcome of a gradient check.

    ``worst_index`` is the coordinate (an index tuple into ``x``) with the largest error relative
    to its tolerance, or None when a directional check could not localise the error (then
    ``numeric_at_worst``/``analytic_at_worst`` are directional derivatives). ``direction`` is
    the index of the worst random direction (directional and vjp checks), else None.
    """

    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple | None
    numeric_at_worst: float
    analytic_at_worst: float
    n_evaluations: int
    method: str = "full"
    n_checked: int = 0
    n_failed: int = 0
    rtol: float = 1e-5
    atol: float = 1e-8
    h: float = 1e-6
    direction: int | None = None
    detail: str = ""
    #: Relative error per checked entry, shaped like ``x`` (NaN where not checked); kept only
    #: for a failed coordinate check while a case collects attachments (for the error map).
    rel_errors: np.ndarray | None = field(default=None, repr=False, compare=False)

    def message(self, name: str = "gradient", hint: str | None = None) -> str:
        """The failure message that the ``assert_*`` functions raise."""
        what = {"directional": "random directions", "vjp": "(direction, coordinate) pairs"}.get(
            self.method, "coordinates")
        if self.passed:
            return f"{name}: gradient check ({self.method}) passed"
        if not self.n_checked:  # the claim itself is unusable (type, shape)
            return f"{name}: gradient check ({self.method}) failed: {self.detail}" + (
                f"\nhint: {hint}" if hint else "")
        lines = [f"{name}: gradient check ({self.method}) failed: "
                 f"{self.n_failed} of {self.n_checked} {what} differ"]
        if self.worst_index is not None:
            sa, sn = fmt_pair(self.analytic_at_worst, self.numeric_at_worst)
            lines.append(f"  worst at index {format_index(self.worst_index)}: "
                         f"analytic {sa}, numeric (central difference) {sn}")
        elif self.n_checked:
            sa, sn = fmt_pair(self.analytic_at_worst, self.numeric_at_worst)
            lines.append(f"  worst direction: analytic <grad, u> {sa}, numeric {sn}")
        if self.n_checked:
            lines.append(f"  max abs error {self.max_abs_error:.3g}, "
                         f"max rel error {self.max_rel_error:.3g}")
            lines.append(f"  tolerance: |analytic - numeric| <= atol + rtol*|numeric| + "
                         f"rounding floor, rtol={self.rtol:g}, atol={self.atol:g}, h={self.h:g}")
        if self.detail:
            lines.append(f"  {self.detail}")
        if hint:
            lines.append(f"hint: {hint}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# evaluation of f on a private copy


class _Evaluator:
    """Evaluates a scalar (or array) function at perturbations of a private copy of x."""

    def __init__(self, f, x, *, vector: bool = False):
        self.f = f
        self.x0 = as_float_array(x, "x")
        self.work = self.x0.copy()
        self.flat = self.work.reshape(-1)  # a view: work is contiguous
        self.view = self.work.view()
        self.view.flags.writeable = False
        self.vector = vector
        self.count = 0
        self.out_shape = None

    @property
    def shape(self):
        return self.x0.shape

    @property
    def size(self):
        return self.x0.size

    def _call(self):
        self.count += 1
        try:
            out = self.f(self.view)
        except ValueError as exc:
            if "read-only" in str(exc):
                raise ValueError("the function under check modified its input array in place; "
                                 "it must not (copy it first)") from exc
            raise
        if self.vector:
            arr = as_float_array(out, "f(x)")
            if self.out_shape is None:
                self.out_shape = arr.shape
            elif arr.shape != self.out_shape:
                raise ValueError(f"f(x) changed shape from {self.out_shape} to {arr.shape}")
            return arr
        return as_float_scalar(out, "f(x)")

    def value(self):
        return self._call()

    def coordinate(self, i: int, h: float):
        """(f(x + h e_i), f(x - h e_i), actual step x_i+ - x_i-)."""
        flat = self.flat
        orig = flat[i]
        try:
            flat[i] = orig + h
            xp = flat[i]
            fp = self._call()
            flat[i] = orig - h
            xm = flat[i]
            fm = self._call()
        finally:
            flat[i] = orig
        return fp, fm, xp - xm

    def direction(self, u: np.ndarray, h: float):
        """(f(x + h u), f(x - h u), (x+ - x-) / 2h), the last being u up to rounding."""
        xp = self.x0 + h * u
        xm = self.x0 - h * u
        try:
            self.work[...] = xp
            fp = self._call()
            self.work[...] = xm
            fm = self._call()
        finally:
            self.work[...] = self.x0
        return fp, fm, (xp - xm) / (2.0 * h)


def _check_h(h: float) -> float:
    h = float(h)
    if not (h > 0 and np.isfinite(h)):
        raise ValueError(f"h must be a positive finite step, got {h}")
    return h


def numerical_gradient(f, x, h=1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x`` (any shape, rank 0 up).

    ``(f(x + h e_i) - f(x - h e_i)) / (2h)`` for every entry, computed on a private float64 copy
    of ``x`` (``x`` itself is never touched). Returns a float64 array shaped like ``x``.
    """
    h = _check_h(h)
    ev = _Evaluator(f, x)
    out = np.empty(ev.size)
    for i in range(ev.size):
        fp, fm, step = ev.coordinate(i, h)
        out[i] = (fp - fm) / step
    return out.reshape(ev.shape)


# --------------------------------------------------------------------------------------
# the claimed gradient


class _BadClaim(Exception):
    """The claimed gradient is not an array of the right shape (a failed check, not misuse)."""


def _claimed(grad, ev: _Evaluator) -> np.ndarray:
    value = grad(ev.x0.copy()) if callable(grad) else grad
    try:
        g = as_float_array(value, "the gradient")
    except TypeError as exc:
        raise _BadClaim(f"{exc}") from None
    if g.shape != ev.shape:
        raise _BadClaim(f"the gradient has shape {g.shape}, but x has shape {ev.shape}")
    return g


def _bad_claim_result(method, text, ev, rtol, atol, h) -> GradCheckResult:
    return GradCheckResult(False, float("inf"), float("inf"), None, float("nan"), float("nan"),
                           ev.count, method, 0, 0, rtol, atol, h, None, text)


# --------------------------------------------------------------------------------------
# coordinates


def _coordinates(ev, g, idxs, h, rtol, atol, noise, method) -> GradCheckResult:
    gflat = g.reshape(-1)
    k = len(idxs)
    num = np.empty(k)
    floor = np.empty(k)
    for j, i in enumerate(idxs):
        fp, fm, step = ev.coordinate(int(i), h)
        num[j] = (fp - fm) / step
        floor[j] = noise * _EPS * max(abs(fp), abs(fm)) / h
    ana = gflat[np.asarray(idxs, dtype=np.intp)] if k else np.empty(0)
    return _summarise(method, ana, num, floor, rtol, atol, h, ev,
                      [np.unravel_index(int(i), ev.shape) for i in idxs])


def _summarise(method, ana, num, floor, rtol, atol, h, ev, labels, directions=None,
               detail="") -> GradCheckResult:
    with np.errstate(all="ignore"):
        err = np.abs(ana - num)
        err = np.where(np.isnan(err), np.inf, err)
        tol = atol + rtol * np.abs(num) + np.where(np.isfinite(floor), floor, np.inf)
        failed = ~(err <= tol)
        failed |= ~np.isfinite(ana)
        ratio = np.where(failed, np.inf, err / np.maximum(tol, _TINY))
        rel = err / np.maximum(np.abs(num), _TINY)
    n = len(ana)
    if n == 0:
        return GradCheckResult(True, 0.0, 0.0, None, float("nan"), float("nan"), ev.count, method,
                               0, 0, rtol, atol, h)
    if failed.any():
        # the worst failing entry: largest error relative to its tolerance
        with np.errstate(all="ignore"):
            score = np.where(failed, err / np.maximum(tol, _TINY), -1.0)
        score = np.where(np.isnan(score), np.inf, score)
    else:
        score = ratio
    w = int(np.argmax(score))
    rel_errors = None
    if failed.any() and method in ("full", "sampled") and labels is not None and attachments.active():
        rel_errors = np.full(ev.shape, np.nan)
        for label, value in zip(labels, np.where(failed & ~np.isfinite(rel), np.inf, rel)):
            rel_errors[tuple(int(i) for i in label)] = value
    return GradCheckResult(
        passed=not failed.any(),
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst_index=None if labels is None else tuple(int(i) for i in labels[w]),
        numeric_at_worst=float(num[w]),
        analytic_at_worst=float(ana[w]),
        n_evaluations=ev.count,
        method=method,
        n_checked=n,
        n_failed=int(failed.sum()),
        rtol=rtol,
        atol=atol,
        h=h,
        direction=None if directions is None else int(directions[w]),
        detail=detail,
        rel_errors=rel_errors,
    )


def check_gradient(f, grad, x, *, h=1e-6, rtol=1e-5, atol=1e-8, noise=16.0) -> GradCheckResult:
    """Compare ``grad`` with central differences of ``f`` at every coordinate of ``x``.

    ``grad`` is the claimed gradient at ``x``: an array shaped like ``x``, or a callable
    evaluated once at (a copy of) ``x``. Costs ``2 x.size`` evaluations of ``f``. Metric: see
    the module docstring.
    """
    h = _check_h(h)
    ev = _Evaluator(f, x)
    try:
        g = _claimed(grad, ev)
    except _BadClaim as exc:
        return _bad_claim_result("full", str(exc), ev, rtol, atol, h)
    return _coordinates(ev, g, np.arange(ev.size), h, rtol, atol, noise, "full")


def check_sampled(f, grad, x, *, n_coords=20, seed=0, h=1e-6, rtol=1e-5, atol=1e-8,
                  noise=16.0) -> GradCheckResult:
    """Like :func:`check_gradient` on ``n_coords`` distinct coordinates drawn with
    ``np.random.default_rng(seed)`` (all coordinates if ``x`` has fewer)."""
    h = _check_h(h)
    ev = _Evaluator(f, x)
    try:
        g = _claimed(grad, ev)
    except _BadClaim as exc:
        return _bad_claim_result("sampled", str(exc), ev, rtol, atol, h)
    rng = np.random.default_rng(seed)
    m = min(int(n_coords), ev.size)
    idxs = np.sort(rng.choice(ev.size, size=m, replace=False)) if m < ev.size else np.arange(m)
    return _coordinates(ev, g, idxs, h, rtol, atol, noise, "sampled")


# --------------------------------------------------------------------------------------
# directions


def _dir_compare(ev, g, u, h, rtol, atol, noise):
    """(numeric, analytic, tolerance) of one directional derivative."""
    fp, fm, d = ev.direction(u, h)
    numeric = (fp - fm) / (2.0 * h)
    prod = g * d
    analytic = float(prod.sum())
    floor = noise * _EPS * (max(abs(fp), abs(fm)) / h + float(np.abs(prod).sum()))
    tol = atol + rtol * abs(numeric) + floor
    return numeric, analytic, tol


def _localise(ev, g, u, h, rtol, atol, noise):
    """Bisect the coordinates of a failing direction ``u`` down to one coordinate.

    At each level the half whose restricted directional derivative is further out of tolerance
    is kept (4 evaluations per level). Returns the flat index reached.
    """
    idx = np.arange(ev.size)
    uflat = u.reshape(-1)
    while len(idx) > 1:
        half = len(idx) // 2
        best = None
        for part in (idx[:half], idx[half:]):
            v = np.zeros(ev.size)
            v[part] = uflat[part]
            num, ana, tol = _dir_compare(ev, g, v.reshape(ev.shape), h, rtol, atol, noise)
            score = abs(num - ana) / max(tol, _TINY)
            if not np.isfinite(score):
                score = np.inf
            if best is None or score > best[0]:
                best = (score, part)
            if score > 1:  # this half is wrong on its own: no need to look at the other
                break
        idx = best[1]
    return int(idx[0])


def check_directional(f, grad, x, *, n_directions=4, seed=0, h=1e-6, rtol=1e-5, atol=1e-8,
                      noise=16.0, localise=True) -> GradCheckResult:
    """Compare directional derivatives along ``n_directions`` Gaussian directions.

    For ``u ~ N(0, I)`` drawn with ``np.random.default_rng(seed)``: numeric
    ``(f(x + h u) - f(x - h u)) / 2h`` against analytic ``<grad, u>``, with the module's metric.
    Costs ``2 n_directions`` evaluations of ``f`` whatever the size of ``x``. On failure, if
    ``localise``, the error is bisected down to one coordinate (about ``4 log2(x.size)`` more
    evaluations), which is then checked by a central difference and reported as
    ``worst_index`` with its numeric and analytic values.
    """
    h = _check_h(h)
    ev = _Evaluator(f, x)
    try:
        g = _claimed(grad, ev)
    except _BadClaim as exc:
        return _bad_claim_result("directional", str(exc), ev, rtol, atol, h)
    rng = np.random.default_rng(seed)
    k = int(n_directions)
    nums, anas, tols, us = np.empty(k), np.empty(k), np.empty(k), []
    for j in range(k):
        u = rng.standard_normal(ev.shape)
        nums[j], anas[j], tols[j] = _dir_compare(ev, g, u, h, rtol, atol, noise)
        us.append(u)
    # express the floor as "everything beyond atol + rtol*|num|" for _summarise
    floor = tols - atol - rtol * np.abs(nums)
    res = _summarise("directional", anas, nums, floor, rtol, atol, h, ev, None,
                     directions=np.arange(k))
    if res.passed or not localise or ev.size == 0:
        res.n_evaluations = ev.count
        return res
    j = res.direction
    res.detail = (f"direction {j} of {k} (Gaussian, seed={seed}): numeric {fmt(nums[j])}, "
                  f"analytic <grad, u> {fmt(anas[j])}")
    if not np.isfinite(anas[j]):
        bad = np.flatnonzero(~np.isfinite(g.reshape(-1)))
        i = int(bad[0]) if bad.size else _localise(ev, g, us[j], h, rtol, atol, noise)
    else:
        i = _localise(ev, g, us[j], h, rtol, atol, noise)
    coord = _coordinates(ev, g, [i], h, rtol, atol, noise, "directional")
    if not coord.passed:
        res.worst_index = coord.worst_index
        res.numeric_at_worst = coord.numeric_at_worst
        res.analytic_at_worst = coord.analytic_at_worst
        res.detail += "; the wrong coordinate was found by bisection"
    else:
        res.detail += "; the error is spread over several coordinates (bisection found none alone)"
    res.n_evaluations = ev.count
    return res


# --------------------------------------------------------------------------------------
# vector-Jacobian products


def check_vjp(f, vjp, x, *, n_directions=3, seed=0, h=1e-6, rtol=1e-5, atol=1e-8,
              noise=16.0) -> GradCheckResult:
    """Check a vector-Jacobian product of an array-valued ``f`` at ``x``.

    For ``n_directions`` Gaussian cotangents ``u`` shaped like ``f(x)`` (seeded), the claimed
    gradient of ``phi(x) = <u, f(x)>`` is ``vjp(u)`` if ``vjp`` is callable, or
    ``tensordot(u, J)`` if ``vjp`` is a full Jacobian array of shape ``f(x).shape + x.shape``.
    It is compared at every coordinate with central differences of ``phi`` (``2 x.size + 1``
    evaluations of ``f`` in all, shared by the directions). ``worst_index`` indexes ``x``;
    ``direction`` says which cotangent.
    """
    h = _check_h(h)
    ev = _Evaluator(f, x, vector=True)
    y0 = ev.value()
    rng = np.random.default_rng(seed)
    k = int(n_directions)
    us = [rng.standard_normal(y0.shape) for _ in range(k)]
    claims = []
    try:
        if callable(vjp):
            for u in us:
                try:
                    c = as_float_array(vjp(u.copy()), "vjp(u)")
                except TypeError as exc:
                    raise _BadClaim(str(exc)) from None
                if c.shape != ev.shape:
                    raise _BadClaim(f"vjp(u) has shape {c.shape}, but x has shape {ev.shape}")
                claims.append(c.reshape(-1))
        else:
            try:
                J = as_float_array(vjp, "the Jacobian")
            except TypeError as exc:
                raise _BadClaim(str(exc)) from None
            if J.shape != y0.shape + ev.shape:
                raise _BadClaim(f"the Jacobian has shape {J.shape}, expected "
                                f"f(x).shape + x.shape = {y0.shape + ev.shape}")
            Jm = J.reshape(y0.size, ev.size)
            claims = [u.reshape(-1) @ Jm for u in us]
    except _BadClaim as exc:
        return _bad_claim_result("vjp", str(exc) + f" ({type_name(vjp)} given)", ev, rtol, atol,
                                 h)
    U = np.stack([u.reshape(-1) for u in us]) if k else np.empty((0, y0.size))
    num = np.empty((k, ev.size))
    floor = np.empty((k, ev.size))
    for i in range(ev.size):
        fp, fm, step = ev.coordinate(i, h)
        num[:, i] = U @ (fp.reshape(-1) - fm.reshape(-1)) / step
        scale = np.maximum(np.abs(U) @ np.abs(fp.reshape(-1)), np.abs(U) @ np.abs(fm.reshape(-1)))
        floor[:, i] = noise * _EPS * scale / h
    ana = np.stack(claims) if k else np.empty((0, ev.size))
    labels = [np.unravel_index(i, ev.shape) for _ in range(k) for i in range(ev.size)]
    dirs = np.repeat(np.arange(k), ev.size)
    res = _summarise("vjp", ana.reshape(-1), num.reshape(-1), floor.reshape(-1), rtol, atol, h,
                     ev, labels, directions=dirs)
    if not res.passed:
        res.detail = f"cotangent u number {res.direction} of {k} (Gaussian, seed={seed})"
    return res


# --------------------------------------------------------------------------------------
# asserting wrappers


def _raise_if_failed(res: GradCheckResult, name, hint) -> GradCheckResult:
    if not res.passed and res.rel_errors is not None:
        attachments.attach("heatmap", title=f"{name}: relative error per entry "
                           f"(analytic vs central difference, {res.method} check)",
                           rel_error=attachments.error_map(res.rel_errors), rtol=res.rtol)
    if not res.passed:
        raise AssertionError(res.message(name, hint))
    return res


def assert_gradient(f, grad, x, *, h=1e-6, rtol=1e-5, atol=1e-8, noise=16.0, name="gradient",
                    hint=None) -> GradCheckResult:
    """:func:`check_gradient`, raising AssertionError (worst index, both values, hint) on failure."""
    res = check_gradient(f, grad, x, h=h, rtol=rtol, atol=atol, noise=noise)
    return _raise_if_failed(res, name, hint)


def assert_sampled(f, grad, x, *, n_coords=20, seed=0, h=1e-6, rtol=1e-5, atol=1e-8, noise=16.0,
                   name="gradient", hint=None) -> GradCheckResult:
    """:func:`check_sampled`, raising AssertionError on failure."""
    res = check_sampled(f, grad, x, n_coords=n_coords, seed=seed, h=h, rtol=rtol, atol=atol,
                        noise=noise)
    return _raise_if_failed(res, name, hint)


def assert_directional(f, grad, x, *, n_directions=4, seed=0, h=1e-6, rtol=1e-5, atol=1e-8,
                       noise=16.0, name="gradient", hint=None) -> GradCheckResult:
    """:func:`check_directional`, raising AssertionError on failure."""
    res = check_directional(f, grad, x, n_directions=n_directions, seed=seed, h=h, rtol=rtol,
                            atol=atol, noise=noise)
    return _raise_if_failed(res, name, hint)


def assert_vjp(f, vjp, x, *, n_directions=3, seed=0, h=1e-6, rtol=1e-5, atol=1e-8, noise=16.0,
               name="vector-Jacobian product", hint=None) -> GradCheckResult:
    """:func:`check_vjp`, raising AssertionError on failure."""
    res = check_vjp(f, vjp, x, n_directions=n_directions, seed=seed, h=h, rtol=rtol, atol=atol,
                    noise=noise)
    return _raise_if_failed(res, name, hint)


def assert_gradient_fast(f, grad, x, *, n_directions=4, n_coords=20, seed=0, h=1e-6, rtol=1e-5,
                         atol=1e-8, noise=16.0, name="gradient", hint=None) -> GradCheckResult:
    """Directional check plus sampled coordinates: cost independent of ``x.size``.

    Runs :func:`check_directional` (``n_directions`` Gaussian directions) and then
    :func:`check_sampled` (``n_coords`` random coordinates), ``2 (n_directions + n_coords)``
    evaluations of ``f`` when the gradient is right. ``grad`` (array or callable) is evaluated
    once.

    Why one wrong coordinate out of ``N`` is caught. Let the claimed gradient be ``g + delta e_k``.
    Along a Gaussian direction ``u`` the analytic directional derivative is off by exactly
    ``delta u_k``, and the check fails when ``|delta u_k| > tol ~ atol + rtol |<g, u>|`` (plus the
    rounding floor). ``<g, u> = |g| z`` with ``z`` standard normal, so with
    ``c = rtol |g| / |delta|`` one direction misses with probability
    ``P(|u_k| < c |z|) = (2/pi) arctan(c) ~ 0.64 c`` (``u_k``, ``z`` independent standard
    normals), and all ``n_directions`` independent directions miss with probability
    ``((2/pi) arctan(c))^n_directions``. Example: ``N = 10^4`` entries of typical size ``s``
    (``|g| = 100 s``), ``rtol = 1e-5``: an error ``delta = 0.01 s`` gives ``c = 0.1`` and a miss
    probability ``1.6e-5``; ``delta = 0.1 s`` gives ``2e-9``; ``delta = s`` gives ``2e-13``.
    (Measured with 500 planted errors each: ``c = 1`` predicts 6.3% misses and 35/500 = 7% were
    missed; at ``c <= 0.33`` none was.) The sampled coordinates add an independent chance
    ``m/N`` (``m = n_coords``) of hitting ``k`` itself, which catches any error there above the
    per-coordinate tolerance. The bisection then names ``k`` in the message. The test suite plants such errors for
    200 seeds.
    """
    h = _check_h(h)
    g = _claimed_outside(grad, x)
    if isinstance(g, GradCheckResult):
        return _raise_if_failed(g, name, hint)
    directional = check_directional(f, g, x, n_directions=n_directions, seed=seed, h=h,
                                    rtol=rtol, atol=atol, noise=noise)
    _raise_if_failed(directional, name, hint)
    sampled = check_sampled(f, g, x, n_coords=n_coords, seed=seed, h=h, rtol=rtol, atol=atol,
                            noise=noise)
    sampled.n_evaluations += directional.n_evaluations
    _raise_if_failed(sampled, name, hint)
    sampled.method = "directional+sampled"
    sampled.max_abs_error = max(sampled.max_abs_error, directional.max_abs_error)
    sampled.max_rel_error = max(sampled.max_rel_error, directional.max_rel_error)
    return sampled


def _claimed_outside(grad, x):
    """Evaluate a callable gradient once; a failed result if it is not a proper array."""
    if not callable(grad):
        return grad
    x0 = as_float_array(x, "x")
    value = grad(x0.copy())
    try:
        g = as_float_array(value, "the gradient")
    except TypeError as exc:
        return GradCheckResult(False, float("inf"), float("inf"), None, float("nan"),
                               float("nan"), 0, "directional+sampled", 0, 0,
                               detail=f"{exc} (returned by the gradient function)")
    return g
