"""Clips the caller's array in place (z[z < 0] = 0) and returns it.

fails: q1
message: was modified in place
"""
import numpy as np


def relu(z):
    z = np.asarray(z, dtype=np.float64)
    z[z < 0] = 0.0
    return z
