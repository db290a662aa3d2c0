"""A += A.T: the right values, but the caller's A is overwritten.

fails: q4
message: was modified in place
"""


def quadratic_form_hessian(A):
    A += A.T.copy()
    return A
