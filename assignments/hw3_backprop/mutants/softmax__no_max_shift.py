"""Softmax without subtracting the row maximum: np.exp overflows to inf and gives nan.

fails: q3
message: subtract each row's maximum
"""
import numpy as np


def softmax(Z):
    E = np.exp(np.asarray(Z, dtype=np.float64))
    return E / np.sum(E, axis=1, keepdims=True)
