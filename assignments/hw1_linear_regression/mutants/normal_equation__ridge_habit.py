"""A ridge term added by habit: solves (X_D^T X_D + I) theta = X_D^T Y, not the normal equation.

fails: q2
message: orthogonal to every column
"""
import numpy as np


def normal_equation(X_D, Y):
    p = X_D.shape[1]
    return np.linalg.solve(X_D.T @ X_D + np.eye(p), X_D.T @ Y)
