"""Updates theta0 itself in place (theta = theta0; theta -= ...): the caller's array changes.

fails: q4
message: was modified in place
"""
import numpy as np


def gradient_descent(grad_fn, theta0, lr, steps):
    theta = theta0
    path = [theta.copy()]
    for _ in range(steps):
        theta -= lr * grad_fn(theta)
        path.append(theta.copy())
    return np.array(path)
