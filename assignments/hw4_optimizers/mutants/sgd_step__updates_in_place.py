"""Updates theta in place (theta -= lr * grad) and returns the caller's array.

fails: q1
message: must not modify its inputs in place
"""


def sgd_step(theta, grad, lr):
    theta -= lr * grad
    return theta
