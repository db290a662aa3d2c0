from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 4

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


@test_case(name='quadratic_form_grad: other matrices', points=1, hidden=True)
def test_grad_other_matrices(quadratic_form_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q4")
    rng = np.random.default_rng(20)
    B = rng.normal(size=(4, 4))
    cases = {
        "skew": B - B.T,  # x^T A x = 0 for every x: the gradient is 0
        "upper5": np.triu(rng.normal(size=(5, 5))),
        "one": np.array([[-1.7]]),
        "sym": B + B.T,
    }
    xs = {key: rng.normal(size=A.shape[0]) for key, A in cases.items()}  # (drawn in this order)
    # every call at once (one round trip in the grader), read in the order they were made
    outcomes = call_each([(quadratic_form_grad, (A, xs[key])) for key, A in cases.items()],
                         names=["quadratic_form_grad"] * len(cases))
    for (key, A), outcome in zip(cases.items(), outcomes):
        d = A.shape[0]
        x = xs[key]
        label = f"quadratic_form_grad(A, x), A {key} ({d}, {d})"
        got = outcome.get()
        assert_close(got, ref.call(f"grad_{key}", "quadratic_form_grad", A, x), rtol=1e-12,
                     atol=1e-13, name=label, hint=GRAD_HINT)
        _float64(got, (d,), label, GRAD_HINT)
        assert_gradient(_quad(A), got, x, h=1e-5, rtol=1e-7, atol=1e-9,
                        name=label + " vs central differences", hint=GRAD_HINT)


@test_case(name='quadratic_form_hessian: other matrices', points=1, hidden=True)
def test_hessian_other_matrices(quadratic_form_hessian):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q4")
    rng = np.random.default_rng(30)
    B = rng.normal(size=(4, 4))
    cases = {"skew": B - B.T, "lower5": np.tril(rng.normal(size=(5, 5))),
             "one": np.array([[2.5]]), "big": 1e6 * rng.normal(size=(2, 2))}
    # every call at once (one round trip in the grader), read in the order they were made
    outcomes = call_each([(quadratic_form_hessian, (A,)) for A in cases.values()],
                         names=["quadratic_form_hessian"] * len(cases))
    for (key, A), outcome in zip(cases.items(), outcomes):
        d = A.shape[0]
        label = f"quadratic_form_hessian(A), A {key} ({d}, {d})"
        got = outcome.get()
        expected = ref.call(f"hess_{key}", "quadratic_form_hessian", A)
        assert_close(got, expected, rtol=1e-14, atol=0, name=label, hint=HESS_HINT)
        _float64(got, (d, d), label, HESS_HINT)
        if key != "big":
            x = rng.normal(size=d)
            assert_close(got, _numerical_hessian(A, x), rtol=1e-5, atol=1e-6,
                         name=label + " vs the numerical Hessian", hint=HESS_HINT)
