"""Reference solutions for hw1_linear_regression: the normal equation and gradient descent.

NumPy only. Every function returns new float64 arrays and never modifies its inputs.
"""

from __future__ import annotations

import numpy as np


def design_matrix(X):
    """Append a column of ones to the inputs (the lecture puts the bias column last).

    X: (n, d). Returns (n, d+1): the columns of X in their original order, then ones.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    return np.concatenate([X, np.ones((n, 1), dtype=np.float64)], axis=1)


def polynomial_design_matrix(x, m):
    """Polynomial features of a 1-D input, highest power first.

    x: (n,), m >= 0 an int. Returns (n, m+1) with columns x**m, x**(m-1), ..., x, 1.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    m = int(m)
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    powers = np.arange(m, -1, -1)
    return x[:, None] ** powers[None, :]


def normal_equation(X_D, Y):
    """Least-squares parameters theta = (X_D^T X_D)^{-1} X_D^T Y.

    X_D: (n, p); Y: (n,) gives theta (p,), Y: (n, k) gives theta (p, k).
    Solved with np.linalg.lstsq (SVD) rather than an explicit inverse, for numerical soundness.
    """
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta, *_ = np.linalg.lstsq(X_D, Y, rcond=None)
    return np.asarray(theta, dtype=np.float64)


def squared_error(X_D, Y, theta):
    """Sum (not mean) of squared residuals (Y - X_D theta)^T (Y - X_D theta), as a float.

    X_D: (n, p); Y: (n,) with theta (p,), or Y: (n, k) with theta (p, k) (summed over all entries).
    """
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    r = Y - X_D @ theta
    return float(np.sum(r * r))


def squared_error_grad(X_D, Y, theta):
    """Gradient of squared_error with respect to theta: -2 X_D^T Y + 2 X_D^T X_D theta.

    Same shape as theta ((p,) or (p, k)).
    """
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    return 2.0 * (X_D.T @ (X_D @ theta - Y))


def gradient_descent(grad_fn, theta0, lr, steps):
    """Plain gradient descent theta_{t+1} = theta_t - lr * grad_fn(theta_t).

    grad_fn maps an array shaped like theta0 to its gradient. Returns every iterate,
    theta0 first: shape (steps+1, *theta0.shape). theta0 is not modified.
    """
    theta = np.array(theta0, dtype=np.float64, copy=True)
    steps = int(steps)
    out = np.empty((steps + 1, *theta.shape), dtype=np.float64)
    out[0] = theta
    for t in range(steps):
        g = np.asarray(grad_fn(theta.copy()), dtype=np.float64)
        theta = theta - lr * g
        out[t + 1] = theta
    return out
