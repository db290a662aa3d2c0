"""Uses the sum of the per-example gradients over the batch instead of their mean.

fails: q6
message: the batch MEAN gradient
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
        for idx in _batches(n, batch_size, rng):
            theta = theta - lr * X[idx].T @ (X[idx] @ theta - y[idx])
        losses.append(0.5 * np.mean((X @ theta - y) ** 2))
    return theta, np.array(losses)
