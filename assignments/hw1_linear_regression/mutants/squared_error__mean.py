"""The mean of the squared residuals instead of the lecture's sum.

fails: q3
message: no mean (1/n)
"""
import numpy as np


def squared_error(X_D, Y, theta):
    r = Y - X_D @ theta
    return float(np.mean(r**2))
