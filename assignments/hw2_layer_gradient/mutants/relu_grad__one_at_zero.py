"""The derivative at the kink taken as 1: (z >= 0).

fails: q1
message: 0.0 at z == 0
"""
import numpy as np


def relu_grad(z):
    return (np.asarray(z) >= 0).astype(np.float64)
