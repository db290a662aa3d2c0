"""The gradient of the mean squared error (divided by n), not of the lecture's sum.

fails: q3
message: no 1/n
"""


def squared_error_grad(X_D, Y, theta):
    n = X_D.shape[0]
    return 2.0 * X_D.T @ (X_D @ theta - Y) / n
