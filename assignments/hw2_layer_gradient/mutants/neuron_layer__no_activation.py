"""Returns the weighted sums theta^T xbar without the sigmoid.

fails: q3
message: the sigmoid applied to each
"""
import numpy as np


def neuron_layer(x, theta):
    xbar = np.concatenate([[1.0], np.asarray(x, dtype=np.float64)])
    return theta.T @ xbar
