"""Reference solutions for hw3_backprop: backpropagation by hand.

NumPy only. Every function returns new float64 arrays (Python floats where a scalar is stated)
and never modifies its inputs.
"""

from __future__ import annotations

import numpy as np

XOR_X = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
XOR_T = ((0.0,), (1.0,), (1.0,), (0.0,))
PARAM_KEYS = ("W1", "b1", "W2", "b2")


# Exponents below -EXP_CUTOFF give exactly 0 instead of a tiny or subnormal float (an absolute
# error under 1e-260), so nothing here overflows, underflows or warns, even under
# np.errstate(all="raise").
EXP_CUTOFF = 600.0


def _exp_nonpositive(s):
    """e^s for s <= 0, taken as exactly 0 where s < -EXP_CUTOFF."""
    out = np.zeros_like(s)
    np.exp(s, out=out, where=s > -EXP_CUTOFF)
    return out


def _sigmoid(z):
    """Stable elementwise logistic function (exp only of -|z|)."""
    z = np.asarray(z, dtype=np.float64)
    e = _exp_nonpositive(-np.abs(z))
    return np.asarray(np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)


def toy_loss_and_grad(x, y, phi):
    """Loss and gradient of the lecture's composite toy function.

    phi = [beta0, omega0, beta1, omega1, beta2, omega2, beta3, omega3], shape (8,); x, y floats.
    f = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x))),
    loss = (f - y)^2. Returns (loss, grad): loss a float, grad (8,) in the order of phi.
    Forward pass stores every intermediate; the backward pass applies the chain rule in reverse.
    """
    b0, w0, b1, w1, b2, w2, b3, w3 = (float(v) for v in np.asarray(phi, dtype=np.float64))
    x = float(x)
    y = float(y)
    # forward
    f0 = b0 + w0 * x
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3
    loss = (f3 - y) ** 2
    # backward
    d_f3 = 2.0 * (f3 - y)
    d_h3 = w3 * d_f3
    d_f2 = -np.sin(f2) * d_h3
    d_h2 = w2 * d_f2
    d_f1 = h2 * d_h2  # d exp(f1) / d f1 = exp(f1) = h2
    d_h1 = w1 * d_f1
    d_f0 = np.cos(f0) * d_h1
    grad = np.array(
        [d_f0, d_f0 * x, d_f1, d_f1 * h1, d_f2, d_f2 * h2, d_f3, d_f3 * h3],
        dtype=np.float64,
    )
    return float(loss), grad


def logistic_least_squares(w, b, x, t, lam):
    """Logistic least squares with L2 on one example, all scalars.

    z = w x + b, y = sigma(z), loss = 0.5 (y - t)^2 + lam * 0.5 * w^2.
    Returns (loss, dloss_dw, dloss_db) as Python floats.
    """
    w, b, x, t, lam = (float(v) for v in (w, b, x, t, lam))
    z = w * x + b
    y = float(_sigmoid(z))
    loss = 0.5 * (y - t) ** 2 + lam * 0.5 * w**2
    y_bar = y - t
    z_bar = y_bar * y * (1.0 - y)
    dw = z_bar * x + lam * w
    db = z_bar
    return float(loss), float(dw), float(db)


def _log_softmax(Z):
    """Row-wise log softmax by log-sum-exp: S - log sum_j exp(S_j), S = Z - row max."""
    S = Z - np.max(Z, axis=-1, keepdims=True)
    sums = np.sum(_exp_nonpositive(S), axis=-1, keepdims=True)  # >= 1: the max entry gives 1
    return S - np.log(sums)


def softmax(Z):
    """Row-wise softmax of Z (n, k). Computed as exp(log_softmax(Z)) with the row maximum
    subtracted first, so entries of size 1e4 neither overflow nor warn. Returns (n, k)."""
    Z = np.asarray(Z, dtype=np.float64)
    return _exp_nonpositive(_log_softmax(Z))


def softmax_cross_entropy(Z, T):
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    Z: (n, k) logits, T: (n, k) one-hot. loss = -(1/n) sum_i sum_k T_ik log softmax(Z)_ik, via the
    log-sum-exp form log softmax(Z)_ik = Z_ik - m_i - log sum_j exp(Z_ij - m_i), m_i = max_j Z_ij,
    so it stays finite and exact when a row's entries differ by 1e3.
    Returns (loss, dZ): loss a float, dZ = (softmax(Z) - T) / n, shape (n, k).
    """
    Z = np.asarray(Z, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n = Z.shape[0]
    log_probs = _log_softmax(Z)
    loss = -float(np.sum(T * log_probs)) / n
    dZ = (_exp_nonpositive(log_probs) - T) / n
    return loss, dZ


def mlp_loss_and_grads(X, T, params):
    """Loss and gradients of a two-layer network with a sigmoid hidden layer and linear output.

    X (n, d_in), T (n, d_out), params = {"W1": (h, d_in), "b1": (h,), "W2": (d_out, h),
    "b2": (d_out,)}. H = sigma(X W1^T + b1), Y = H W2^T + b2,
    loss = (1/n) sum_i 0.5 ||Y_i - T_i||^2. Returns (loss, grads): loss a float, grads a dict with
    the same keys and shapes as params.
    """
    X = np.asarray(X, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    n = X.shape[0]
    # forward
    A = X @ W1.T + b1
    H = _sigmoid(A)
    Y = H @ W2.T + b2
    R = Y - T
    loss = 0.5 * float(np.sum(R * R)) / n
    # backward (error signals)
    dY = R / n
    dW2 = dY.T @ H
    db2 = np.sum(dY, axis=0)
    dH = dY @ W2
    dA = dH * H * (1.0 - H)
    dW1 = dA.T @ X
    db1 = np.sum(dA, axis=0)
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    return loss, grads


def train_xor(params, lr, steps):
    """Full-batch gradient descent on XOR with mlp_loss_and_grads.

    X = [[0,0],[0,1],[1,0],[1,1]], T = [[0],[1],[1],[0]]; starts from params (not modified).
    Returns (trained_params, losses): a new dict with the same keys and shapes, and losses
    (steps,) holding the loss before each update.
    """
    X = np.array(XOR_X, dtype=np.float64)
    T = np.array(XOR_T, dtype=np.float64)
    current = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    steps = int(steps)
    losses = np.empty(steps, dtype=np.float64)
    for s in range(steps):
        loss, grads = mlp_loss_and_grads(X, T, current)
        losses[s] = loss
        current = {k: current[k] - lr * grads[k] for k in current}
    return current, losses
