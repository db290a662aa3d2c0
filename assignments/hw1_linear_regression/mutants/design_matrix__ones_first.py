"""The column of ones put first, as in the neuron's xbar = [1, x] of the next homework.

fails: q1
message: the column of ones comes LAST
"""
import numpy as np


def design_matrix(X):
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)
