"""Steps uphill: theta + lr * grad (gradient ascent).

fails: q4
message: step AGAINST the gradient
"""
import numpy as np


def gradient_descent(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=np.float64)
    path = [theta]
    for _ in range(steps):
        theta = theta + lr * grad_fn(theta)
        path.append(theta)
    return np.array(path)
