"""`*` instead of `@` for the last product: (X_D^T X_D)^{-1} X_D^T * Y broadcasts to (p, n).

fails: q2
message: all matrix products
"""
import numpy as np


def normal_equation(X_D, Y):
    return np.linalg.inv(X_D.T @ X_D) @ X_D.T * Y
