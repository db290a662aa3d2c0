from autograder.checks import test_case

OK_FORMAT = False

name = "q3"
points = 5

LOSS_HINT = (
    "the lecture's loss is the SUM of squared residuals (Y - X_D theta)^T (Y - X_D theta): "
    "no mean (1/n) and no 1/2 in front; for a 2-D Y sum over all entries; return one number"
)
GRAD_HINT = (
    "the gradient of the SUM of squared residuals is -2 X_D^T Y + 2 X_D^T X_D theta "
    "= 2 X_D^T (X_D theta - Y): keep the factor 2, no 1/n, and mind the sign "
    "(it points uphill, away from the fit); same shape as theta"
)


def _problem(seed, n, p, k=None):
    import numpy as np

    rng = np.random.default_rng(seed)
    X_D = np.concatenate([rng.normal(size=(n, p - 1)), np.ones((n, 1))], axis=1)
    shape = (p,) if k is None else (p, k)
    Y = rng.normal(size=(n,) if k is None else (n, k))
    theta = rng.normal(size=shape)
    return X_D, Y, theta


def _loss(X_D, Y):
    """The contract's loss as a function of theta, written independently of the submission."""
    import numpy as np

    def loss(theta):
        r = Y - X_D @ np.asarray(theta, dtype=np.float64)
        return float(np.sum(r * r))

    return loss


def _float64(value, shape, name, hint):
    import numpy as np

    dtype = getattr(value, "dtype", None)
    assert isinstance(value, np.ndarray) and dtype == np.float64 and value.shape == shape, (
        f"{name}: expected a float64 array of shape {shape}, got a {type(value).__name__} of "
        f"dtype {dtype} and shape {getattr(value, 'shape', None)}\nhint: {hint}"
    )


@test_case(name='squared_error: sum of squared residuals', points=1, hidden=False)
def test_squared_error(squared_error):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q3")
    X_D, Y, theta = _problem(0, n=8, p=3)
    got = assert_no_mutation(squared_error, X_D, Y, theta, name="squared_error")
    assert_close(got, ref.call("loss_8x3", "squared_error", X_D, Y, theta), rtol=1e-12,
                 atol=0, name="squared_error(X_D, Y, theta)", hint=LOSS_HINT)
    # independent: the contract's formula
    assert_close(got, _loss(X_D, Y)(theta), rtol=1e-12, atol=0,
                 name="squared_error(X_D, Y, theta) vs (Y - X_D theta)^T (Y - X_D theta)",
                 hint=LOSS_HINT)


@test_case(name='squared_error_grad: value', points=1, hidden=False)
def test_squared_error_grad(squared_error_grad):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q3")
    X_D, Y, theta = _problem(1, n=8, p=3)
    got = assert_no_mutation(squared_error_grad, X_D, Y, theta, name="squared_error_grad")
    assert_close(got, ref.call("grad_8x3", "squared_error_grad", X_D, Y, theta), rtol=1e-10,
                 atol=1e-12, name="squared_error_grad(X_D, Y, theta)", hint=GRAD_HINT)
    _float64(got, theta.shape, "squared_error_grad(X_D, Y, theta)", GRAD_HINT)


@test_case(name='squared_error_grad: matches finite differences of squared_error', points=1, hidden=False)
def test_grad_matches_finite_differences(squared_error_grad):
    from autograder.checks import assert_gradient

    X_D, Y, theta = _problem(2, n=10, p=4)
    assert_gradient(_loss(X_D, Y), squared_error_grad(X_D, Y, theta), theta, h=1e-5,
                    rtol=1e-6, atol=1e-8,
                    name="squared_error_grad vs central differences of the squared error",
                    hint=GRAD_HINT)


@test_case(name='squared_error: several outputs, Y of shape (n, k)', points=1, hidden=True)
def test_multi_output(squared_error, squared_error_grad):
    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q3")
    X_D, Y, theta = _problem(31, n=7, p=3, k=2)
    # both calls at once (one round trip in the grader), each checked for in-place changes,
    # read in order below
    loss_outcome, grad_outcome = call_each(
        [(squared_error, (X_D, Y, theta)), (squared_error_grad, (X_D, Y, theta))],
        names=["squared_error", "squared_error_grad"])
    loss = loss_outcome.get()
    assert_close(loss, ref.call("loss_multi", "squared_error", X_D, Y, theta), rtol=1e-12,
                 atol=0, name="squared_error(X_D, Y, theta) with Y (7, 2), theta (3, 2)",
                 hint=LOSS_HINT)
    grad = grad_outcome.get()
    assert_close(grad, ref.call("grad_multi", "squared_error_grad", X_D, Y, theta), rtol=1e-10,
                 atol=1e-12, name="squared_error_grad(X_D, Y, theta) with Y (7, 2), theta (3, 2)",
                 hint=GRAD_HINT)
    _float64(grad, (3, 2), "squared_error_grad with a 2-D theta", GRAD_HINT)
    assert_gradient(_loss(X_D, Y), grad, theta, h=1e-5, rtol=1e-6, atol=1e-8,
                    name="squared_error_grad (2-D theta) vs central differences", hint=GRAD_HINT)


@test_case(name='squared_error: one example, and zero gradient at the optimum', points=1, hidden=True)
def test_single_example_and_optimum(squared_error, squared_error_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q3")
    X_D, Y, theta = _problem(32, n=1, p=2)  # n = 1
    X_9, Y_9, _ = _problem(33, n=9, p=3)
    theta_star = np.linalg.lstsq(X_9, Y_9, rcond=None)[0]
    # the four calls at once (one round trip in the grader), read in order below
    single_loss, single_grad, grad_star, loss_star = call_each(
        [(squared_error, (X_D, Y, theta)), (squared_error_grad, (X_D, Y, theta)),
         (squared_error_grad, (X_9, Y_9, theta_star)), (squared_error, (X_9, Y_9, theta_star))],
        no_mutation=False)
    assert_close(single_loss.get(),
                 ref.call("loss_n1", "squared_error", X_D, Y, theta), rtol=1e-12, atol=0,
                 name="squared_error with a single example", hint=LOSS_HINT)
    assert_gradient(_loss(X_D, Y), single_grad.get(), theta, h=1e-5,
                    rtol=1e-6, atol=1e-8, name="squared_error_grad with a single example",
                    hint=GRAD_HINT)
    # at the least-squares optimum the gradient is (numerically) zero, the loss is the residual
    X_D, Y = X_9, Y_9
    grad = grad_star.get()
    assert_close(grad, np.zeros(3), rtol=0, atol=1e-10,
                 name="squared_error_grad at the least-squares optimum", hint=GRAD_HINT)
    assert_close(loss_star.get(),
                 ref.call("loss_at_optimum", "squared_error", X_D, Y, theta_star), rtol=1e-10,
                 atol=1e-12, name="squared_error at the least-squares optimum", hint=LOSS_HINT)
