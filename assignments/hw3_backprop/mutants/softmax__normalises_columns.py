"""Normalised along the wrong axis: columns sum to 1 instead of rows.

fails: q3
message: sum along axis=1
"""
import numpy as np


def softmax(Z):
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return E / np.sum(E, axis=0, keepdims=True)
