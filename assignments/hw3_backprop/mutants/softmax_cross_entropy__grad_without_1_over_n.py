"""Mean loss, but the gradient forgets the 1/n of the mean.

fails: q3
message: the 1/n comes from the mean
"""
import numpy as np


def softmax_cross_entropy(Z, T):
    Z = np.asarray(Z, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n = Z.shape[0]
    S = Z - np.max(Z, axis=1, keepdims=True)
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -float(np.sum(T * logp)) / n, np.exp(logp) - T
