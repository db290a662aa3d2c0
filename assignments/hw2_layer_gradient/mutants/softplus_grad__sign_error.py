"""1 / (1 + e^{z}) = sigma(-z): the sign of the exponent flipped.

fails: q1
message: softplus_grad(z) = sigma(z)
"""
import numpy as np


def softplus_grad(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))
