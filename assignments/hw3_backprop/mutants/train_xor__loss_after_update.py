"""Records the loss after each update instead of before it.

fails: q5
message: BEFORE update number s
"""
import numpy as np


def _mlp_loss_and_grads(X, T, p):
    n = X.shape[0]
    H = 1.0 / (1.0 + np.exp(-(X @ p["W1"].T + p["b1"])))
    Y = H @ p["W2"].T + p["b2"]
    loss = 0.5 * float(np.sum((Y - T) ** 2)) / n
    dY = (Y - T) / n
    dA = (dY @ p["W2"]) * H * (1.0 - H)
    return loss, {"W1": dA.T @ X, "b1": dA.sum(axis=0), "W2": dY.T @ H, "b2": dY.sum(axis=0)}


_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_T = np.array([[0.0], [1.0], [1.0], [0.0]])


def train_xor(params, lr, steps):
    current = {k: np.array(v, dtype=float) for k, v in params.items()}
    losses = []
    for _ in range(steps):
        _, grads = _mlp_loss_and_grads(_X, _T, current)
        current = {k: current[k] - lr * grads[k] for k in current}
        losses.append(_mlp_loss_and_grads(_X, _T, current)[0])
    return current, np.array(losses)
