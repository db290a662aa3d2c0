"""Accumulates the gradient norm instead of the squared norm.

fails: q3
message: sum(grad**2)
"""
import numpy as np


def adagrad_norm_step(theta, grad, accum, lr, eps):
    grad = np.asarray(grad, dtype=float)
    new_accum = float(accum) + float(np.linalg.norm(grad))
    return np.asarray(theta, dtype=float) - lr * grad / np.sqrt(eps + new_accum), new_accum
