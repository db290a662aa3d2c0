"""Steps with the old velocity and only then updates it.

fails: q2
message: with the NEW velocity
"""
import numpy as np


def momentum_step(theta, grad, velocity, lr, beta):
    velocity = np.asarray(velocity, dtype=float)
    new_theta = np.asarray(theta, dtype=float) - lr * velocity
    return new_theta, beta * velocity + grad
