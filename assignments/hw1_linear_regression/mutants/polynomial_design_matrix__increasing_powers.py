"""Powers in increasing order 1, x, ..., x**m (np.vander(x, m + 1, increasing=True)).

fails: q1
message: highest power down
"""
import numpy as np


def polynomial_design_matrix(x, m):
    x = np.asarray(x, dtype=np.float64)
    return np.vander(x, m + 1, increasing=True)
