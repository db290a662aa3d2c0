"""Cross-entropy summed over the rows instead of averaged (no 1/n in loss and dZ).

fails: q3
message: mean over the n rows
"""
import numpy as np


def softmax_cross_entropy(Z, T):
    Z = np.asarray(Z, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    S = Z - np.max(Z, axis=1, keepdims=True)
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -float(np.sum(T * logp)), np.exp(logp) - T
