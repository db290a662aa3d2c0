"""The outer product the other way round, xbar sigma'(z)^T: shaped like theta, (d_x+1, d_y).

fails: q3
message: the transpose of theta's shape
"""
import numpy as np


def layer_grad(x, theta):
    xbar = np.concatenate([[1.0], np.asarray(x, dtype=np.float64)])
    s = 1.0 / (1.0 + np.exp(-(theta.T @ xbar)))
    return np.outer(xbar, s * (1.0 - s))
