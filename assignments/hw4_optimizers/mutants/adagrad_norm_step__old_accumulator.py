"""Divides by the accumulator before the current gradient is added.

fails: q3
message: added BEFORE it is used
"""
import numpy as np


def adagrad_norm_step(theta, grad, accum, lr, eps):
    grad = np.asarray(grad, dtype=float)
    new_theta = np.asarray(theta, dtype=float) - lr * grad / np.sqrt(eps + float(accum))
    return new_theta, float(accum) + float(np.sum(grad * grad))
