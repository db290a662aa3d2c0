"""Puts epsilon inside the square root, sqrt(v' + eps) (the RL lecture's variant).

fails: q4
message: epsilon outside the square root
"""
import numpy as np


def rmsprop_step(theta, grad, v, lr, gamma, eps):
    grad = np.asarray(grad, dtype=float)
    new_v = gamma * np.asarray(v, dtype=float) + (1.0 - gamma) * grad * grad
    return np.asarray(theta, dtype=float) - lr * grad / np.sqrt(new_v + eps), new_v
