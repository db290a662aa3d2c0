"""Returns the boolean mask z > 0 instead of float64 ones and zeros.

fails: q1
message: return float64
"""
import numpy as np


def relu_grad(z):
    return np.asarray(z) > 0
