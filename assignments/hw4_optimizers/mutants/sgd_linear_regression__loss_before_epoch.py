"""Records the loss at the start of each epoch instead of after it.

fails: q6
message: recorded after each epoch
"""
import numpy as np


def _batches(n, batch_size, rng):
    perm = rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def sgd_linear_regression(X, y, lr, epochs, batch_size, seed):
    n, d = X.shape
    rng = np.random.default_rng(seed)
    theta = np.zeros(d)
    losses = []
    for _ in range(epochs):
        losses.append(0.5 * np.mean((X @ theta - y) ** 2))
        for idx in _batches(n, batch_size, rng):
            theta = theta - lr * X[idx].T @ (X[idx] @ theta - y[idx]) / len(idx)
    return theta, np.array(losses)
