"""Perturbs the caller's x through a view and never puts the entries back.

fails: q2
message: was modified in place
"""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    flat = x.reshape(-1)  # a view of the caller's array
    grad = np.zeros(x.shape)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        gflat[i] = (fp - fm) / (2 * h)
    return grad
