"""Oracle tests of solutions.hw1_linear_regression against NumPy's lstsq/vander and torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from solutions import hw1_linear_regression as hw1
from tests.oracle_helpers import (
    assert_float64_shape,
    assert_python_float,
    call_checking_no_mutation,
    t64,
    to_np,
)

RTOL = 1e-12


@pytest.mark.parametrize("n,d", [(1, 1), (5, 3), (17, 1), (8, 6)])
def test_design_matrix_matches_column_stack(n, d):
    X = np.random.default_rng(100 + n * d).normal(size=(n, d))
    got = call_checking_no_mutation(hw1.design_matrix, X)
    expected = np.column_stack([X, np.ones(n)])
    assert_float64_shape(got, (n, d + 1))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[:, -1], 1.0)  # bias column last


@pytest.mark.parametrize("m", [0, 1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_polynomial_design_matrix_matches_vander(m, seed):
    x = np.random.default_rng(seed).uniform(-2.0, 2.0, size=7)
    got = call_checking_no_mutation(hw1.polynomial_design_matrix, x, m)
    assert_float64_shape(got, (7, m + 1))
    # np.vander's default order is decreasing powers: x**m, ..., x, 1
    np.testing.assert_allclose(got, np.vander(x, m + 1), rtol=RTOL, atol=0.0)
    np.testing.assert_array_equal(got[:, -1], 1.0)


def test_polynomial_design_matrix_with_zero_input():
    x = np.array([0.0, 1.0, -1.0])
    got = hw1.polynomial_design_matrix(x, 3)
    np.testing.assert_array_equal(got, np.vander(x, 4))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [None, 1, 3])
def test_normal_equation_matches_lstsq(seed, k):
    rng = np.random.default_rng(seed)
    n, d = 30, 4
    X_D = hw1.design_matrix(rng.normal(size=(n, d)))
    Y = rng.normal(size=(n,) if k is None else (n, k))
    got = call_checking_no_mutation(hw1.normal_equation, X_D, Y)
    expected, *_ = np.linalg.lstsq(X_D, Y, rcond=None)
    assert_float64_shape(got, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # the normal equation itself holds: X^T (X theta - Y) = 0
    np.testing.assert_allclose(X_D.T @ (X_D @ got - Y), 0.0, atol=1e-10)


def test_normal_equation_polynomial_fit_recovers_exact_coefficients():
    x = np.linspace(-1.0, 1.0, 25)
    coef = np.array([0.5, -2.0, 1.0, 3.0])  # x^3, x^2, x, 1
    y = np.polyval(coef, x)
    got = hw1.normal_equation(hw1.polynomial_design_matrix(x, 3), y)
    np.testing.assert_allclose(got, coef, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("k", [None, 2])
def test_squared_error_matches_explicit_sum(seed, k):
    rng = np.random.default_rng(seed)
    n, p = 9, 3
    X_D = rng.normal(size=(n, p))
    Y = rng.normal(size=(n,) if k is None else (n, k))
    theta = rng.normal(size=(p,) if k is None else (p, k))
    got = call_checking_no_mutation(hw1.squared_error, X_D, Y, theta)
    assert_python_float(got)
    Y2 = Y.reshape(n, -1)
    th2 = theta.reshape(p, -1)
    expected = 0.0
    for i in range(n):
        for j in range(Y2.shape[1]):
            pred = sum(X_D[i, a] * th2[a, j] for a in range(p))
            expected += (Y2[i, j] - pred) ** 2
    assert got == pytest.approx(expected, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("seed", [0, 4])
@pytest.mark.parametrize("k", [None, 2])
def test_squared_error_grad_matches_autograd(seed, k):
    rng = np.random.default_rng(seed)
    n, p = 11, 4
    X_D = rng.normal(size=(n, p))
    Y = rng.normal(size=(n,) if k is None else (n, k))
    theta = rng.normal(size=(p,) if k is None else (p, k))
    got = call_checking_no_mutation(hw1.squared_error_grad, X_D, Y, theta)
    th = t64(theta, requires_grad=True)
    r = t64(Y) - t64(X_D) @ th
    loss = torch.sum(r * r)
    (g,) = torch.autograd.grad(loss, th)
    assert_float64_shape(got, theta.shape)
    np.testing.assert_allclose(got, to_np(g), rtol=1e-10, atol=1e-12)
    # and the loss itself agrees with torch
    assert hw1.squared_error(X_D, Y, theta) == pytest.approx(loss.item(), rel=1e-12)


def test_gradient_descent_matches_explicit_loop_matrix_theta():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(4, 4))
    A = A @ A.T / 4 + np.eye(4)
    B = rng.normal(size=(4, 2))
    theta0 = rng.normal(size=(4, 2))
    calls = []

    def grad_fn(theta):
        calls.append(theta.shape)
        return A @ theta - B

    steps, lr = 25, 0.1
    got = call_checking_no_mutation(hw1.gradient_descent, grad_fn, theta0, lr, steps)
    assert_float64_shape(got, (steps + 1, 4, 2))
    assert len(calls) == steps
    assert all(s == (4, 2) for s in calls)
    expected = [theta0.copy()]
    th = theta0.copy()
    for _ in range(steps):
        th = th - lr * (A @ th - B)
        expected.append(th)
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(got[0], theta0)


def test_gradient_descent_zero_steps_and_vector_theta():
    theta0 = np.array([1.0, -2.0, 3.0])
    got = hw1.gradient_descent(lambda th: 2.0 * th, theta0, 0.1, 0)
    assert_float64_shape(got, (1, 3))
    np.testing.assert_array_equal(got[0], theta0)


def test_gradient_descent_converges_to_least_squares_solution():
    rng = np.random.default_rng(11)
    X_D = hw1.design_matrix(rng.normal(size=(40, 3)))
    y = rng.normal(size=40)
    H = 2.0 * X_D.T @ X_D
    lr = 1.0 / np.linalg.eigvalsh(H).max()

    def grad_fn(theta):
        return hw1.squared_error_grad(X_D, y, theta)

    traj = hw1.gradient_descent(grad_fn, np.zeros(4), lr, 2000)
    expected, *_ = np.linalg.lstsq(X_D, y, rcond=None)
    np.testing.assert_allclose(traj[-1], expected, rtol=1e-8, atol=1e-10)
