"""Step loops as entries of a batch (``call_each`` with ``run_steps``): one request with the
calls of a case, and every answer judged as the same loop's or call's alone.

Expected values come from the same loops run in this process (``run_steps`` of the student's
code executed here) and from the same loops asked for alone through the sandbox; the attacks
patch the child's loop and batch code as a student who has read ``sandbox/child.py`` would.
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from autograder.checks import (
    GRAD,
    STATE,
    STEP,
    THETA,
    StepCall,
    assert_trajectory_close,
    call_each,
    problems,
    run_steps,
)
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
    StudentError,
)

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

def scale_in_place(z):
    z *= 2.0
    return z

CALLS = [0]

def raises_at_3(theta, grad, lr):
    CALLS[0] += 1
    if CALLS[0] == 3:
        raise ValueError("third step")
    return theta - lr * grad

def wrong_shape_at_2(theta, grad, lr):
    CALLS[0] += 1
    return theta if CALLS[0] < 2 else np.append(theta, 1.0)

def nap_step(theta, grad, lr):
    import time
    time.sleep(60)
'''

LIMITS = Limits(call_wall_s=5, call_cpu_s=5)
SHORT = Limits(run_wall_s=20, call_wall_s=0.5, call_cpu_s=0.5)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as srv:
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


def _requests(sub) -> list:
    """The ops of the requests the grader sends to ``sub`` from now on."""
    sent: list = []
    send = sub._send
    sub._send = lambda header, *rest: (sent.append(header["op"]), send(header, *rest))
    return sent


def _loops(fn, problem):
    """Three loops (sgd, momentum, adam) as ``call_each`` entries of the step function ``fn``."""
    z = np.zeros(2)
    return [
        (run_steps, (StepCall(fn("sgd_step"), THETA, GRAD, 1.6, returns=THETA),
                     problem.start(), problem.grad, 20), {"loss_fn": problem.loss}),
        (run_steps, (StepCall(fn("momentum_step"), THETA, GRAD, STATE, 1.0, 0.3),
                     problem.start(), problem.grad, 25), {"state": z}),
        (run_steps, (StepCall(fn("adam_step"), THETA, GRAD, STATE[0], STATE[1], STEP, lr=0.05,
                              beta1=0.9, beta2=0.999, eps=1e-8,
                              returns=(THETA, STATE[0], STATE[1])),
                     problem.start(), problem.grad, 30), {"state": (z, z)}),
    ]


def _same_trajectory(a, b) -> None:
    assert a.iterates.tobytes() == b.iterates.tobytes()
    assert (a.losses is None) == (b.losses is None)
    if a.losses is not None:
        assert a.losses.tobytes() == b.losses.tobytes()
    assert a.diverged_at == b.diverged_at


def test_calls_and_loops_of_a_case_cross_in_one_request_with_the_same_results(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    theta, grad = np.linspace(-1, 1, 6).reshape(2, 3), np.ones((2, 3))
    sent = _requests(sub)
    remote = call_each([(sub.proxy("sgd_step"), (theta, grad, 0.1))]
                       + _loops(sub.proxy, problem), names=["sgd_step"] * 4)
    assert sent == ["calls"]  # one round trip for the step and the three loops
    here = [ns["sgd_step"](theta, grad, 0.1)] + \
        [run_steps(*args, **kwargs) for _, args, kwargs in _loops(ns.__getitem__, problem)]
    np.testing.assert_array_equal(remote[0].get(), here[0])
    for got, want in zip(remote[1:], here[1:]):
        _same_trajectory(got.get(), want)
    np.testing.assert_array_equal(remote[2].get().final_state, here[2].final_state)
    for got, want in zip(remote[3].get().final_state, here[3].final_state):
        np.testing.assert_array_equal(got, want)
    # and the same as each loop asked for alone through the sandbox
    for got, (_, args, kwargs) in zip(remote[1:], _loops(sub.proxy, problem)):
        _same_trajectory(got.get(), run_steps(*args, **kwargs))


def test_in_jupyter_the_same_list_runs_each_loop_here(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    outs = call_each(_loops(ns.__getitem__, problem))
    for got, (_, args, kwargs) in zip(outs, _loops(sub.proxy, problem)):
        _same_trajectory(got.get(), run_steps(*args, **kwargs))


def test_a_mutation_is_still_seen_for_a_call_next_to_a_loop(sub):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    z = np.ones(3)
    sent = _requests(sub)
    outs = call_each([(sub.proxy("scale_in_place"), (z,))] + _loops(sub.proxy, problem)[:1],
                     names=["scale_in_place", "sgd_step"])
    assert sent[0] == "calls"
    with pytest.raises(AssertionError, match="scale_in_place modified its input"):
        outs[0].get()
    assert np.array_equal(z, np.ones(3))  # the test's array is untouched
    assert outs[1].get().steps == 20


def test_a_loop_that_raises_fails_in_its_place_and_the_others_are_kept(sub):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    loops = _loops(sub.proxy, problem)
    raising = (run_steps, (StepCall(sub.proxy("raises_at_3"), THETA, GRAD, 0.5, returns=THETA),
                           problem.start(), problem.grad, 10))
    outs = call_each([loops[0], raising, loops[1]])
    with pytest.raises(StudentError, match="third step"):
        outs[1].get()
    assert outs[0].get().steps == 20 and outs[2].get().steps == 25
    assert sub.alive


def test_a_malformed_step_gets_the_message_of_the_loop_run_here(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)

    def entry(fn):
        return (run_steps, (StepCall(fn, THETA, GRAD, 0.5, returns=THETA), problem.start(),
                            problem.grad, 5))

    with pytest.raises(AssertionError) as here:
        call_each([entry(ns["wrong_shape_at_2"])])[0].get()
    (out,) = call_each([entry(sub.proxy("wrong_shape_at_2"))])
    with pytest.raises(AssertionError) as remote:
        out.get()
    assert str(remote.value) == str(here.value)
    assert str(here.value).startswith("step 2:")


def test_loops_that_cannot_join_a_request_go_one_by_one_with_the_same_results(sub):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    seen = []

    def grad_without_formula(x):  # a callback per step: not in a batch
        seen.append(x.shape)
        return problem.grad(x)

    step = StepCall(sub.proxy("sgd_step"), THETA, GRAD, 0.5, returns=THETA)
    sent = _requests(sub)
    outs = call_each([(run_steps, (step, problem.start(), grad_without_formula, 7)),
                      (run_steps, (step, problem.start(), problem.grad, 7),
                       {"keep_states": True})])
    assert "calls" not in sent and seen == [(2,)] * 7
    here = run_steps(StepCall(ns["sgd_step"], THETA, GRAD, 0.5, returns=THETA),
                     problem.start(), problem.grad, 7)
    for out in outs:
        _same_trajectory(out.get(), here)
    # wrong arguments raise what run_steps raises, in their place
    (bad,) = call_each([(run_steps, (step, problem.start(), problem.grad, -1))])
    with pytest.raises(ValueError, match="steps must be >= 0"):
        bad.get()


def test_a_loop_in_a_batch_has_the_time_of_its_steps_and_ends_as_alone():
    with ForkServer(SHORT) as fs:
        problem = problems.quadratic(dim=2, condition=4.0, seed=1)
        with fs.spawn([STUDENT]) as sub:
            step = StepCall(sub.proxy("nap_step"), THETA, GRAD, 0.5, returns=THETA)
            started = time.monotonic()
            outs = call_each([(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                              (run_steps, (step, problem.start(), problem.grad, 2)),
                              (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))])
            elapsed = time.monotonic() - started
            np.testing.assert_array_equal(outs[0].get(), -0.5 * np.ones(2))
            with pytest.raises(CallTimeout) as batched:
                outs[1].get()
            with pytest.raises(CallTimeout):  # the rest fail as the batch's calls do
                outs[2].get()
            assert not sub.alive
            # at most the loop's own two steps' time (plus the killing), not more
            assert elapsed < 2 * SHORT.call_wall_s + 2.0
        with fs.spawn([STUDENT]) as sub:
            step = StepCall(sub.proxy("nap_step"), THETA, GRAD, 0.5, returns=THETA)
            with pytest.raises(CallTimeout) as alone:
                run_steps(step, problem.start(), problem.grad, 2)
        assert str(batched.value) == str(alone.value)


# -- a student who patches the child's side --------------------------------------------------

FORGE = STUDENT + textwrap.dedent('''
    import sys
    _child = sys.modules["autograder.sandbox.child"]
    _codec = sys.modules["autograder.sandbox.codec"]
    _honest_loop = _child.Session.serve_loop
    _honest_call = _child.Session.serve_call
    FORGERY = ["none"]

    def _loop(self, msg, arrs):
        kind = FORGERY[0]
        plan = _codec.decode(msg["plan"], arrs, self._on_handle)
        theta0, arrays = plan["theta"], []
        if kind == "return_for_loop":
            return self.send({"op": "return", "value": 1.0})
        if kind == "start":
            its = np.stack([theta0 + 1.0] * (plan["steps"] + 1))
        elif kind == "long":
            its = np.stack([theta0] * (plan["steps"] + 5))
        elif kind == "converged":
            its = np.stack([theta0] + [np.zeros_like(theta0)] * plan["steps"])
        else:
            return _honest_loop(self, msg, arrs)
        self.send({"op": "loop", "iterates": _codec.encode(its, arrays), "state": None,
                   "stop": None}, arrays)

    def _call(self, msg, arrs):
        if FORGERY[0] == "loop_for_call":
            arrays = []
            return self.send({"op": "loop", "iterates": _codec.encode(np.zeros((1, 2)), arrays),
                              "state": None, "stop": None}, arrays)
        return _honest_call(self, msg, arrs)

    _child.Session.serve_loop = _loop
    _child.Session.serve_call = _call

    def forge(kind):
        FORGERY[0] = kind
''')


def _forged_batch(server, kind):
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    sub = server.spawn([FORGE])
    assert sub.status == "ok", sub.cells
    sub.proxy("forge")(kind)
    step = StepCall(sub.proxy("sgd_step"), THETA, GRAD, 1.6, returns=THETA)
    outs = call_each([(run_steps, (step, problem.start(), problem.grad, 6)),
                      (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                      (run_steps, (step, problem.start(), problem.grad, 6))],
                     names=["sgd_step"] * 3)
    return sub, outs


@pytest.mark.parametrize("kind", ["start", "long", "return_for_loop"])
def test_a_forged_loop_answer_in_a_batch_kills_the_submission(server, kind):
    sub, outs = _forged_batch(server, kind)
    try:
        with pytest.raises(ProtocolError):
            outs[0].get()
        for out in outs[1:]:  # nothing more is read from a child that forged
            with pytest.raises(SandboxDied):
                out.get()
        assert not sub.alive
    finally:
        sub.close()
    _honest_batch(server)


def test_a_loop_answer_for_a_call_in_a_batch_kills_the_submission(server):
    sub, outs = _forged_batch(server, "loop_for_call")
    try:
        assert outs[0].get().steps == 6  # the honest loop before it is kept
        with pytest.raises(ProtocolError, match="unexpected message 'loop'"):
            outs[1].get()
        with pytest.raises(SandboxDied):
            outs[2].get()
        assert not sub.alive
    finally:
        sub.close()
    _honest_batch(server)


def test_a_forged_trajectory_of_the_right_form_in_a_batch_is_judged_by_its_values(server):
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    reference = run_steps(StepCall(ns["sgd_step"], THETA, GRAD, 1.6, returns=THETA),
                          problem.start(), problem.grad, 6).iterates
    sub, outs = _forged_batch(server, "converged")
    try:
        with pytest.raises(AssertionError, match="first differs at step 1"):
            assert_trajectory_close(outs[0].get(), reference, rtol=1e-10, atol=1e-13)
    finally:
        sub.close()


def _honest_batch(server) -> None:
    """A fresh, honest submission on the same fork server gets exactly the honest results."""
    ns = _local()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    with server.spawn([STUDENT]) as sub:
        outs = call_each(_loops(sub.proxy, problem))
        for got, (_, args, kwargs) in zip(outs, _loops(ns.__getitem__, problem)):
            _same_trajectory(got.get(), run_steps(*args, **kwargs))
        assert sub.alive
