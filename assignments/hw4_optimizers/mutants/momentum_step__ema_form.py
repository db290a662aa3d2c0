"""Uses the RL lecture's averaged form velocity' = beta v + (1 - beta) grad, not heavy ball.

fails: q2
message: no (1 - beta) factor
"""
import numpy as np


def momentum_step(theta, grad, velocity, lr, beta):
    new_velocity = beta * np.asarray(velocity, dtype=float) + (1.0 - beta) * np.asarray(grad)
    return np.asarray(theta, dtype=float) - lr * new_velocity, new_velocity
