"""Error signal passed through the hidden sigmoid without multiplying by H (1 - H).

fails: q4
message: dA = dH * H * (1 - H)
"""
import numpy as np


def mlp_loss_and_grads(X, T, params):
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=float) for k in ("W1", "b1", "W2", "b2"))
    n = X.shape[0]
    H = 1.0 / (1.0 + np.exp(-(X @ W1.T + b1)))
    Y = H @ W2.T + b2
    loss = 0.5 * float(np.sum((Y - T) ** 2)) / n
    dY = (Y - T) / n
    dA = dY @ W2
    return loss, {"W1": dA.T @ X, "b1": dA.sum(axis=0), "W2": dY.T @ H, "b2": dY.sum(axis=0)}
