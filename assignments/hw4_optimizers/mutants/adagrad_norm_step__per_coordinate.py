"""Keeps a per-coordinate accumulator (AdaGrad proper), not the lecture's single scalar.

fails: q3
message: one scalar accumulator
"""
import numpy as np


def adagrad_norm_step(theta, grad, accum, lr, eps):
    grad = np.asarray(grad, dtype=float)
    new_accum = accum + grad * grad
    return np.asarray(theta, dtype=float) - lr * grad / np.sqrt(eps + new_accum), new_accum
