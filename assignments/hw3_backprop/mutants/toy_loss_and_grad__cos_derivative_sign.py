"""Derivative of cos taken as +sin instead of -sin.

fails: q1
message: -sin(f2)
"""
import numpy as np


def toy_loss_and_grad(x, y, phi):
    b0, w0, b1, w1, b2, w2, b3, w3 = (float(v) for v in phi)
    x, y = float(x), float(y)
    f0 = b0 + w0 * x
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3
    d_f3 = 2.0 * (f3 - y)
    d_f2 = np.sin(f2) * w3 * d_f3  # sign error
    d_f1 = h2 * w2 * d_f2
    d_f0 = np.cos(f0) * w1 * d_f1
    grad = np.array([d_f0, d_f0 * x, d_f1, d_f1 * h1, d_f2, d_f2 * h2, d_f3, d_f3 * h3])
    return float((f3 - y) ** 2), grad
