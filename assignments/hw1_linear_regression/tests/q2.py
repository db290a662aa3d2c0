from autograder.checks import test_case

OK_FORMAT = False

name = "q2"
points = 4

NORMAL_HINT = (
    "theta = (X_D^T X_D)^{-1} X_D^T Y, all matrix products (@, not *): solve "
    "X_D^T X_D theta = X_D^T Y, e.g. with np.linalg.solve or np.linalg.lstsq(X_D, Y); "
    "Y (n,) gives theta (p,), Y (n, k) gives theta (p, k)"
)
ORTHO_HINT = (
    "at the least-squares optimum the residual Y - X_D theta is orthogonal to every column "
    "of X_D: X_D^T (Y - X_D theta) = 0 (the gradient of the squared error vanishes)"
)


def _data(seed, n, d, k=None):
    """A full-rank design matrix (bias column last) and targets of a noisy linear model."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X_D = np.concatenate([rng.normal(size=(n, d)), np.ones((n, 1))], axis=1)
    shape = (d + 1,) if k is None else (d + 1, k)
    theta = rng.normal(size=shape)
    Y = X_D @ theta + 0.3 * rng.normal(size=(n,) if k is None else (n, k))
    return X_D, Y


def _assert_orthogonal(X_D, Y, theta, name, atol=1e-9):
    """Independent check: the normal equation X_D^T (Y - X_D theta) = 0 holds."""
    import numpy as np

    from autograder.checks import assert_close

    theta = np.asarray(theta, dtype=np.float64)
    lhs = X_D.T @ (Y - X_D @ theta)
    scale = np.abs(X_D.T) @ np.abs(Y) + 1.0
    assert_close(lhs / scale, np.zeros_like(lhs), rtol=0, atol=atol,
                 name=f"X_D^T (Y - X_D theta) / scale for theta = {name}", hint=ORTHO_HINT)


@test_case(name='normal_equation: least-squares fit of a small problem', points=1, hidden=False)
def test_normal_equation(normal_equation):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q2")
    X_D, Y = _data(0, n=12, d=3)
    got = assert_no_mutation(normal_equation, X_D, Y, name="normal_equation")
    assert_close(got, ref.call("theta_12x4", "normal_equation", X_D, Y), rtol=1e-8, atol=1e-10,
                 name="normal_equation(X_D, Y), X_D (12, 4), Y (12,)", hint=NORMAL_HINT)
    dtype = getattr(got, "dtype", None)
    assert dtype == np.float64, (
        f"normal_equation(X_D, Y): the values are right but the dtype is {dtype}; return a "
        f"float64 array\nhint: {NORMAL_HINT}"
    )


@test_case(name='normal_equation: residual orthogonal to every column', points=1, hidden=False)
def test_residual_orthogonal(normal_equation):
    import numpy as np

    X_D, Y = _data(1, n=15, d=2)
    got = normal_equation(X_D, Y)
    assert isinstance(got, np.ndarray) and got.shape == (3,), (
        f"normal_equation(X_D, Y) with X_D (15, 3), Y (15,) must return an array of shape (3,), "
        f"got {type(got).__name__} of shape {getattr(got, 'shape', None)}\nhint: {NORMAL_HINT}"
    )
    _assert_orthogonal(X_D, Y, got, "normal_equation(X_D, Y)")


@test_case(name='normal_equation: several outputs, Y of shape (n, k)', points=1, hidden=True)
def test_multi_output(normal_equation):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q2")
    X_D, Y = _data(21, n=10, d=2, k=3)
    got = assert_no_mutation(normal_equation, X_D, Y, name="normal_equation")
    assert_close(got, ref.call("theta_multi", "normal_equation", X_D, Y), rtol=1e-8, atol=1e-10,
                 name="normal_equation(X_D, Y), X_D (10, 3), Y (10, 3)", hint=NORMAL_HINT)
    _assert_orthogonal(X_D, Y, got, "normal_equation(X_D, Y) with a 2-D Y")


@test_case(name='normal_equation: polynomial fit and square system', points=1, hidden=True)
def test_polynomial_and_square(normal_equation):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q2")
    # a degree-6 polynomial design matrix: nearly dependent columns
    x = np.linspace(0.0, 2.0, 25)
    X_D = x[:, None] ** np.arange(6, -1, -1)[None, :]
    Y = np.sin(2.0 * x) + 0.05 * np.cos(17.0 * x)
    # n == p: the fit interpolates, the residual is zero
    X_sq, Y_sq = _data(22, n=4, d=3)
    # both fits at once (one round trip in the grader; plain calls), read in order below
    poly, square = call_each([(normal_equation, (X_D, Y)), (normal_equation, (X_sq, Y_sq))],
                             no_mutation=False)
    got = poly.get()
    assert_close(got, ref.call("theta_poly6", "normal_equation", X_D, Y), rtol=1e-5, atol=1e-7,
                 name="normal_equation(X_D, Y) for a degree-6 polynomial fit", hint=NORMAL_HINT)
    # (an explicit inverse of X_D^T X_D reaches about 1e-9 here; lstsq and solve 1e-14)
    _assert_orthogonal(X_D, Y, got, "normal_equation(X_D, Y), degree-6 polynomial", atol=1e-7)
    got = square.get()
    assert_close(X_sq @ np.asarray(got, dtype=np.float64), Y_sq, rtol=1e-9, atol=1e-9,
                 name="X_D @ normal_equation(X_D, Y) for a square X_D (n = p = 4)",
                 hint=NORMAL_HINT)
