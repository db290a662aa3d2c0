"""Reference solutions for hw2_layer_gradient: activations, numerical gradients, a layer's gradient.

NumPy only. Every function returns new float64 arrays and never modifies its inputs.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """Elementwise logistic function 1 / (1 + e^{-z}), any shape.

    Stable: exp is only ever taken of -|z|, so |z| up to 1000 (and beyond) gives no warning.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1], never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z):
    """Elementwise derivative of the sigmoid, sigma(z) (1 - sigma(z)), any shape.

    Written as e / (1 + e)^2 with e = exp(-|z|) (the derivative is even), so it stays
    accurate and warning-free for large |z| (it underflows gracefully to 0).
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return e / ((1.0 + e) * (1.0 + e))


def tanh_grad(z):
    """Elementwise derivative of tanh: 1 - tanh(z)^2, any shape."""
    z = np.asarray(z, dtype=np.float64)
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z):
    """Elementwise max(0, z), any shape."""
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0)


def relu_grad(z):
    """Elementwise ReLU derivative: 1.0 where z > 0, else 0.0 (so 0.0 at z == 0)."""
    z = np.asarray(z, dtype=np.float64)
    return (z > 0).astype(np.float64)


def softplus(z):
    """Elementwise soft ReLU log(1 + e^z), any shape.

    Computed as max(z, 0) + log1p(e^{-|z|}), finite and warning-free for large |z|.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_grad(z):
    """Elementwise derivative of softplus: sigma(z), any shape."""
    return sigmoid(z)


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function f at x (any shape, including 0-d).

    Entry i is (f(x + h e_i) - f(x - h e_i)) / (2h). Returns a float64 array shaped like x.
    Works on a private copy, so the caller's x keeps its values (and is never touched).
    """
    xw = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xw)
    flat = xw.reshape(-1)  # a view of xw: writing to it perturbs xw
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = float(f(xw.copy()))
        flat[i] = old - h
        f_minus = float(f(xw.copy()))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def _xbar(x):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return np.concatenate([np.ones(1, dtype=np.float64), x])


def neuron_layer(x, theta):
    """One sigmoid layer sigma(theta^T xbar) with xbar = [1, x_1, ..., x_{d_x}] (bias first).

    x: (d_x,), theta: (d_x+1, d_y). Returns (d_y,).
    """
    theta = np.asarray(theta, dtype=np.float64)
    return sigmoid(theta.T @ _xbar(x))


def layer_grad(x, theta):
    """The lecture's layer gradient (sigma(z) * (1 - sigma(z))) xbar^T with z = theta^T xbar.

    x: (d_x,), theta: (d_x+1, d_y). Returns (d_y, d_x+1); entry [j, i] is the derivative of
    output j with respect to theta[i, j].
    """
    theta = np.asarray(theta, dtype=np.float64)
    xbar = _xbar(x)
    z = theta.T @ xbar
    return np.outer(sigmoid_grad(z), xbar)


def quadratic_form_grad(A, x):
    """Gradient of x^T A x for any square A (not only symmetric): (A + A^T) x, shape (d,)."""
    A = np.asarray(A, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return (A + A.T) @ x


def quadratic_form_hessian(A):
    """Hessian of x^T A x: A + A^T, shape (d, d)."""
    A = np.asarray(A, dtype=np.float64)
    return A + A.T
