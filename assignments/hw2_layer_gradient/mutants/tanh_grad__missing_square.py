"""1 - tanh(z): the square forgotten.

fails: q1
message: 1 - tanh(z)**2
"""
import numpy as np


def tanh_grad(z):
    return 1.0 - np.tanh(z)
