"""Only one of the two terms: A^T x (differentiating x^T A x as if the left x were constant).

fails: q4
message: (A + A^T) x
"""


def quadratic_form_grad(A, x):
    return A.T @ x
