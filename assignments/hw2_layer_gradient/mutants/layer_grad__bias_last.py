"""xbar = [x, 1] (bias last) in both z and the outer product.

fails: q3
message: bias first
"""
import numpy as np


def layer_grad(x, theta):
    xbar = np.concatenate([np.asarray(x, dtype=np.float64), [1.0]])
    s = 1.0 / (1.0 + np.exp(-(theta.T @ xbar)))
    return np.outer(s * (1.0 - s), xbar)
