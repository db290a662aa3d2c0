"""The sigmoid's pattern t * (1 - t) copied over to tanh.

fails: q1
message: 1 - tanh(z)**2
"""
import numpy as np


def tanh_grad(z):
    t = np.tanh(z)
    return t * (1.0 - t)
