"""Benchmark problems with known optima, built from seeded generators only.

Every problem is a :class:`Problem`: ``loss(x) -> float``, ``grad(x) -> array``, a start ``x0``,
the optimum ``x_star`` and ``f_star`` where known, and the smoothness (``L``) and strong
convexity (``mu``) constants where known, so a test can pick a safe step size ``1 / L``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LinearRegressionData",
    "LogisticRegressionData",
    "Problem",
    "linear_regression_data",
    "logistic_regression_data",
    "cubes",
    "least_squares_gradient",
    "quadratic",
    "quadratic_gradient",
    "rosenbrock",
    "sines_and_squares",
    "xor",
    "xor_accuracy",
]


@dataclass
class Problem:
    """An optimisation problem: minimise ``loss`` starting from ``x0``.

    ``x_star``/``f_star`` are the minimiser and minimum (None when unknown); ``L`` and ``mu``
    the gradient's Lipschitz constant and the strong-convexity constant (None when not
    meaningful); ``data`` holds whatever defines the problem (``A``, ``X``, ``y``...).
    ``x0`` is returned as a copy by :meth:`start`.
    """

    loss: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    x0: np.ndarray
    x_star: np.ndarray | None = None
    f_star: float | None = None
    name: str = "problem"
    L: float | None = None
    mu: float | None = None
    data: dict = field(default_factory=dict)

    def start(self) -> np.ndarray:
        """A fresh copy of ``x0``."""
        return np.array(self.x0, dtype=np.float64, copy=True)


def quadratic(dim=10, condition=10.0, seed=0) -> Problem:
    """``f(x) = 0.5 (x - x*)^T A (x - x*)``, convex, with condition number ``condition``.

    ``A = Q diag(lambda) Q^T`` with ``Q`` a random orthogonal matrix and eigenvalues spaced
    geometrically from ``1/condition`` to ``1`` (so ``L = 1``, ``mu = 1/condition``). ``x*``
    and ``x0`` are standard normal; ``f* = 0`` exactly, and ``f`` is computed from ``x - x*``
    so it is accurate near the optimum.
    """
    dim = int(dim)
    condition = float(condition)
    if dim < 1 or condition < 1:
        raise ValueError("need dim >= 1 and condition >= 1")
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
    Q = Q * np.sign(np.diag(R))
    eig = np.geomspace(1.0 / condition, 1.0, dim) if dim > 1 else np.array([1.0])
    A = (Q * eig) @ Q.T
    A = 0.5 * (A + A.T)
    x_star = rng.standard_normal(dim)
    x0 = rng.standard_normal(dim)

    def loss(x):
        d = np.asarray(x, dtype=np.float64) - x_star
        return float(0.5 * d @ (A @ d))

    grad = quadratic_gradient(A, x_star)
    return Problem(loss, grad, x0, x_star.copy(), 0.0, f"quadratic(dim={dim}, condition={condition:g})",
                   L=float(eig.max()), mu=float(eig.min()), data={"A": A, "eigenvalues": eig})


def quadratic_gradient(A, x_star) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> A (x - x_star)``, the gradient of ``0.5 (x - x_star)^T A (x - x_star)``.

    Its ``spec`` gives the formula as plain data: passed to a student's function (or a StepCall
    loop) in the sandbox, it is computed there with the same expression, bit for bit
    (autograder/sandbox/loops.py), instead of one round trip to the grader per evaluation.
    """
    A = np.array(A, dtype=np.float64)
    x_star = np.array(x_star, dtype=np.float64)

    def grad(x):
        return A @ (np.asarray(x, dtype=np.float64) - x_star)

    grad.spec = ("quadratic", {"A": A, "x_star": x_star})
    return grad


def least_squares_gradient(X, Y) -> Callable[[np.ndarray], np.ndarray]:
    """``theta -> 2 X^T (X theta - Y)``, the gradient of the sum of squares ``||X theta - Y||^2``
    (``Y`` a vector or one column per output); with a ``spec`` as :func:`quadratic_gradient`."""
    X = np.array(X, dtype=np.float64)
    Y = np.array(Y, dtype=np.float64)

    def grad(theta):
        return 2.0 * X.T @ (X @ np.asarray(theta, dtype=np.float64) - Y)

    grad.spec = ("least_squares", {"X": X, "Y": Y})
    return grad


