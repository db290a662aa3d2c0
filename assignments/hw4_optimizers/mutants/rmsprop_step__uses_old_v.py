"""Divides by the old average v instead of the updated v'.

fails: q4
message: with the NEW v'
"""
import numpy as np


def rmsprop_step(theta, grad, v, lr, gamma, eps):
    grad = np.asarray(grad, dtype=float)
    v = np.asarray(v, dtype=float)
    new_theta = np.asarray(theta, dtype=float) - lr * grad / (np.sqrt(v) + eps)
    return new_theta, gamma * v + (1.0 - gamma) * grad * grad
