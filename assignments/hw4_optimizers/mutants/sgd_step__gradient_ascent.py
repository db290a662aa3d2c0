"""Adds the gradient instead of subtracting it.

fails: q1
message: theta - lr * grad
"""
import numpy as np


def sgd_step(theta, grad, lr):
    return np.asarray(theta, dtype=float) + lr * np.asarray(grad, dtype=float)
