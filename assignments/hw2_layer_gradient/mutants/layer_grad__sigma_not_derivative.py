"""Uses sigma(z) where the derivative sigma(z) (1 - sigma(z)) belongs.

fails: q3
message: not sigma(z)
"""
import numpy as np


def layer_grad(x, theta):
    xbar = np.concatenate([[1.0], np.asarray(x, dtype=np.float64)])
    s = 1.0 / (1.0 + np.exp(-(theta.T @ xbar)))
    return np.outer(s, xbar)
