"""Half the sum of squared residuals (the 1/2 convention of other courses).

fails: q3
message: no 1/2 in front
"""
import numpy as np


def squared_error(X_D, Y, theta):
    r = Y - X_D @ theta
    return float(0.5 * np.sum(r**2))
