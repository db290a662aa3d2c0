"""An in-place update appended to a list: every stored row is the same array, the last iterate.

fails: q4
message: a fresh array per step
"""
import numpy as np


def gradient_descent(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=np.float64)
    path = [theta]
    for _ in range(steps):
        theta -= lr * grad_fn(theta)
        path.append(theta)
    return np.array(path)
