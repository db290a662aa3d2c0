"""Step loops run inside the sandbox (``StepCall`` + ``run_steps``): the same trajectories as
the loop run in the grader, and nothing the child sends back believed beyond its form."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import (
    GRAD,
    STATE,
    STEP,
    THETA,
    StepCall,
    assert_trajectory_close,
    problems,
    run_steps,
)
from autograder.sandbox import ForkServer, Limits, ProtocolError, StudentError
from autograder.sandbox.loops import GRADIENTS

STUDENT = '''
import numpy as np

def sgd_step(theta, grad, lr):
    return theta - lr * grad

def momentum_step(theta, grad, v, lr, beta):
    v = beta * v + grad
    return theta - lr * v, v

def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    mhat = m / (1 - beta1 ** t)
    vhat = v / (1 - beta2 ** t)
    return theta - lr * mhat / (np.sqrt(vhat) + eps), m, v

CALLS = [0]

def raises_at_3(theta, grad, lr):
    CALLS[0] += 1
    if CALLS[0] == 3:
        raise ValueError("third step")
    return theta - lr * grad

def wrong_shape_at_2(theta, grad, lr):
    CALLS[0] += 1
    return theta if CALLS[0] < 2 else np.append(theta, 1.0)

def pair_instead_of_triple(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return theta, m

class Opaque:
    pass

def not_plain(theta, grad, lr):
    return Opaque()

def blows_up(theta, grad, lr):
    return theta * 1e200

def mutates_inputs(theta, grad, lr):
    theta -= lr * grad
    grad[...] = 0.0
    return theta
'''


@pytest.fixture(scope="module")
def server():
    with ForkServer(Limits(call_wall_s=5, call_cpu_s=5)) as srv:
        yield srv


@pytest.fixture()
def sub(server):
    with server.spawn([STUDENT]) as s:
        assert s.status == "ok", s.cells
        yield s


def _local():
    ns: dict = {}
    exec(STUDENT, ns)
    return ns


def test_child_gradients_are_the_checks_gradients_bit_for_bit():
    rng = np.random.default_rng(0)
    made = [problems.quadratic(dim=4, condition=7.0, seed=3).grad,
            problems.rosenbrock(a=1.5, b=30.0).grad,
            problems.linear_regression_data(n=9, d=3, seed=2).problem.grad]
    for grad in made:
        kind, data = grad.spec
        child_grad = GRADIENTS[kind](data)
        dim = 2 if kind == "rosenbrock" else (4 if kind == "quadratic" else 3)
        for _ in range(20):
            x = rng.normal(size=dim) * 3
            assert child_grad(x.copy()).tobytes() == grad(x.copy()).tobytes(), kind


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_step_call_here_matches_the_adapter_it_replaces(kind):
    ns = _local()
    problem = problems.quadratic(dim=3, condition=5.0, seed=2)
    z = np.zeros(3)
    if kind == "sgd":
        new = StepCall(ns["sgd_step"], THETA, GRAD, 0.5, returns=THETA)
        old = (lambda th, g, s: (ns["sgd_step"](th, g, 0.5), s)), None
        state = None
    elif kind == "momentum":
        new = StepCall(ns["momentum_step"], THETA, GRAD, STATE, 0.5, 0.3)
        old = (lambda th, g, v: ns["momentum_step"](th, g, v, 0.5, 0.3)), z
        state = z
    else:
        new = StepCall(ns["adam_step"], THETA, GRAD, STATE[0], STATE[1], STEP, lr=0.1,
                       returns=(THETA, STATE[0], STATE[1]))

        def adapter(th, g, s):
            m, v, t = s
            th, m, v = ns["adam_step"](th, g, m, v, t + 1, lr=0.1)
            return th, (m, v, t + 1)

        old = adapter, (z, z, 0)
        state = (z, z)
    a = run_steps(new, problem.start(), problem.grad, 12, state=state)
    b = run_steps(old[0], problem.start(), problem.grad, 12, state=old[1])
    assert a.iterates.tobytes() == b.iterates.tobytes()


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam", "rosenbrock_adam"])
def test_loop_in_the_sandbox_gives_the_grader_side_trajectory(sub, kind):
    ns = _local()
    problem = problems.rosenbrock() if kind == "rosenbrock_adam" else \
        problems.quadratic(dim=2, condition=4.0, seed=1)
    z = np.zeros(2)

    def make(fn):
        if kind == "sgd":
            return StepCall(fn("sgd_step"), THETA, GRAD, 1.6, returns=THETA), None
        if kind == "momentum":
            return StepCall(fn("momentum_step"), THETA, GRAD, STATE, 1.0, 0.3), z
        return StepCall(fn("adam_step"), THETA, GRAD, STATE[0], STATE[1], STEP, lr=0.05,
                        beta1=0.9, beta2=0.999, eps=1e-8,
                        returns=(THETA, STATE[0], STATE[1])), (z, z)

    step, state = make(sub.proxy)
    sent = []
    send = sub._send
    sub._send = lambda header, *rest: (sent.append(header["op"]), send(header, *rest))
    remote = run_steps(step, problem.start(), problem.grad, 30, state=state,
                       loss_fn=problem.loss)
    assert sent == ["loop"]  # the whole loop: one request, no callback
    step_here, state = make(ns.__getitem__)
    here = run_steps(step_here, problem.start(), problem.grad, 30, state=state,
                     loss_fn=problem.loss)
    assert remote.iterates.tobytes() == here.iterates.tobytes()
    assert remote.losses.tobytes() == here.losses.tobytes()
    assert remote.diverged_at == here.diverged_at
    assert_trajectory_close(remote, here.iterates, rtol=0, atol=0)
    final_remote = remote.final_state if kind != "sgd" else None
    if kind == "momentum":
        assert np.array_equal(final_remote, here.final_state)


def test_a_gradient_without_a_spec_is_a_bounded_callback(sub):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    seen = []

    def grad(x):
        seen.append(x.shape)
        return problem.grad(x)

    step = StepCall(sub.proxy("sgd_step"), THETA, GRAD, 0.5, returns=THETA)
    remote = run_steps(step, problem.start(), grad, 7)
    here = run_steps(StepCall(_local()["sgd_step"], THETA, GRAD, 0.5, returns=THETA),
                     problem.start(), problem.grad, 7)
    assert remote.iterates.tobytes() == here.iterates.tobytes()
    assert seen == [(2,)] * 7


def test_a_step_that_raises_fails_as_the_call_would(sub):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    step = StepCall(sub.proxy("raises_at_3"), THETA, GRAD, 0.5, returns=THETA)
    with pytest.raises(StudentError, match="third step"):
        run_steps(step, problem.start(), problem.grad, 10)
    assert sub.alive  # the submission keeps serving the next case


def test_malformed_steps_get_the_messages_of_the_loop_run_here(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    for name, make in (
        ("wrong_shape_at_2", lambda f: (StepCall(f, THETA, GRAD, 0.5, returns=THETA), None)),
        ("pair_instead_of_triple", lambda f: (StepCall(
            f, THETA, GRAD, STATE[0], STATE[1], STEP, returns=(THETA, STATE[0], STATE[1])),
            (np.zeros(2), np.zeros(2)))),
    ):
        ns["CALLS"][0] = 0
        step, state = make(ns[name])
        with pytest.raises(AssertionError) as here:
            run_steps(step, problem.start(), problem.grad, 5, state=state)
        step, state = make(sub.proxy(name))
        with pytest.raises(AssertionError) as remote:
            run_steps(step, problem.start(), problem.grad, 5, state=state)
        assert str(remote.value) == str(here.value)
        assert str(here.value).startswith("step 2:" if name == "wrong_shape_at_2" else "step 1:")


def test_an_output_that_cannot_cross_is_refused_as_for_a_call(sub):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    step = StepCall(sub.proxy("not_plain"), THETA, GRAD, 0.5, returns=THETA)
    with pytest.raises(ProtocolError, match="Opaque"):
        run_steps(step, problem.start(), problem.grad, 3)
    with pytest.raises(ProtocolError, match="Opaque"):
        sub.proxy("not_plain")(np.zeros(2), np.zeros(2), 0.5)


def test_divergence_is_found_by_the_grader_as_for_a_loop_here(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    remote = run_steps(StepCall(sub.proxy("blows_up"), THETA, GRAD, 0.5, returns=THETA),
                       problem.start(), problem.grad, 10, loss_fn=problem.loss)
    here = run_steps(StepCall(ns["blows_up"], THETA, GRAD, 0.5, returns=THETA),
                     problem.start(), problem.grad, 10, loss_fn=problem.loss)
    assert remote.diverged_at == here.diverged_at is not None
    assert remote.iterates.shape == here.iterates.shape
    assert remote.losses.shape == here.losses.shape


def test_in_place_changes_do_not_reach_the_loop(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    remote = run_steps(StepCall(sub.proxy("mutates_inputs"), THETA, GRAD, 0.5, returns=THETA),
                       problem.start(), problem.grad, 6)
    here = run_steps(StepCall(ns["mutates_inputs"], THETA, GRAD, 0.5, returns=THETA),
                     problem.start(), problem.grad, 6)
    assert remote.iterates.tobytes() == here.iterates.tobytes()


# -- a student who patches the child's side of the loop ----------------------------------------

FORGE = '''
import sys
import numpy as np
_child = sys.modules["autograder.sandbox.child"]
_codec = sys.modules["autograder.sandbox.codec"]

def sgd_step(theta, grad, lr):
    return theta - lr * grad

def _forged(self, msg, arrs):
    plan = _codec.decode(msg["plan"], arrs, self._on_handle)
    theta0 = plan["theta"]
    kind = FORGERY[0]
    arrays = []
    if kind == "start":
        its = np.stack([theta0 + 1.0, theta0])
        reply = {"iterates": its, "state": None, "stop": None}
    elif kind == "long":
        its = np.stack([theta0] * (plan["steps"] + 5))
        reply = {"iterates": its, "state": None, "stop": None}
    elif kind == "short":
        reply = {"iterates": np.stack([theta0, theta0]), "state": None, "stop": None}
    elif kind == "dtype":
        reply = {"iterates": np.stack([theta0] * (plan["steps"] + 1)).astype(np.float32),
                 "state": None, "stop": None}
    elif kind == "after_nan":
        its = np.stack([theta0] * (plan["steps"] + 1))
        its[1] = np.nan
        reply = {"iterates": its, "state": None, "stop": None}
    elif kind == "stop_ok":
        reply = {"iterates": np.stack([theta0]), "state": None,
                 "stop": {"step": 1, "out": theta0}}
    else:  # "converged": a made-up trajectory of the right form (only compared values tell)
        its = np.stack([theta0] + [np.zeros_like(theta0)] * plan["steps"])
        reply = {"iterates": its, "state": None, "stop": None}
    header = {"op": "loop", "iterates": _codec.encode(reply["iterates"], arrays),
              "state": None,
              "stop": None if reply["stop"] is None else
              {"step": reply["stop"]["step"], "out": _codec.encode(reply["stop"]["out"], arrays)}}
    self.send(header, arrays)

FORGERY = ["start"]
_child.Session.serve_loop = _forged

def forge(kind):
    FORGERY[0] = kind
'''


@pytest.mark.parametrize("kind", ["start", "long", "short", "dtype", "after_nan"])
def test_forged_trajectories_of_the_wrong_form_are_refused(server, kind):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    with server.spawn([FORGE]) as sub:
        assert sub.status == "ok", sub.cells
        sub.proxy("forge")(kind)
        step = StepCall(sub.proxy("sgd_step"), THETA, GRAD, 0.5, returns=THETA)
        with pytest.raises(ProtocolError):
            run_steps(step, problem.start(), problem.grad, 8)
        assert not sub.alive  # a child that forges is not asked anything more


def test_a_forged_stop_on_a_good_step_fails_the_case(server):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    with server.spawn([FORGE]) as sub:
        sub.proxy("forge")("stop_ok")
        step = StepCall(sub.proxy("sgd_step"), THETA, GRAD, 0.5, returns=THETA)
        with pytest.raises(AssertionError, match="forged"):
            run_steps(step, problem.start(), problem.grad, 8)


def test_a_forged_trajectory_of_the_right_form_is_judged_by_its_values(server):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    reference = run_steps(StepCall(ns["sgd_step"], THETA, GRAD, 1.6, returns=THETA),
                          problem.start(), problem.grad, 6).iterates
    with server.spawn([FORGE]) as sub:
        sub.proxy("forge")("converged")
        traj = run_steps(StepCall(sub.proxy("sgd_step"), THETA, GRAD, 1.6, returns=THETA),
                         problem.start(), problem.grad, 6)
        with pytest.raises(AssertionError, match="first differs at step 1"):
            assert_trajectory_close(traj, reference, rtol=1e-10, atol=1e-13)