def _shape_guard(v, shape, caller):
    v = np.asarray(v, dtype=np.float64)
    if v.shape != shape:
        raise ValueError(f"f was called with an array of shape {v.shape}; {caller} must call f "
                         f"with arrays shaped like x, {shape}")
    return v


def sines_and_squares(c, w, caller="the function") -> Callable[[np.ndarray], float]:
    """``f(v) = sum(c * sin(v)) + 0.5 * sum(w * v * v)`` for ``v`` shaped like ``c`` (a smooth
    function to take numerical gradients of; its gradient is ``c cos(v) + w v``). Called with
    another shape it raises ValueError saying that ``caller`` must call f with arrays shaped like
    x. With a ``spec`` as :func:`quadratic_gradient`: computed next to the student's code."""
    c = np.array(c, dtype=np.float64)
    w = np.array(w, dtype=np.float64)
    shape = tuple(c.shape)

    def f(v):
        v = _shape_guard(v, shape, caller)
        return float(np.sum(c * np.sin(v)) + 0.5 * np.sum(w * v * v))

    f.spec = ("sines_and_squares", {"c": c, "w": w, "caller": str(caller)})
    return f


def cubes(a, caller="the function") -> Callable[[np.ndarray], float]:
    """``f(v) = sum(a * v**3)`` for ``v`` shaped like ``a`` (central differences with step h
    give exactly ``3 a v**2 + a h**2``); shape check and ``spec`` as :func:`sines_and_squares`."""
    a = np.array(a, dtype=np.float64)
    shape = tuple(a.shape)

    def f(v):
        v = _shape_guard(v, shape, caller)
        return float(np.sum(a * v**3))

    f.spec = ("cubes", {"a": a, "caller": str(caller)})
    return f


def rosenbrock(a=1.0, b=100.0) -> Problem:
    """``f(x, y) = (a - x)^2 + b (y - x^2)^2``; optimum ``(a, a^2)``, ``f* = 0``; ``x0 = (-1.2, 1)``.

    Not convex; ``L`` and ``mu`` are None.
    """
    a = float(a)
    b = float(b)

    def loss(p):
        x, y = np.asarray(p, dtype=np.float64)
        return float((a - x) ** 2 + b * (y - x * x) ** 2)

    def grad(p):
        x, y = np.asarray(p, dtype=np.float64)
        return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])

    grad.spec = ("rosenbrock", {"a": a, "b": b})

    return Problem(loss, grad, np.array([-1.2, 1.0]), np.array([a, a * a]), 0.0,
                   f"rosenbrock(a={a:g}, b={b:g})")


@dataclass
class LinearRegressionData:
    """Data of :func:`linear_regression_data`; unpacks as ``X, y, theta_star = data``."""

    X: np.ndarray
    y: np.ndarray
    theta_star: np.ndarray
    theta_true: np.ndarray
    problem: Problem

    def __iter__(self):
        return iter((self.X, self.y, self.theta_star))


