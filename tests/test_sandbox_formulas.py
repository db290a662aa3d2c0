"""Gradient formulas passed to a student's function cross as data and run in the sandbox.

A test function carrying a known formula's ``spec`` (``checks.problems.quadratic_gradient``,
``least_squares_gradient``, the problems' ``grad``) is sent as ``{"fn": [kind, data]}`` instead
of a callback handle: the child builds the same expression over that data, so the student's
gradient descent evaluates it with no round trip per step. What the student returns is judged
exactly as before, bit for bit equal to the call in-process; a function without a (known) spec is
still a bounded callback; the grader's own data cannot be touched from the child; and the child
can never hand the grader a formula (the tag is refused on the grader's side).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import problems
from autograder.sandbox import ForkServer, Limits, ProtocolError, codec
from autograder.sandbox import calls as sandbox_calls
from autograder.sandbox.loops import GRADIENTS

STUDENT = '''
import numpy as np

def gradient_descent(grad_fn, theta0, lr, steps):
    thetas = [np.array(theta0, dtype=float)]
    for _ in range(steps):
        thetas.append(thetas[-1] - lr * grad_fn(thetas[-1]))
    return np.array(thetas)

def kind_of(grad_fn):
    return type(grad_fn).__name__

def tamper_then_descend(grad_fn, theta0, lr, steps):
    # a student who found the formula's data in the closure and overwrote it
    for cell in grad_fn.__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, np.ndarray):
            value[...] = 0.0
    return gradient_descent(grad_fn, theta0, lr, steps)
'''


def _local():
    ns: dict = {}
    exec(STUDENT, ns)
    return ns


@pytest.fixture(scope="module")
def server():
    with ForkServer(Limits(call_wall_s=5, call_cpu_s=5)) as srv:
        yield srv


@pytest.fixture()
def sub(server):
    with server.spawn([STUDENT]) as s:
        assert s.status == "ok", s.cells
        yield s


@pytest.fixture()
def callbacks(monkeypatch):
    """How many callbacks the grader served during the test."""
    served = [0]
    real = sandbox_calls.serve_callback

    def counting(*args, **kwargs):
        served[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(sandbox_calls, "serve_callback", counting)
    return served


def _least_squares(seed=4, n=12, p=3, k=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    Y = rng.normal(size=(n,) if k is None else (n, k))
    return problems.least_squares_gradient(X, Y), rng.normal(size=(p,) if k is None else (p, k))


def test_child_formulas_are_the_checks_formulas_bit_for_bit():
    rng = np.random.default_rng(1)
    made = [(problems.least_squares_gradient(rng.normal(size=(9, 3)), rng.normal(size=9)), (3,)),
            (problems.least_squares_gradient(rng.normal(size=(7, 2)), rng.normal(size=(7, 4))),
             (2, 4)),
            (problems.quadratic_gradient(np.diag([1.0, 2.0]), [-2.0, -0.5]), (2,))]
    for grad, shape in made:
        kind, data = grad.spec
        child_grad = GRADIENTS[kind](data)
        for _ in range(20):
            x = rng.normal(size=shape) * 5
            assert child_grad(x.copy()).tobytes() == grad(x.copy()).tobytes(), kind


def test_lecture_gradient_as_a_formula_is_the_lecture_s_expression():
    # hw1's q4 replaced (x1 + 2, 2 x2 + 1) by diag(1, 2) (x - (-2, -1/2)): the same bits
    grad = problems.quadratic_gradient(np.diag([1.0, 2.0]), [-2.0, -0.5])
    rng = np.random.default_rng(7)
    for x in [*rng.normal(size=(200, 2)) * 10, np.array([-2.0, -0.5]), np.zeros(2)]:
        assert grad(x).tobytes() == np.array([x[0] + 2.0, 2.0 * x[1] + 1.0]).tobytes()


@pytest.mark.parametrize("k", [None, 2])
def test_a_formula_runs_in_the_child_with_no_callback(sub, callbacks, k):
    grad, theta0 = _least_squares(k=k)
    got = sub.proxy("gradient_descent")(grad, theta0, 0.01, 25)
    here = _local()["gradient_descent"](grad, theta0, 0.01, 25)
    assert got.tobytes() == here.tobytes()
    assert callbacks[0] == 0
    assert sub.proxy("kind_of")(grad) == "function"  # the child's own function, no handle


def test_a_function_without_a_known_spec_stays_a_callback(sub, callbacks):
    grad, theta0 = _least_squares()

    def plain(theta):
        return grad(theta)

    def unknown(theta):
        return grad(theta)

    unknown.spec = ("not_a_formula_we_know", {"X": np.eye(2)})
    for fn in (plain, unknown):
        before = callbacks[0]
        got = sub.proxy("gradient_descent")(fn, theta0, 0.01, 5)
        assert got.tobytes() == _local()["gradient_descent"](grad, theta0, 0.01, 5).tobytes()
        assert callbacks[0] - before == 5
        assert sub.proxy("kind_of")(fn) == "_Callback"


def test_tampering_with_the_formula_in_the_child_changes_only_the_students_answer(sub):
    grad, theta0 = _least_squares()
    before = {key: value.tobytes() for key, value in grad.spec[1].items()}
    honest = _local()["gradient_descent"](grad, theta0, 0.01, 5)
    got = sub.proxy("tamper_then_descend")(grad, theta0, 0.01, 5)
    # the grader's data is its own: X and Y unchanged, the grader's gradient unchanged
    assert {key: value.tobytes() for key, value in grad.spec[1].items()} == before
    assert _local()["gradient_descent"](grad, theta0, 0.01, 5).tobytes() == honest.tobytes()
    assert not np.array_equal(got, honest)  # a wrong trajectory, judged as any wrong answer


def test_the_grader_never_decodes_a_formula_from_the_child():
    grad, _ = _least_squares()
    arrays: list = []
    kind, data = grad.spec
    node = {"fn": [kind, codec.encode(data, arrays)]}
    with pytest.raises(codec.CodecError):
        codec.decode(node, arrays)  # the grader's decoding has no handles at all


def test_malformed_formula_data_is_the_grader_s_error_not_a_crash(sub):
    grad, theta0 = _least_squares()
    broken = lambda theta: grad(theta)  # noqa: E731
    broken.spec = ("least_squares", {"X": np.eye(3)})  # no Y
    with pytest.raises(ProtocolError, match="malformed least_squares data"):
        sub.proxy("gradient_descent")(broken, theta0, 0.01, 3)
    assert sub.alive  # the next case is served as usual
    assert sub.proxy("gradient_descent")(grad, theta0, 0.01, 1).shape == (2, 3)


NG_STUDENT_FLAT = '''
import numpy as np

def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g

def calls_with_a_flat_x(f, x, h=1e-5):
    return f(np.ravel(x))
'''


def test_functions_for_numerical_gradients_are_the_checks_ones_bit_for_bit(server, callbacks):
    rng = np.random.default_rng(3)
    made = [problems.sines_and_squares(rng.uniform(size=(2, 3)), rng.uniform(size=(2, 3)),
                                       caller="numerical_gradient"),
            problems.sines_and_squares(np.array(0.7), np.array(1.5)),
            problems.cubes(rng.uniform(size=(4,)), caller="numerical_gradient")]
    ns: dict = {}
    exec(NG_STUDENT_FLAT, ns)
    with server.spawn([NG_STUDENT_FLAT]) as sub:
        for f in made:
            kind, data = f.spec
            child_f = GRADIENTS[kind](data)
            shape = data["c" if "c" in data else "a"].shape
            for _ in range(10):
                v = rng.normal(size=shape) * 3
                assert np.float64(child_f(v.copy())).tobytes() == np.float64(f(v.copy())).tobytes()
            x = rng.normal(size=shape)
            got = sub.proxy("numerical_gradient")(f, x)
            assert got.tobytes() == ns["numerical_gradient"](f, x).tobytes()
        assert callbacks[0] == 0
        # called with the wrong shape, the child's f says what the test's f says
        f = made[0]
        with pytest.raises(ValueError) as here:
            ns["calls_with_a_flat_x"](f, np.zeros((2, 3)))
        with pytest.raises(Exception) as there:
            sub.proxy("calls_with_a_flat_x")(f, np.zeros((2, 3)))
        assert str(here.value) in str(there.value)
        assert "numerical_gradient must call f with arrays shaped like x, (2, 3)" in str(here.value)
