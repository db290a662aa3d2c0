"""log(1 + e^z) as written: e^z overflows to inf for large z.

fails: q1
message: max(z, 0) + log1p(e^{-|z|})
"""
import numpy as np


def softplus(z):
    return np.log(1.0 + np.exp(z))
