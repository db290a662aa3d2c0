"""Only the powers x**m, ..., x**1: the constant column x**0 = 1 is forgotten (range stops at 1).

fails: q1
message: m+1 columns
"""
import numpy as np


def polynomial_design_matrix(x, m):
    x = np.asarray(x, dtype=np.float64)
    return np.stack([x**k for k in range(m, 0, -1)], axis=1)
