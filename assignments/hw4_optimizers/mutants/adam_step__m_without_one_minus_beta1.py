"""Accumulates the first moment as beta1 m + grad (heavy-ball style), not an average.

fails: q5
message: m' = beta1 m + (1 - beta1) grad
"""
import numpy as np


def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    grad = np.asarray(grad, dtype=float)
    new_m = beta1 * np.asarray(m, dtype=float) + grad
    new_v = beta2 * np.asarray(v, dtype=float) + (1.0 - beta2) * grad * grad
    m_hat = new_m / (1.0 - beta1**t)
    v_hat = new_v / (1.0 - beta2**t)
    return np.asarray(theta, dtype=float) - lr * m_hat / (np.sqrt(v_hat) + eps), new_m, new_v
