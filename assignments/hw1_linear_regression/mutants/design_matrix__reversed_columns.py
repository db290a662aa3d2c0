"""The input columns copied from the lecture slide's order x_d, ..., x_1 instead of x_1, ..., x_d.

fails: q1
message: keep their original order
"""
import numpy as np


def design_matrix(X):
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([X[:, ::-1], np.ones((X.shape[0], 1))], axis=1)
