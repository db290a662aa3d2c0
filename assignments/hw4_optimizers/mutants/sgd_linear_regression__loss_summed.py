"""Reports the summed loss over the data instead of the mean.

fails: q6
message: mean over all n points
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
            theta = theta - lr * X[idx].T @ (X[idx] @ theta - y[idx]) / len(idx)
        losses.append(0.5 * np.sum((X @ theta - y) ** 2))
    return theta, np.array(losses)
