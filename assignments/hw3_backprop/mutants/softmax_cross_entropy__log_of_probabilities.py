"""Loss as np.log of (stable) softmax probabilities: -inf once a probability underflows to 0.

fails: q3
message: log-sum-exp
"""
import numpy as np


def _softmax(Z):
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    return E / np.sum(E, axis=1, keepdims=True)


def softmax_cross_entropy(Z, T):
    Z = np.asarray(Z, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    n = Z.shape[0]
    P = _softmax(Z)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = -float(np.sum(T * np.log(P))) / n
    return loss, (P - T) / n
