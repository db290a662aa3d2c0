from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 6

GD_HINT = (
    "theta_{t+1} = theta_t - lr * grad_fn(theta_t): step AGAINST the gradient, call grad_fn at "
    "the current iterate, and return every iterate, theta0 first: shape (steps+1, *theta0.shape); "
    "store a fresh array per step (an in-place theta -= ... appended to a list leaves every row "
    "equal to the last iterate)"
)
CONVERGE_HINT = (
    "with a small enough learning rate, gradient descent on the squared error must reach the "
    "normal-equation optimum; check the sign of the step (theta - lr * grad) and that each step "
    "uses the gradient at the newest iterate"
)


def _lecture_grad():
    """Gradient of the calculus lecture's f(x1, x2) = x1^2/2 + x2^2 + 2 x1 + x2 + c, i.e.
    x -> diag(1, 2) (x - (-2, -1/2)) = (x1 + 2, 2 x2 + 1). Written as checks' formula so the
    sandbox evaluates it next to the student's code (no round trip per step)."""
    import numpy as np

    from autograder.checks.problems import quadratic_gradient

    return quadratic_gradient(np.diag([1.0, 2.0]), np.array([-2.0, -0.5]))


def _least_squares(seed, n, p, k=None):
    """(grad_fn, lr, theta_star, theta0) for the squared error of a well-conditioned problem.

    The singular values of X lie in [1, 1.25], so the Hessian 2 X^T X has condition number
    1.5625 and gradient descent with lr = 2 / (L + mu) contracts the error by 0.22 per step:
    a dozen or so steps reach the optimum, which keeps the test short.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(n, p)))[0]
    V = np.linalg.qr(rng.normal(size=(p, p)))[0]
    X = U @ np.diag(np.linspace(1.0, 1.25, p)) @ V.T
    Y = rng.normal(size=(n,) if k is None else (n, k))

    from autograder.checks.problems import least_squares_gradient

    grad_fn = least_squares_gradient(X, Y)  # theta -> 2 X^T (X theta - Y)
    eig = np.linalg.eigvalsh(2.0 * X.T @ X)
    theta_star = np.linalg.lstsq(X, Y, rcond=None)[0]
    theta0 = rng.normal(size=theta_star.shape)
    return grad_fn, 2.0 / (eig.max() + eig.min()), theta_star, theta0


def _check_trajectory(got, expected, name, k=None):
    """The first k steps (all by default) match the reference trajectory."""
    from autograder.checks import assert_trajectory_close

    assert_trajectory_close(got, expected, k=k, rtol=1e-10, atol=1e-12, name=name, hint=GD_HINT)


@test_case(name="gradient_descent: the lecture's example trajectory", points=2, hidden=False)
def test_lecture_example_trajectory(gradient_descent):
    import numpy as np

    from autograder.checks import Reference, assert_no_mutation

    ref = Reference("q4")
    theta0 = np.zeros(2)
    got = assert_no_mutation(gradient_descent, _lecture_grad(), theta0, 0.25, 6,
                             name="gradient_descent")
    expected = ref.call("lecture_lr025", "gradient_descent", _lecture_grad(), theta0, 0.25, 6)
    _check_trajectory(got, expected,
                      "gradient_descent(grad_fn, theta0=[0, 0], lr=0.25, steps=6): the iterates")
    dtype = getattr(got, "dtype", None)
    assert isinstance(got, np.ndarray) and dtype == np.float64, (
        f"gradient_descent: the iterates are right but come back as a {type(got).__name__} of "
        f"dtype {dtype}; return one float64 array\nhint: {GD_HINT}"
    )


@test_case(name='gradient_descent: converges to the normal-equation solution', points=1, hidden=False)
def test_converges_to_normal_equation(gradient_descent):
    import numpy as np

    from autograder.checks import assert_close

    grad_fn, lr, theta_star, theta0 = _least_squares(0, n=30, p=3)
    path = gradient_descent(grad_fn, theta0, lr, 13)
    assert isinstance(path, np.ndarray) and path.shape == (14, 3), (
        f"gradient_descent(..., steps=13) for theta0 of shape (3,) must return an array of shape "
        f"(14, 3), got {type(path).__name__} of shape {getattr(path, 'shape', None)}\n"
        f"hint: {GD_HINT}"
    )
    assert_close(path[-1], theta_star, rtol=1e-6, atol=1e-8,
                 name="the last iterate after 13 steps vs the least-squares optimum",
                 hint=CONVERGE_HINT)


@test_case(name='gradient_descent: matrix-shaped theta', points=1, hidden=True)
def test_matrix_theta(gradient_descent):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q4")
    grad_fn, lr, theta_star, theta0 = _least_squares(41, n=25, p=3, k=2)
    # one call: its first 5 steps against the reference, its last iterate against the optimum
    path = assert_no_mutation(gradient_descent, grad_fn, theta0, lr, 12, name="gradient_descent")
    _check_trajectory(path, ref.call("matrix_theta", "gradient_descent", grad_fn, theta0, lr, 5),
                      "gradient_descent with theta0 of shape (3, 2): the iterates", k=5)
    shape = getattr(path, "shape", None)
    assert shape == (13, 3, 2), (
        f"gradient_descent with theta0 (3, 2) and steps=12 must return shape (13, 3, 2), got "
        f"{shape}\nhint: {GD_HINT}"
    )
    assert_close(np.asarray(path)[-1], theta_star, rtol=1e-6, atol=1e-8,
                 name="last iterate (theta of shape (3, 2)) vs the least-squares optimum",
                 hint=CONVERGE_HINT)


@test_case(name='gradient_descent: lr = 1 and zero steps', points=1, hidden=True)
def test_learning_rate_one_and_zero_steps(gradient_descent):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q4")
    theta0 = np.zeros(2)
    start = np.array([0.5, -3.0])
    # the lecture's exercise: lr = 1 bounces between (-2, -1) and (-2, 0) forever; then zero
    # steps. Both runs at once (one round trip in the grader), plain calls as before, read in
    # order below
    bouncing, no_steps = call_each([(gradient_descent, (_lecture_grad(), theta0, 1.0, 5)),
                                    (gradient_descent, (_lecture_grad(), start, 0.1, 0))],
                                   no_mutation=False)
    got = bouncing.get()
    _check_trajectory(got, ref.call("lecture_lr1", "gradient_descent", _lecture_grad(), theta0,
                                    1.0, 5),
                      "gradient_descent on the lecture's exercise with lr = 1")
    got = no_steps.get()
    assert_close(got, start[None, :], rtol=0, atol=0,
                 name="gradient_descent(..., steps=0): only theta0, shape (1, 2)", hint=GD_HINT)


@test_case(name='gradient_descent: converges on another problem', points=1, hidden=True)
def test_converges_other_problem(gradient_descent):
    from autograder.checks import Reference, assert_close

    ref = Reference("q4")
    grad_fn, lr, theta_star, theta0 = _least_squares(42, n=40, p=4)
    theta0 = theta0 * 10.0
    path = gradient_descent(grad_fn, theta0, 0.9 * lr, 18)
    _check_trajectory(path, ref.call("other_first", "gradient_descent", grad_fn, theta0,
                                     0.9 * lr, 3),
                      "the first 3 steps of gradient_descent on a least-squares problem", k=3)
    assert_close(path[-1], theta_star, rtol=1e-6, atol=1e-8,
                 name="the last iterate after 18 steps vs the least-squares optimum",
                 hint=CONVERGE_HINT)
