"""Appends the one at the end, xbar = [x, 1], as in Homework 1's design matrix.

fails: q3
message: bias first
"""
import numpy as np


def neuron_layer(x, theta):
    xbar = np.concatenate([np.asarray(x, dtype=np.float64), [1.0]])
    return 1.0 / (1.0 + np.exp(-(theta.T @ xbar)))
