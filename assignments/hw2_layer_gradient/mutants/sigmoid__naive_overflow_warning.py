"""The textbook sigmoid 1 / (1 + exp(-z)): right values, but exp(-z) overflows for z <= -710.

fails: q1
message: RuntimeWarning: overflow encountered in exp
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))
