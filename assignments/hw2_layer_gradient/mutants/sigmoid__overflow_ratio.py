"""sigmoid written as e^z / (1 + e^z): for large z it is inf / inf = nan.

fails: q1
message: compute only exp(-|z|)
"""
import numpy as np


def sigmoid(z):
    e = np.exp(z)
    return e / (1.0 + e)
