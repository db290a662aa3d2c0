"""Gradient checks: planted errors are caught, correct gradients never fail, messages name the index."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checks import (
    GradCheckResult,
    assert_directional,
    assert_gradient,
    assert_gradient_fast,
    assert_sampled,
    assert_vjp,
    check_directional,
    check_gradient,
    check_sampled,
    check_vjp,
    numerical_gradient,
)

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------
# test functions with exact gradients


def softplus_quadratic(n, seed, scale=1.0):
    """f(x) = sum softplus(a x) + 0.5 x^T D x (D diagonal): |f| grows like n."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    D = rng.uniform(0.1, 10.0, size=n)

    def f(x):
        return float(np.sum(np.logaddexp(0.0, a * x)) + 0.5 * np.sum(D * x * x))

    def grad(x):
        return a * np.exp(-np.logaddexp(0.0, -a * x)) + D * x

    return f, grad, scale * rng.normal(size=n)


def ill_scaled_quadratic(n, seed):
    """Curvatures from 1e-4 to 1e4 and |x| up to ~30: |f| ~ 1e6, gradient entries from ~1e-5 up."""
    rng = np.random.default_rng(seed)
    D = 10.0 ** rng.uniform(-4, 4, size=n)
    c = rng.normal(size=n)
    x = 10.0 * rng.normal(size=n)

    def f(x):
        return float(0.5 * np.sum(D * (x - c) ** 2))

    def grad(x):
        return D * (x - c)

    return f, grad, x


