"""run_steps, assert_trajectory_close, assert_converges, and the benchmark problems."""

import numpy as np
import pytest

from autograder.checks import (
    Trajectory,
    assert_close,
    assert_converges,
    assert_gradient,
    assert_trajectory_close,
    linear_regression_data,
    logistic_regression_data,
    quadratic,
    rosenbrock,
    run_steps,
    xor,
    xor_accuracy,
)


def gd(lr):
    return lambda th, g, s: (th - lr * g, s)


def test_run_steps_shapes_and_losses():
    p = quadratic(4, 10.0, seed=1)
    traj = run_steps(gd(0.5), p.x0, p.grad, 7, loss_fn=p.loss, keep_states=True)
    assert isinstance(traj, Trajectory)
    assert traj.iterates.shape == (8, 4) and traj.losses.shape == (8,)
    assert traj.steps == 7 and traj.diverged_at is None and len(traj.states) == 8
    np.testing.assert_array_equal(traj.iterates[0], p.x0)
    expected = [p.x0]
    for _ in range(7):
        expected.append(expected[-1] - 0.5 * p.grad(expected[-1]))
    np.testing.assert_allclose(traj.iterates, np.array(expected), rtol=1e-14)
    assert np.all(np.diff(traj.losses) < 0)


def test_run_steps_with_state_adapter_for_momentum():
    p = quadratic(3, 5.0, seed=0)

    def momentum_step(theta, grad, velocity, lr, beta):
        velocity = beta * velocity + grad
        return theta - lr * velocity, velocity

    traj = run_steps(lambda th, g, v: momentum_step(th, g, v, 0.1, 0.9), p.x0, p.grad, 3,
                     state=np.zeros(3))
    v1 = p.grad(p.x0)
    x1 = p.x0 - 0.1 * v1
    v2 = 0.9 * v1 + p.grad(x1)
    assert_close(traj.iterates[2], x1 - 0.1 * v2, rtol=1e-14)
    assert_close(traj.final_state, 0.9 * v2 + p.grad(traj.iterates[2]), rtol=1e-14)


def test_run_steps_reports_bad_step_functions():
    p = quadratic(3, 2.0, seed=0)
    with pytest.raises(AssertionError, match="must return a pair"):
        run_steps(lambda th, g, s: th - g, p.x0, p.grad, 2)
    with pytest.raises(AssertionError, match=r"step 1: theta has shape \(3, 1\)"):
        run_steps(lambda th, g, s: ((th - g)[:, None], s), p.x0, p.grad, 2)
    with pytest.raises(AssertionError, match="got None"):
        run_steps(lambda th, g, s: (None, s), p.x0, p.grad, 2)


def test_run_steps_does_not_modify_theta0_even_with_in_place_steps():
    p = quadratic(3, 2.0, seed=0)
    x0 = p.x0.copy()

    def inplace(th, g, s):
        th -= 0.1 * g
        return th, s

    traj = run_steps(inplace, x0, p.grad, 3)
    np.testing.assert_array_equal(x0, p.x0)
    assert len({tuple(row) for row in traj.iterates}) == 4


def test_correct_gd_converges_on_quadratic_and_returns_losses():
    p = quadratic(10, 10.0, seed=3)
    losses = assert_converges(gd(1.0 / p.L), p, steps=300, tol=1e-10)
    assert losses.shape == (301,) and losses[-1] <= 1e-10 and losses[0] == p.loss(p.x0)
    assert_converges(gd(1.0 / p.L), p, steps=300, tol=1e-5, criterion="distance")


def test_wrong_gd_fails_and_names_what_happened():
    p = quadratic(10, 10.0, seed=3)
    with pytest.raises(AssertionError) as info:
        assert_converges(gd(-0.1), p, steps=50, tol=1e-8, name="sgd_step", hint="theta - lr*grad")
    msg = str(info.value)
    assert msg.startswith("sgd_step on quadratic(dim=10, condition=10): not converged: after 50 steps")
    assert "the loss went up" in msg and "first at step 1" in msg and "sign" in msg
    assert msg.endswith("hint: theta - lr*grad")

    with pytest.raises(AssertionError, match=r"best loss - f\* = .* at step 100"):
        assert_converges(gd(1e-3), p, steps=100, tol=1e-8)


def test_divergence_names_the_step():
    p = quadratic(5, 10.0, seed=0)
    with pytest.raises(AssertionError) as info:
        assert_converges(gd(3.0), p, steps=5000, tol=1e-8)
    msg = str(info.value)
    assert "diverged" in msg and "became NaN/inf at step" in msg
    step = int(msg.split("at step ")[1].split()[0])
    assert 100 < step < 5000

    def nan_step(th, g, s):
        return (th - g if s < 3 else th * np.nan), s + 1

    with pytest.raises(AssertionError, match="at step 4 of 10"):
        assert_converges(nan_step, p, steps=10, tol=1.0, state=0)