def linear_regression_data(n=100, d=3, seed=0, noise=0.1) -> LinearRegressionData:
    """``X`` ``(n, d)`` standard normal, ``y = X theta_true + noise * N(0, 1)``.

    ``theta_star`` is the exact least-squares solution (``np.linalg.lstsq``), the minimiser of the
    problem's loss, the mean ``(1/n) sum_i 0.5 (x_i^T theta - y_i)^2`` (the loss of
    ``sgd_linear_regression``; the sum of squares of hw1 has the same minimiser). The problem
    starts at zeros; ``L`` and ``mu`` are the extreme eigenvalues of ``X^T X / n``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(n), int(d)))
    theta_true = rng.standard_normal(int(d))
    y = X @ theta_true + float(noise) * rng.standard_normal(int(n))
    theta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    n_ = X.shape[0]

    def loss(theta):
        r = X @ np.asarray(theta, dtype=np.float64) - y
        return float(0.5 * (r @ r) / n_)

    def grad(theta):
        return X.T @ (X @ np.asarray(theta, dtype=np.float64) - y) / n_

    grad.spec = ("linear_regression", {"X": X, "y": y})

    eig = np.linalg.eigvalsh(X.T @ X / n_)
    problem = Problem(loss, grad, np.zeros(X.shape[1]), theta_star.copy(), loss(theta_star),
                      f"linear_regression(n={n}, d={d}, seed={seed})", L=float(eig.max()),
                      mu=float(max(eig.min(), 0.0)), data={"X": X, "y": y})
    return LinearRegressionData(X, y, theta_star, theta_true, problem)


@dataclass
class LogisticRegressionData:
    """Data of :func:`logistic_regression_data`; unpacks as ``X, t, w_star = data``."""

    X: np.ndarray
    t: np.ndarray
    w_star: np.ndarray
    w_true: np.ndarray
    lam: float
    problem: Problem

    def __iter__(self):
        return iter((self.X, self.t, self.w_star))


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def logistic_regression_data(n=200, d=3, seed=0, lam=1e-2) -> LogisticRegressionData:
    """Binary labels ``t`` in {0, 1} drawn from ``sigmoid(X w_true)``, ``X`` standard normal.

    Loss: ``mean_i [log(1 + e^{z_i}) - t_i z_i] + 0.5 lam |w|^2`` with ``z = X w`` (the L2 term
    makes the optimum exist and unique even for separable data). ``w_star`` is found by
    Newton's method in float64 to a gradient norm below 1e-13; ``L = max eig(X^T X)/(4n) + lam``
    and ``mu = lam``.
    """
    if lam <= 0:
        raise ValueError("lam must be positive so that the optimum exists")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(n), int(d)))
    w_true = 2.0 * rng.standard_normal(int(d))
    t = (rng.random(int(n)) < _sigmoid(X @ w_true)).astype(np.float64)
    n_ = X.shape[0]
    lam = float(lam)

    def loss(w):
        w = np.asarray(w, dtype=np.float64)
        z = X @ w
        return float(np.mean(np.logaddexp(0.0, z) - t * z) + 0.5 * lam * (w @ w))

    def grad(w):
        w = np.asarray(w, dtype=np.float64)
        return X.T @ (_sigmoid(X @ w) - t) / n_ + lam * w

    w = np.zeros(X.shape[1])
    for _ in range(100):
        g = grad(w)
        if np.linalg.norm(g) < 1e-13:
            break
        s = _sigmoid(X @ w)
        H = (X.T * (s * (1 - s))) @ X / n_ + lam * np.eye(X.shape[1])
        step = np.linalg.solve(H, g)
        # damped Newton: halve until the loss decreases (it converges quadratically near w*)
        f0, alpha = loss(w), 1.0
        while loss(w - alpha * step) > f0 and alpha > 1e-10:
            alpha *= 0.5
        w = w - alpha * step
    else:  # pragma: no cover - Newton on a strongly convex smooth problem converges
        raise RuntimeError("Newton's method did not converge")
    eig = np.linalg.eigvalsh(X.T @ X / n_)
    problem = Problem(loss, grad, np.zeros(X.shape[1]), w.copy(), loss(w),
                      f"logistic_regression(n={n}, d={d}, seed={seed}, lam={lam:g})",
                      L=float(eig.max() / 4 + lam), mu=lam, data={"X": X, "t": t, "lam": lam})
    return LogisticRegressionData(X, t, w, w_true, lam, problem)


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR data of the contract: ``X = [[0,0],[0,1],[1,0],[1,1]]`` ``(4, 2)``,
    ``T = [[0],[1],[1],[0]]`` ``(4, 1)``, both float64 (fresh arrays each call)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    T = np.array([[0.0], [1.0], [1.0], [0.0]])
    return X, T


def xor_accuracy(Y, T=None, threshold=0.5) -> float:
    """Fraction of the 4 XOR rows classified right: ``(Y > threshold) == (T > 0.5)``.

    ``Y`` is the network output ``(4, 1)`` (or ``(4,)``); ``T`` defaults to the XOR targets.
    """
    if T is None:
        T = xor()[1]
    Y = np.asarray(Y, dtype=np.float64).reshape(-1)
    T = np.asarray(T, dtype=np.float64).reshape(-1)
    if Y.shape != T.shape:
        raise ValueError(f"outputs have {Y.size} entries, targets {T.size}")
    return float(np.mean((Y > threshold) == (T > 0.5)))
