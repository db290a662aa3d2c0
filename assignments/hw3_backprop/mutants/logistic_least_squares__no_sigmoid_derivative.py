"""Error signal passed through the sigmoid without its derivative: zbar = ybar.

fails: q2
message: sigmoid'(z) = ybar * y (1 - y)
"""
import numpy as np


def logistic_least_squares(w, b, x, t, lam):
    w, b, x, t, lam = (float(v) for v in (w, b, x, t, lam))
    y = 1.0 / (1.0 + np.exp(-(w * x + b)))
    loss = 0.5 * (y - t) ** 2 + lam * 0.5 * w**2
    z_bar = y - t  # sigma'(z) forgotten
    return float(loss), float(z_bar * x + lam * w), float(z_bar)
