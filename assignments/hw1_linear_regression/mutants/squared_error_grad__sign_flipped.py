"""The residual taken the other way round: 2 X_D^T (Y - X_D theta), the negative gradient.

fails: q3
message: mind the sign
"""


def squared_error_grad(X_D, Y, theta):
    return 2.0 * X_D.T @ (Y - X_D @ theta)
