"""Accumulates gamma v + grad^2, without the (1 - gamma) weight.

fails: q4
message: (1 - gamma) * grad**2
"""
import numpy as np


def rmsprop_step(theta, grad, v, lr, gamma, eps):
    grad = np.asarray(grad, dtype=float)
    new_v = gamma * np.asarray(v, dtype=float) + grad * grad
    return np.asarray(theta, dtype=float) - lr * grad / (np.sqrt(new_v) + eps), new_v
