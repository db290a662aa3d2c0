"""hw2_layer_gradient: my answers as a plain script (I could not get Jupyter to work)."""


import numpy as np


# exp(-EXP_CUTOFF) ~ 1e-304 is still a normal float64; below it e^{-|z|} is taken as exactly 0,
# an absolute error under 1e-304, so no overflow, underflow or warning can occur.
EXP_CUTOFF = 700.0


def _exp_neg_abs(z):
    """e^{-|z|} in [0, 1]: never overflows, and is set to 0 (no underflow) once |z| > EXP_CUTOFF."""
    a = np.abs(z)
    out = np.zeros_like(a)
    np.exp(-a, out=out, where=a < EXP_CUTOFF)
    return out


def sigmoid(z):
    """Elementwise logistic function 1 / (1 + e^{-z}), any shape.

    Stable: only e^{-|z|} is ever computed, so |z| up to 1000 (and beyond) is finite and
    warning-free, even under np.errstate(all="raise").
    """
    z = np.asarray(z, dtype=np.float64)
    e = _exp_neg_abs(z)
    return np.asarray(np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)


def sigmoid_grad(z):
    """Elementwise derivative of the sigmoid, sigma(z) (1 - sigma(z)), any shape.

    Written as e / (1 + e)^2 with e = exp(-|z|) (the derivative is even), so it stays
    accurate and warning-free for large |z| (it goes to 0 without an underflow).
    """
    z = np.asarray(z, dtype=np.float64)
    e = _exp_neg_abs(z)
    return np.asarray(e / ((1.0 + e) * (1.0 + e)), dtype=np.float64)


def tanh_grad(z):
    """Elementwise derivative of tanh: 1 - tanh(z)^2, any shape."""
    z = np.asarray(z, dtype=np.float64)
    t = np.tanh(z)
    return np.asarray(1.0 - t * t, dtype=np.float64)


def relu(z):
    """Elementwise max(0, z), any shape."""
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(np.maximum(z, 0.0), dtype=np.float64)


def relu_grad(z):
    """Elementwise ReLU derivative: 1.0 where z > 0, else 0.0 (so 0.0 at z == 0)."""
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(z > 0, dtype=np.float64)


def softplus(z):
    """Elementwise soft ReLU log(1 + e^z), any shape.

    Computed as max(z, 0) + log1p(e^{-|z|}), finite and warning-free for large |z|.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(np.maximum(z, 0.0) + np.log1p(_exp_neg_abs(z)), dtype=np.float64)


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
