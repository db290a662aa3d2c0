"""Creates the generator inside the epoch loop: the same batches in every epoch.

fails: q6
message: once, before the first epoch
"""
import numpy as np


def _batches(n, batch_size, rng):
    perm = rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def sgd_linear_regression(X, y, lr, epochs, batch_size, seed):
    n, d = X.shape
    theta = np.zeros(d)
    losses = []
    for _ in range(epochs):
        rng = np.random.default_rng(seed)
        for idx in _batches(n, batch_size, rng):
            theta = theta - lr * X[idx].T @ (X[idx] @ theta - y[idx]) / len(idx)
        losses.append(0.5 * np.mean((X @ theta - y) ** 2))
    return theta, np.array(losses)
