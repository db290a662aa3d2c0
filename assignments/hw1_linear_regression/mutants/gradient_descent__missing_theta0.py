"""Returns only the steps iterates after the updates, without theta0 in front.

fails: q4
message: theta0 first
"""
import numpy as np


def gradient_descent(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=np.float64)
    path = []
    for _ in range(steps):
        theta = theta - lr * grad_fn(theta)
        path.append(theta)
    return np.array(path)
