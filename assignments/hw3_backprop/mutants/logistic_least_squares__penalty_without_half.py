"""Penalty written as lam * w**2 (no 1/2), in the loss and in the gradient.

fails: q2
message: lam * 0.5 * w**2
"""
import numpy as np


def logistic_least_squares(w, b, x, t, lam):
    w, b, x, t, lam = (float(v) for v in (w, b, x, t, lam))
    y = 1.0 / (1.0 + np.exp(-(w * x + b)))
    loss = 0.5 * (y - t) ** 2 + lam * w**2
    z_bar = (y - t) * y * (1.0 - y)
    return float(loss), float(z_bar * x + 2.0 * lam * w), float(z_bar)
