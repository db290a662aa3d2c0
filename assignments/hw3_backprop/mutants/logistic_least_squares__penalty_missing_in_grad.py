"""Penalty added to the loss but its error signal lam * w left out of dloss_dw.

fails: q2
message: w feeds both z and the penalty
"""
import numpy as np


def logistic_least_squares(w, b, x, t, lam):
    w, b, x, t, lam = (float(v) for v in (w, b, x, t, lam))
    y = 1.0 / (1.0 + np.exp(-(w * x + b)))
    loss = 0.5 * (y - t) ** 2 + lam * 0.5 * w**2
    z_bar = (y - t) * y * (1.0 - y)
    return float(loss), float(z_bar * x), float(z_bar)
