"""Oracle tests of solutions.hw2_layer_gradient against torch (float64) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from solutions import hw2_layer_gradient as hw2
from tests.oracle_helpers import (
    F64,
    assert_float64_shape,
    call_checking_no_mutation,
    strict_floats,
    t64,
    to_np,
)

SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


def _z(shape, seed):
    z = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    if z.ndim:
        z.flat[0] = 0.0  # always include z == 0
    return np.asarray(z, dtype=np.float64)


def _elementwise_grad(torch_fn, z):
    """d torch_fn(z)_i / d z_i via autograd (the function is elementwise)."""
    zt = t64(z, requires_grad=True)
    (g,) = torch.autograd.grad(torch_fn(zt).sum(), zt)
    return to_np(g)


ACTIVATIONS = {
    "sigmoid": (hw2.sigmoid, torch.sigmoid),
    "relu": (hw2.relu, torch.relu),
    "softplus": (hw2.softplus, torch.nn.functional.softplus),
}

GRADS = {
    "sigmoid_grad": (hw2.sigmoid_grad, torch.sigmoid),
    "tanh_grad": (hw2.tanh_grad, torch.tanh),
    "relu_grad": (hw2.relu_grad, torch.relu),
    "softplus_grad": (hw2.softplus_grad, torch.nn.functional.softplus),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_matches_torch(name, shape):
    ours, theirs = ACTIVATIONS[name]
    z = _z(shape, seed=len(shape) + 10)
    got = call_checking_no_mutation(ours, z)
    assert_float64_shape(got, shape)
    np.testing.assert_allclose(got, to_np(theirs(t64(z))), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(GRADS))
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_grad_matches_autograd(name, shape):
    ours, theirs = GRADS[name]
    z = _z(shape, seed=len(shape) + 20)
    got = call_checking_no_mutation(ours, z)
    assert_float64_shape(got, shape)
    np.testing.assert_allclose(got, _elementwise_grad(theirs, z), rtol=1e-12, atol=1e-15)


def test_relu_grad_is_zero_at_zero():
    z = np.array([-1.0, -0.0, 0.0, 1e-300, 2.0])
    got = hw2.relu_grad(z)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, 1.0, 1.0])
    # torch's convention agrees
    np.testing.assert_array_equal(got, _elementwise_grad(torch.relu, z))


EXTREME = np.array([-1000.0, -710.0, -40.0, -1e-3, 0.0, 1e-3, 40.0, 710.0, 1000.0])


@pytest.mark.parametrize(
    "name,ours,theirs",
    [
        ("sigmoid", hw2.sigmoid, lambda t: torch.sigmoid(t)),
        ("softplus", hw2.softplus, lambda t: torch.nn.functional.softplus(t)),
        ("sigmoid_grad", hw2.sigmoid_grad, lambda t: None),
        ("softplus_grad", hw2.softplus_grad, lambda t: None),
    ],
)
def test_stable_at_abs_z_1000(name, ours, theirs):
    with strict_floats():
        got = ours(EXTREME)
    assert np.all(np.isfinite(got)), f"{name} not finite: {got}"
    if name == "sigmoid_grad":
        # sigma(z) sigma(-z): accurate in the tails, where autograd's s (1 - s) rounds to 0
        zt = t64(EXTREME)
        expected = to_np(torch.sigmoid(zt) * torch.sigmoid(-zt))
    elif name == "softplus_grad":
        expected = _elementwise_grad(torch.nn.functional.softplus, EXTREME)
    else:
        expected = to_np(theirs(t64(EXTREME)))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


def test_stable_values_at_extremes():
    with strict_floats():
        s = hw2.sigmoid(np.array([-1000.0, 1000.0]))
        sp = hw2.softplus(np.array([-1000.0, 1000.0]))
        sg = hw2.sigmoid_grad(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(s, [0.0, 1.0])
    np.testing.assert_array_equal(sp, [0.0, 1000.0])
    np.testing.assert_array_equal(sg, [0.0, 0.0])


# --- numerical_gradient -----------------------------------------------------------------


def _f_and_grad(shape, seed):
    c = np.random.default_rng(seed).normal(size=shape)

    def f(x):
        return float(np.sum(c * np.sin(x)) + np.sum(x) ** 2)

    def g(x):
        return c * np.cos(x) + 2.0 * np.sum(x)

    return f, g


@pytest.mark.parametrize("shape", SHAPES)
def test_numerical_gradient_matches_analytic(shape):
    f, g = _f_and_grad(shape, seed=len(shape))
    x = np.asarray(np.random.default_rng(99).normal(size=shape), dtype=np.float64)
    got = call_checking_no_mutation(hw2.numerical_gradient, f, x)
    assert_float64_shape(got, shape)
    np.testing.assert_allclose(got, g(x), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
def test_numerical_gradient_is_central_difference(shape):
    # for a cubic, the central difference is exactly 3x^2 + h^2 (a forward difference is not)
    x = np.asarray(np.random.default_rng(5).normal(size=shape), dtype=np.float64)
    h = 1e-2
    got = hw2.numerical_gradient(lambda v: float(np.sum(v**3)), x, h=h)
    np.testing.assert_allclose(got, 3.0 * x**2 + h**2, rtol=1e-9, atol=1e-9)


def test_numerical_gradient_default_h_and_restores_x():
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    x_before = x.copy()
    seen = []

    def f(v):
        seen.append(v.shape)
        return float(np.sum(np.exp(v)))

    got = hw2.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, x_before)
    assert seen == [(2, 2)] * 8  # two evaluations per entry, each on an array shaped like x
    np.testing.assert_allclose(got, np.exp(x), rtol=1e-8, atol=0.0)


def test_numerical_gradient_never_touches_callers_array():
    # the reference perturbs a private copy: the caller's x is unchanged even while f runs
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    x_before = x.copy()

    def f(v):
        np.testing.assert_array_equal(x, x_before)
        assert v is not x
        return float(np.sum(v**2))

    got = hw2.numerical_gradient(f, x, h=1e-4)
    np.testing.assert_allclose(got, 2.0 * x_before, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)


def test_numerical_gradient_of_torch_function_matches_autograd():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 3))
    x = rng.normal(size=(3, 2))

    def f_t(v):
        return torch.sum(torch.tanh(t64(A) @ v) ** 2)

    xt = t64(x, requires_grad=True)
    (g,) = torch.autograd.grad(f_t(xt), xt)
    got = hw2.numerical_gradient(lambda v: f_t(t64(v)).item(), x)
    np.testing.assert_allclose(got, to_np(g), rtol=1e-7, atol=1e-9)


# --- neuron_layer and layer_grad ----------------------------------------------------------


def _torch_layer(x, theta_t):
    xbar = torch.cat([torch.ones(1, dtype=F64), t64(x)])
    return torch.sigmoid(theta_t.T @ xbar)


@pytest.mark.parametrize("d_x,d_y", [(1, 1), (3, 2), (4, 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_neuron_layer_matches_torch(d_x, d_y, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=d_x)
    theta = rng.normal(size=(d_x + 1, d_y))
    got = call_checking_no_mutation(hw2.neuron_layer, x, theta)
    assert_float64_shape(got, (d_y,))
    np.testing.assert_allclose(got, to_np(_torch_layer(x, t64(theta))), rtol=1e-13, atol=0.0)


def test_neuron_layer_bias_is_first_row():
    theta = np.zeros((3, 1))
    theta[0, 0] = 2.0  # bias row
    got = hw2.neuron_layer(np.array([5.0, -7.0]), theta)
    np.testing.assert_allclose(got, [1.0 / (1.0 + np.exp(-2.0))], rtol=1e-14)


@pytest.mark.parametrize("d_x,d_y", [(1, 1), (3, 2), (4, 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_layer_grad_matches_jacobian_entry_by_entry(d_x, d_y, seed):
    rng = np.random.default_rng(seed + 50)
    x = rng.normal(size=d_x)
    theta = rng.normal(size=(d_x + 1, d_y))
    got = call_checking_no_mutation(hw2.layer_grad, x, theta)
    assert_float64_shape(got, (d_y, d_x + 1))
    J = to_np(jacobian(lambda th: _torch_layer(x, th), t64(theta)))  # (d_y, d_x+1, d_y)
    for j in range(d_y):
        for i in range(d_x + 1):
            assert got[j, i] == pytest.approx(J[j, i, j], rel=1e-12, abs=1e-15), (j, i)
    # the oracle's other entries vanish: output j depends on column j of theta only
    mask = np.ones_like(J, dtype=bool)
    for j in range(d_y):
        mask[j, :, j] = False
    np.testing.assert_array_equal(J[mask], 0.0)


# --- quadratic forms ----------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_quadratic_form_grad_and_hessian_non_symmetric(d, seed):
    rng = np.random.default_rng(seed + 7)
    A = rng.normal(size=(d, d))
    if d > 1:
        assert not np.allclose(A, A.T)
    x = rng.normal(size=d)
    At = t64(A)

    def q(v):
        return v @ At @ v

    xt = t64(x, requires_grad=True)
    (g,) = torch.autograd.grad(q(xt), xt)
    H = hessian(q, t64(x))
    got_g = call_checking_no_mutation(hw2.quadratic_form_grad, A, x)
    got_H = call_checking_no_mutation(hw2.quadratic_form_hessian, A)
    assert_float64_shape(got_g, (d,))
    assert_float64_shape(got_H, (d, d))
    np.testing.assert_allclose(got_g, to_np(g), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_H, to_np(H), rtol=1e-12, atol=1e-14)