def test_trajectory_close_names_first_diverging_step():
    p = quadratic(4, 10.0, seed=2)
    ref = run_steps(gd(0.5), p.x0, p.grad, 10)
    assert_trajectory_close(run_steps(gd(0.5), p.x0, p.grad, 10), ref, rtol=1e-14)
    assert_trajectory_close(ref.iterates.copy(), ref, k=3)

    def late_bug(th, g, t):
        return th - (0.5 if t < 6 else 0.25) * g, t + 1

    wrong = run_steps(late_bug, p.x0, p.grad, 10, state=0)
    with pytest.raises(AssertionError) as info:
        assert_trajectory_close(wrong, ref, name="gradient_descent", hint="lr every step")
    msg = str(info.value)
    assert msg.startswith("gradient_descent: first differs at step 7 (iterates 0..6 match)")
    assert "gradient_descent[7]:" in msg and "worst at index" in msg
    assert msg.endswith("hint: lr every step")
    assert_trajectory_close(wrong, ref, k=6)  # the first 6 steps are right

    with pytest.raises(AssertionError, match="at step 0: the first iterate must be theta0"):
        assert_trajectory_close(ref.iterates + 1, ref)
    with pytest.raises(AssertionError, match="got 10 iterates, expected 11"):
        assert_trajectory_close(ref.iterates[1:], ref)
    with pytest.raises(AssertionError, match="got list"):
        assert_trajectory_close(list(ref.iterates), ref)
    with pytest.raises(AssertionError, match=r"shape mismatch: got shape \(11, 4, 1\)"):
        assert_trajectory_close(ref.iterates[..., None], ref)


# ---------------------------------------------------------------------------------------
# problems


@pytest.mark.parametrize("dim, condition", [(1, 1.0), (2, 3.0), (8, 100.0), (30, 1e4)])
def test_quadratic_has_the_stated_condition_and_optimum(dim, condition):
    p = quadratic(dim, condition, seed=dim)
    A = p.data["A"]
    eig = np.linalg.eigvalsh(A)
    assert eig.max() / eig.min() == pytest.approx(condition, rel=1e-8)
    assert p.L == pytest.approx(eig.max()) and p.mu == pytest.approx(eig.min())
    assert p.f_star == 0.0 and p.loss(p.x_star) == 0.0
    assert np.all(p.grad(p.x_star) == 0.0)
    assert p.loss(p.x0) > 0
    assert_gradient(p.loss, p.grad, p.x0)
    q = quadratic(dim, condition, seed=dim)
    np.testing.assert_array_equal(q.x0, p.x0)  # seeded


def test_rosenbrock_optimum():
    for a, b in [(1.0, 100.0), (2.0, 10.0)]:
        p = rosenbrock(a, b)
        np.testing.assert_array_equal(p.x_star, [a, a * a])
        assert p.loss(p.x_star) == 0.0 and np.all(p.grad(p.x_star) == 0.0)
        assert_gradient(p.loss, p.grad, p.x0)


def test_linear_regression_optimum_is_least_squares():
    data = linear_regression_data(n=80, d=4, seed=5, noise=0.3)
    X, y, theta_star = data
    assert X.shape == (80, 4) and y.shape == (80,) and theta_star.shape == (4,)
    p = data.problem
    assert np.linalg.norm(p.grad(theta_star)) < 1e-13
    np.testing.assert_allclose(X.T @ X @ theta_star, X.T @ y, rtol=1e-10)
    assert p.f_star == pytest.approx(p.loss(theta_star), rel=0)
    assert_gradient(p.loss, p.grad, np.ones(4))
    assert_converges(gd(1.0 / p.L), p, steps=500, tol=1e-12)


def test_logistic_regression_optimum_by_newton():
    data = logistic_regression_data(n=150, d=3, seed=2, lam=1e-2)
    X, t, w_star = data
    assert set(np.unique(t)) <= {0.0, 1.0}
    p = data.problem
    assert np.linalg.norm(p.grad(w_star)) < 1e-12
    assert_gradient(p.loss, p.grad, np.array([0.3, -1.0, 2.0]))
    losses = assert_converges(gd(1.0 / p.L), p, steps=3000, tol=1e-8)
    assert losses[-1] >= p.f_star - 1e-15
    with pytest.raises(ValueError):
        logistic_regression_data(lam=0.0)


def test_xor_matches_the_contract():
    X, T = xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(T, [[0], [1], [1], [0]])
    assert X.dtype == T.dtype == np.float64 and X.shape == (4, 2) and T.shape == (4, 1)
    X[0, 0] = 5
    assert xor()[0][0, 0] == 0.0
    assert xor_accuracy(np.array([[0.1], [0.9], [0.8], [0.3]])) == 1.0
    assert xor_accuracy(np.array([0.6, 0.9, 0.8, 0.3])) == 0.75
