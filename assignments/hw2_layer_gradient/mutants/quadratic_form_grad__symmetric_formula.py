"""The calculus lecture's 2 A x, right only for a symmetric A.

fails: q4
message: 2 A x is only right when A is symmetric
"""


def quadratic_form_grad(A, x):
    return 2.0 * A @ x
