"""The gradient computed once at theta0 and reused for every step.

fails: q4
message: uses the gradient at the newest iterate
"""
import numpy as np


def gradient_descent(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=np.float64)
    g = grad_fn(theta)
    path = [theta]
    for _ in range(steps):
        theta = theta - lr * g
        path.append(theta)
    return np.array(path)
