"""Divides by v' + eps instead of sqrt(v') + eps.

fails: q4
message: sqrt(v') + eps
"""
import numpy as np


def rmsprop_step(theta, grad, v, lr, gamma, eps):
    grad = np.asarray(grad, dtype=float)
    new_v = gamma * np.asarray(v, dtype=float) + (1.0 - gamma) * grad * grad
    return np.asarray(theta, dtype=float) - lr * grad / (new_v + eps), new_v
