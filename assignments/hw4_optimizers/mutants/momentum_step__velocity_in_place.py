"""Updates the velocity array in place (velocity *= beta; velocity += grad).

fails: q2
message: must not modify its inputs in place
"""
import numpy as np


def momentum_step(theta, grad, velocity, lr, beta):
    velocity *= beta
    velocity += grad
    return np.asarray(theta, dtype=float) - lr * velocity, velocity
