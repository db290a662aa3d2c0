from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 2

GRAD_HINT = (
    "for ANY square A (not only symmetric) the gradient of x^T A x is (A + A^T) x; "
    "2 A x is only right when A is symmetric (the calculus lecture's assumption)"
)
HESS_HINT = (
    "the Hessian of x^T A x is A + A^T for ANY square A (always symmetric); 2 A is only right "
    "when A is symmetric (the calculus lecture's assumption); return a new array, do not "
    "modify A"
)


def _quad(A):
    def f(x):
        return float(x @ A @ x)

    return f


def _numerical_hessian(A, x, h=1e-3):
    """The Jacobian of the numerical gradient of x^T A x (central differences of both)."""
    import numpy as np

    from autograder.checks import numerical_gradient

    f = _quad(A)
    d = x.shape[0]
    H = np.empty((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        H[:, j] = (numerical_gradient(f, x + e, h=h) - numerical_gradient(f, x - e, h=h)) / (2 * h)
    return H


def _float64(value, shape, name, hint):
    import numpy as np

    dtype = getattr(value, "dtype", None)
    assert isinstance(value, np.ndarray) and value.shape == shape and dtype == np.float64, (
        f"{name}: expected a float64 array of shape {shape}, got a {type(value).__name__} of "
        f"dtype {dtype} and shape {getattr(value, 'shape', None)}\nhint: {hint}"
    )


@test_case(name='quadratic_form_grad: non-symmetric A', points=1, hidden=False)
def test_quadratic_form_grad(quadratic_form_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, assert_no_mutation

    ref = Reference("q4")
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))  # not symmetric
    x = rng.normal(size=3)
    got = assert_no_mutation(quadratic_form_grad, A, x, name="quadratic_form_grad")
    label = "quadratic_form_grad(A, x) for a non-symmetric A (3, 3)"
    assert_close(got, ref.call("grad_3", "quadratic_form_grad", A, x), rtol=1e-12, atol=1e-14,
                 name=label, hint=GRAD_HINT)
    _float64(got, (3,), label, GRAD_HINT)
    assert_gradient(_quad(A), got, x, h=1e-5, rtol=1e-7, atol=1e-9,
                    name=label + " vs central differences of x^T A x", hint=GRAD_HINT)


@test_case(name='quadratic_form_hessian: non-symmetric A', points=1, hidden=False)
def test_quadratic_form_hessian(quadratic_form_hessian):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q4")
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 3))  # not symmetric
    got = assert_no_mutation(quadratic_form_hessian, A, name="quadratic_form_hessian")
    label = "quadratic_form_hessian(A) for a non-symmetric A (3, 3)"
    assert_close(got, ref.call("hess_3", "quadratic_form_hessian", A), rtol=1e-14, atol=0,
                 name=label, hint=HESS_HINT)
    _float64(got, (3, 3), label, HESS_HINT)
    x = rng.normal(size=3)
    assert_close(got, _numerical_hessian(A, x), rtol=1e-5, atol=1e-6,
                 name=label + " vs the numerical Hessian (Jacobian of the gradient)",
                 hint=HESS_HINT)