def mlp_loss(seed):
    """A tanh-sigmoid two-layer network's loss as a function of W1 (h, d_in): rank-2 x."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, 3))
    T = rng.normal(size=(6, 2))
    W2 = rng.normal(size=(2, 4))

    def f(W1):
        H = np.tanh(X @ W1.T)
        Y = H @ W2.T
        return float(0.5 * np.sum((Y - T) ** 2) / len(X))

    def grad(W1):
        H = np.tanh(X @ W1.T)
        dY = (H @ W2.T - T) / len(X)
        dZ = (dY @ W2) * (1 - H**2)
        return dZ.T @ X

    return f, grad, rng.normal(size=(4, 3))


def rosenbrock_fn(seed):
    rng = np.random.default_rng(seed)

    def f(p):
        return float((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2)

    def grad(p):
        return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                         200 * (p[1] - p[0] ** 2)])

    return f, grad, rng.uniform(-2, 2, size=2)


def rank3(seed):
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(2, 3, 4))

    def f(x):
        return float(np.sum(np.sin(C * x)) + np.sum(x**4) / 4)

    def grad(x):
        return C * np.cos(C * x) + x**3

    return f, grad, rng.normal(size=(2, 3, 4))


# ---------------------------------------------------------------------------------------
# one wrong coordinate out of 10^4


N_BIG = 10**4


@pytest.mark.parametrize("relative_error", [1e-2, 1.0])
def test_one_wrong_coordinate_in_ten_thousand_is_caught_for_200_seeds(relative_error):
    """The planted error is relative_error times the gradient's RMS entry (see the
    probability argument in assert_gradient_fast's docstring: at 1e-2 a seed escapes with
    probability ~1.6e-5, at 1 ~2e-13)."""
    f, grad, x = softplus_quadratic(N_BIG, seed=12345)
    g = grad(x)
    scale = float(np.sqrt(np.mean(g**2)))
    rng = np.random.default_rng(7)
    caught_by_direction = 0
    for seed in range(200):
        k = int(rng.integers(N_BIG))
        bad = g.copy()
        bad[k] += relative_error * scale * rng.choice([-1.0, 1.0])
        with pytest.raises(AssertionError) as info:
            assert_gradient_fast(f, bad, x, seed=seed, name="grad_theta", hint="check it")
        msg = str(info.value)
        assert f"worst at index ({k},)" in msg, msg
        assert msg.startswith("grad_theta: gradient check")
        assert msg.endswith("hint: check it")
        caught_by_direction += "(directional)" in msg
    # the directional part alone must catch every one of them (cost: 8 evaluations + bisection)
    assert caught_by_direction == 200


def test_directional_check_catches_a_swap_of_two_entries():
    """e_j = -e_k: Rademacher directions would cancel it half the time, Gaussian ones never."""
    f, grad, x = softplus_quadratic(1000, seed=3)
    g = grad(x)
    rng = np.random.default_rng(0)
    for seed in range(50):
        j, k = rng.choice(1000, size=2, replace=False)
        bad = g.copy()
        bad[[j, k]] = g[[k, j]]
        if abs(g[j] - g[k]) < 1e-2:
            continue
        res = check_directional(f, bad, x, seed=seed)
        assert not res.passed
        assert res.worst_index in ((j,), (k,))


def test_sampled_coordinates_catch_a_tiny_error_where_they_look():
    f, grad, x = softplus_quadratic(500, seed=1)
    g = grad(x)
    res = check_sampled(f, g, x, n_coords=20, seed=4)
    assert res.passed and res.n_checked == 20 and res.n_evaluations == 40
    rng = np.random.default_rng(4)
    looked = np.sort(rng.choice(500, size=20, replace=False))
    bad = g.copy()
    bad[looked[7]] *= 1 + 1e-3  # far too small for the directional check, but sampled
    with pytest.raises(AssertionError) as info:
        assert_sampled(f, bad, x, n_coords=20, seed=4)
    assert f"worst at index ({looked[7]},)" in str(info.value)


# ---------------------------------------------------------------------------------------
# correct gradients never fail


@pytest.mark.parametrize("seed", range(25))
def test_correct_gradients_pass_fast_check_at_size_ten_thousand(seed):
    for scale in (0.1, 1.0, 30.0):
        f, grad, x = softplus_quadratic(N_BIG, seed, scale=scale)
        res = assert_gradient_fast(f, grad, x, seed=seed)
        assert res.passed
        assert res.n_evaluations == 2 * (4 + 20)


def test_correct_gradients_pass_every_check_for_many_seeds():
    makers = [
        lambda s: ill_scaled_quadratic(300, s),
        mlp_loss,
        rosenbrock_fn,
        rank3,
        lambda s: softplus_quadratic(50, s, scale=10.0),
    ]
    for make in makers:
        for seed in range(40):
            f, grad, x = make(seed)
            assert_gradient(f, grad, x)
            assert_directional(f, grad, x, seed=seed, n_directions=8)
            assert_sampled(f, grad, x, seed=seed)
            assert_gradient_fast(f, grad(x), x, seed=seed)


def test_correct_gradients_of_ill_scaled_function_at_size_ten_thousand():
    for seed in range(10):
        f, grad, x = ill_scaled_quadratic(N_BIG, seed)
        assert_gradient_fast(f, grad, x, seed=seed, n_coords=200)


# ---------------------------------------------------------------------------------------
# numerical_gradient


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.integers(0, 10**6),
    st.sampled_from([(), (1,), (5,), (2, 3), (2, 2, 2)]),
    st.floats(0.1, 10.0),
)
def test_numerical_gradient_of_quadratics(seed, shape, scale):
    """For a quadratic the central difference has no truncation error; what remains is
    rounding of f, bounded by (n + 2) eps S / h with S = sum of |terms| of f (n = x.size)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=int))
    A = scale * rng.normal(size=(n, n))
    b = scale * rng.normal(size=n)
    x = scale * rng.normal(size=shape)

    def f(z):
        v = z.reshape(-1)
        return float(0.5 * v @ A @ v + b @ v)

    analytic = (0.5 * (A + A.T) @ x.reshape(-1) + b).reshape(shape)
    v = np.abs(x.reshape(-1))
    terms = 0.5 * v @ np.abs(A) @ v + np.abs(b) @ v
    atol = (n + 2) * EPS * 4 * (terms + 1) / 1e-6
    before = x.copy()
    num = numerical_gradient(f, x)
    assert num.shape == x.shape and num.dtype == np.float64
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(num, analytic, rtol=1e-9, atol=atol)
    assert check_gradient(f, analytic, x).passed


def test_numerical_gradient_scalar_and_int_inputs():
    assert numerical_gradient(lambda t: float(t) ** 3, 2.0).shape == ()
    np.testing.assert_allclose(numerical_gradient(lambda t: float(t) ** 3, 2.0), 12.0, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda v: float(v @ v), np.array([1, 2])),
                               [2.0, 4.0], rtol=1e-8)
    res = check_gradient(lambda t: float(t) ** 3, 12.0, 2.0)
    assert res.passed and res.worst_index == () and res.n_evaluations == 2


def test_function_that_modifies_its_input_is_refused():
    def f(x):
        x[0] = 0.0
        return float(x.sum())

    x = np.ones(3)
    with pytest.raises(ValueError, match="modified its input"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, np.ones(3))


# ---------------------------------------------------------------------------------------
# results and messages


def test_full_check_message_names_worst_coordinate():
    f, grad, x = mlp_loss(0)
    bad = grad(x)
    bad[2, 1] += 0.3
    bad[0, 0] += 1e-3
    res = check_gradient(f, bad, x)
    assert isinstance(res, GradCheckResult)
    assert not res.passed and res.n_failed == 2 and res.n_checked == 12
    assert res.worst_index == (2, 1)
    assert res.analytic_at_worst == pytest.approx(bad[2, 1])
    assert res.numeric_at_worst == pytest.approx(grad(x)[2, 1], rel=1e-6)
    assert res.n_evaluations == 24
    msg = res.message("dW1", "rows index hidden units")
    assert "dW1: gradient check (full) failed: 2 of 12 coordinates differ" in msg
    assert "worst at index (2, 1): analytic" in msg and "numeric (central difference)" in msg
    assert "rtol=1e-05, atol=1e-08, h=1e-06" in msg
    assert msg.endswith("hint: rows index hidden units")


