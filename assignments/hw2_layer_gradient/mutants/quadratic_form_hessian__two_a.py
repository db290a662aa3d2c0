"""The calculus lecture's 2 A, right only for a symmetric A.

fails: q4
message: A + A^T for ANY square A
"""


def quadratic_form_hessian(A):
    return 2.0 * A
