"""The minus sign in the exponent dropped: 1 / (1 + e^{z}) is sigma(-z).

fails: q1
message: 1 / (1 + e^{-z})
"""
import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))
