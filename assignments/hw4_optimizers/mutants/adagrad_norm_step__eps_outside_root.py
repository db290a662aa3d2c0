"""Adds epsilon outside the square root: sqrt(accum') + eps.

fails: q3
message: eps inside the square root
"""
import numpy as np


def adagrad_norm_step(theta, grad, accum, lr, eps):
    grad = np.asarray(grad, dtype=float)
    new_accum = float(accum) + float(np.sum(grad * grad))
    return np.asarray(theta, dtype=float) - lr * grad / (np.sqrt(new_accum) + eps), new_accum
