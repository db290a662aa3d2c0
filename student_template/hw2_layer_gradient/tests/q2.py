from autograder.checks import test_case

OK_FORMAT = False

name = "q2"
points = 2

NG_HINT = (
    "use central differences (f(x + h e_i) - f(x - h e_i)) / (2h), not the one-sided forward "
    "difference (f(x + h e_i) - f(x)) / h of the lecture's definition: divide by 2h, use the h "
    "you are given, and perturb ONE entry at a time for x of any shape (e.g. through "
    "x.reshape(-1) of a copy, or np.ndindex(x.shape)); the result has the shape of x"
)

# Central differences with h = 1e-5 on these functions are accurate to about 1e-10; a forward
# difference is off by about h * f'' / 2 ~ 1e-5, and a wrong h changes the h**2 term.
TOL = {"rtol": 1e-6, "atol": 1e-8}


def _quartic(shape, seed):
    """f(v) = sum(c * sin(v)) + 0.5 * sum(v**2 * w) and its exact gradient, for any shape."""
    import numpy as np

    from autograder.checks.problems import sines_and_squares

    rng = np.random.default_rng(seed)
    c = rng.uniform(0.5, 2.0, size=shape)
    w = rng.uniform(1.0, 3.0, size=shape)
    # checks' formula (evaluated next to the student's code, no round trip per call); called
    # with another shape than x's it raises ValueError saying so
    f = sines_and_squares(c, w, caller="numerical_gradient")

    def grad(v):
        return c * np.cos(v) + w * v

    return f, grad


def _cubic(shape, seed):
    """f(v) = sum(a * v**3): central differences with step h give exactly 3 a v**2 + a h**2."""
    import numpy as np

    from autograder.checks.problems import cubes

    rng = np.random.default_rng(seed)
    a = rng.uniform(1.0, 2.0, size=shape)
    return cubes(a, caller="numerical_gradient")


def _float64(value, shape, name):
    import numpy as np

    dtype = getattr(value, "dtype", None)
    assert isinstance(value, (np.ndarray, np.generic)) and np.shape(value) == shape and \
        dtype == np.float64, (
            f"{name}: expected a float64 array of shape {shape}, got a {type(value).__name__} "
            f"of dtype {dtype} and shape {np.shape(value)}\nhint: {NG_HINT}")


@test_case(name='numerical_gradient: vector x', points=1, hidden=False)
def test_vector(numerical_gradient):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q2")
    f, grad = _quartic((5,), seed=0)
    x = np.random.default_rng(1).normal(size=5)
    got = assert_no_mutation(numerical_gradient, f, x, name="numerical_gradient")
    assert_close(got, grad(x), **TOL, name="numerical_gradient(f, x) vs the exact gradient",
                 hint=NG_HINT)
    assert_close(got, ref.call("vector", "numerical_gradient", f, x), **TOL,
                 name="numerical_gradient(f, x) vs the reference", hint=NG_HINT)
    _float64(got, (5,), "numerical_gradient(f, x) for x of shape (5,)")


@test_case(name='numerical_gradient: matrix x and the step h', points=1, hidden=False)
def test_matrix_and_step(numerical_gradient):
    import numpy as np

    from autograder.checks import Reference, assert_close
    f, grad = _quartic((2, 3), seed=2)
    x = np.random.default_rng(3).normal(size=(2, 3))
    g, x_h = _cubic((4,), seed=4), np.array([-1.0, -0.25, 0.5, 2.0])  # for the step h below
    out = _each(numerical_gradient, (True, (f, x), {}), (False, (g, x_h, 1e-3), {}))
    got = out[0].get()  # numerical_gradient(f, x), checked (one round trip with the next call)
    assert_close(got, grad(x), **TOL, name="numerical_gradient(f, x) for x of shape (2, 3)",
                 hint=NG_HINT)
    _float64(got, (2, 3), "numerical_gradient(f, x) for x of shape (2, 3)")
    # the step h is an argument: with h = 1e-3 the central difference of a cubic carries + h**2
    ref = Reference("q2")
    x = x_h
    got = out[1].get()  # numerical_gradient(g, x, 1e-3), a plain call
    assert_close(got, ref.call("cubic_h1e-3", "numerical_gradient", g, x, 1e-3), rtol=1e-9,
                 atol=1e-10, name="numerical_gradient(f, x, 1e-3) of a cubic (uses the given h)",
                 hint=NG_HINT)


def _each(numerical_gradient, *calls):
    """A case's calls of numerical_gradient in one ``call_each`` (one round trip in the grader),
    read in order by the case. A call is ``(checked, args, kwargs)``: checked as
    ``assert_no_mutation(numerical_gradient, *args, name="numerical_gradient", **kwargs)``
    checks it, or a plain call ``numerical_gradient(*args, **kwargs)``."""
    from autograder.checks import call_each

    return call_each([(numerical_gradient, args, kwargs) for _, args, kwargs in calls],
                     names=["numerical_gradient"] * len(calls),
                     no_mutation=[checked for checked, _, _ in calls])