def test_directional_cost_does_not_grow_with_size():
    for n in (10, 1000, 100000):
        f, grad, x = softplus_quadratic(n, seed=0)
        res = check_directional(f, grad, x, n_directions=3)
        assert res.passed and res.n_evaluations == 6


def test_directional_failure_localises_by_bisection():
    f, grad, x = rank3(1)
    bad = grad(x)
    bad[1, 2, 3] -= 0.5
    res = check_directional(f, bad, x)
    assert not res.passed and res.worst_index == (1, 2, 3)
    assert res.analytic_at_worst == pytest.approx(bad[1, 2, 3])
    assert res.n_evaluations < 8 + 4 * 5 + 2 + 1
    assert "found by bisection" in res.detail


def test_spread_error_is_reported_without_a_false_index():
    f, grad, x = softplus_quadratic(64, seed=2)
    bad = grad(x) * (1 + 1e-3)  # every coordinate slightly off
    res = check_directional(f, bad, x)
    assert not res.passed
    msg = res.message()
    assert "random directions differ" in msg


def test_nan_and_wrong_shape_claims_fail_cleanly():
    f, grad, x = rank3(2)
    bad = grad(x)
    bad[0, 1, 2] = np.nan
    for check in (check_gradient, check_directional, check_sampled):
        res = check(f, bad, x) if check is not check_sampled else check(f, bad, x, n_coords=24)
        assert not res.passed
        assert res.worst_index == (0, 1, 2), check.__name__
    res = check_gradient(f, bad.reshape(-1), x)
    assert not res.passed and "shape (24,)" in res.detail
    with pytest.raises(AssertionError, match="shape"):
        assert_gradient_fast(f, lambda z: grad(z).T, x)
    with pytest.raises(AssertionError, match="got None"):
        assert_gradient(f, lambda z: None, x)


def test_callable_and_array_claims_agree():
    f, grad, x = mlp_loss(3)
    assert check_gradient(f, grad, x) == check_gradient(f, grad(x), x)


# ---------------------------------------------------------------------------------------
# vector-Jacobian products


def _layer(seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(3, 5))
    x = rng.normal(size=5)

    def f(v):
        return np.tanh(W @ v)

    def jac(v):
        return (1 - np.tanh(W @ v) ** 2)[:, None] * W

    return f, jac, x, W


def test_vjp_accepts_callable_and_jacobian():
    for seed in range(20):
        f, jac, x, _ = _layer(seed)
        J = jac(x)
        assert_vjp(f, J, x, seed=seed)
        res = assert_vjp(f, lambda u, J=J: J.T @ u, x, seed=seed)
        assert res.n_evaluations == 1 + 2 * 5


def test_vjp_catches_a_missing_activation_derivative():
    f, jac, x, W = _layer(0)
    with pytest.raises(AssertionError) as info:
        assert_vjp(f, lambda u: W.T @ u, x, name="layer backward", hint="multiply by 1 - tanh^2")
    msg = str(info.value)
    assert msg.startswith("layer backward: gradient check (vjp) failed")
    assert "worst at index (" in msg and "cotangent u number" in msg
    assert msg.endswith("hint: multiply by 1 - tanh^2")


def test_vjp_wrong_shapes_are_reported():
    f, jac, x, W = _layer(1)
    res = check_vjp(f, jac(x).T, x)
    assert not res.passed and "Jacobian has shape (5, 3)" in res.detail
    res = check_vjp(f, lambda u: u, x)
    assert not res.passed and "vjp(u) has shape (3,)" in res.detail


def test_matrix_valued_function_vjp():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(4, 3))

    def f(X):  # (2, 3) -> (2, 4)
        return np.exp(0.3 * X) @ A.T

    def vjp(U):
        return 0.3 * np.exp(0.3 * X0) * (U @ A)

    X0 = rng.normal(size=(2, 3))
    assert check_vjp(f, vjp, X0).passed
    assert not check_vjp(f, lambda U: np.exp(0.3 * X0) * (U @ A), X0).passed


def test_the_rounding_floor_is_what_lets_ill_scaled_gradients_pass():
    """Without the floor (noise=0) a correct gradient of a badly scaled f fails; with the
    default it passes: the floor is needed, and it is not what makes the planted errors pass."""
    f, grad, x = ill_scaled_quadratic(300, seed=0)
    assert not check_gradient(f, grad, x, noise=0.0).passed
    assert check_gradient(f, grad, x).passed
