"""The lecture's one-sided definition (f(x + h e_i) - f(x)) / h: error of order h.

fails: q2
message: use central differences
"""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=np.float64)
    f0 = f(x.copy())
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp = x.copy()
        xp[idx] += h
        grad[idx] = (f(xp) - f0) / h
    return grad
