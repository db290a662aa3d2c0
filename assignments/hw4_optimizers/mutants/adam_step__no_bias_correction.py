"""Uses m' and v' directly, without the bias correction.

fails: q5
message: bias correction
"""
import numpy as np


def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    grad = np.asarray(grad, dtype=float)
    new_m = beta1 * np.asarray(m, dtype=float) + (1.0 - beta1) * grad
    new_v = beta2 * np.asarray(v, dtype=float) + (1.0 - beta2) * grad * grad
    return np.asarray(theta, dtype=float) - lr * new_m / (np.sqrt(new_v) + eps), new_m, new_v
