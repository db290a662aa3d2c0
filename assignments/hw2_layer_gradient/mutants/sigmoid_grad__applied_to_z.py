"""The backprop shortcut a * (1 - a) applied to z itself instead of to a = sigma(z).

fails: q1
message: sigmoid_grad takes z, not sigma(z)
"""
import numpy as np


def sigmoid_grad(z):
    z = np.asarray(z, dtype=np.float64)
    return z * (1.0 - z)
