"""Step loops as entries of a batch (``call_each`` with ``run_steps``), attacked by the child.

The student controls the child process: these cells patch ``Session.serve_loop`` and
``Session.serve_calls`` (as a student who has read ``sandbox/child.py`` would) to answer a loop
entry with iterates of the wrong form, a stop at the wrong step, more iterates than the
grader's plan allows (claiming more steps in the answer), handles smuggled in the state, the
stop or unknown fields, one array frame shared by the iterates and the state, a callback
request, answers in the wrong order or beyond the batch, or to spin with its own CPU limit
dropped. In every case the grader keeps only plain data, judges answer i as entry i's with the
grader's own plan (theta0, steps), gives a loop the limits of its steps and no more (and a call
after it a single call's), stops entries once the grading budget is spent, gives the verdict
and the words of the same loop asked for alone, and the next submission on the same fork server
is unaffected.
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from autograder.checks import (
    GRAD,
    THETA,
    StepCall,
    assert_trajectory_close,
    call_each,
    problems,
    run_steps,
)
from autograder.grade.budget import Budget as _Budget
from autograder.grade.budget import BudgetedProxy as _BudgetedProxy
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
)

LIMITS = Limits(run_wall_s=20, call_wall_s=2, call_cpu_s=2)
SHORT = Limits(run_wall_s=20, call_wall_s=0.5, call_cpu_s=0.5)
CPU = Limits(run_wall_s=20, call_wall_s=5, call_cpu_s=0.5)  # CPU, not wall, ends a spin

STUDENT = textwrap.dedent('''
    import numpy as np

    def sgd_step(theta, grad, lr):
        return theta - lr * grad

    def slow_step(theta, grad, lr, pause):
        import time
        time.sleep(pause)
        return theta - lr * grad

    def nap(z):
        import time
        time.sleep(60)
''')

FORGE = STUDENT + textwrap.dedent('''
    import os
    import sys
    _child = sys.modules["autograder.sandbox.child"]
    _codec = sys.modules["autograder.sandbox.codec"]
    _honest_loop = _child.Session.serve_loop
    _honest_calls = _child.Session.serve_calls
    FORGERY = ["none", False]  # (kind, once)
    LAST = {}

    def _honest_reply(self, msg, arrs):
        """What the honest loop would send: (header, frames)."""
        got = []
        self.send = lambda header, arrays=(): got.append((dict(header), list(arrays)))
        try:
            _honest_loop(self, msg, arrs)
        finally:
            del self.send
        return got[0]

    def _stack(rows):
        return np.stack([np.asarray(r, dtype=np.float64) for r in rows])

    def _loop(self, msg, arrs):
        kind = FORGERY[0]
        if FORGERY[1]:
            FORGERY[0] = "none"
        plan = _codec.decode(msg["plan"], arrs, self._on_handle)
        theta0, steps = plan["theta"], plan["steps"]
        LAST["theta"], LAST["steps"] = theta0, steps
        if kind == "none":
            return _honest_loop(self, msg, arrs)
        header, arrays = _honest_reply(self, msg, arrs)
        its, stop = None, None
        if kind == "f32":
            its = _stack([theta0] * (steps + 1)).astype(np.float32)
        elif kind == "int":
            its = np.zeros((steps + 1,) + theta0.shape, dtype=np.int64)
        elif kind == "list":
            header["iterates"] = [[float(v) for v in theta0]] * (steps + 1)
        elif kind == "shape":
            its = _stack([np.append(theta0, 0.0)] * (steps + 1))
        elif kind == "empty":
            its = np.empty((0,) + theta0.shape)
        elif kind == "short":  # finite, no stop: fewer iterates than steps for no reason
            its = _stack([theta0] * steps)
        elif kind == "claim_steps":  # more iterates, and an answer that claims more steps
            its = _stack([theta0] * (steps + 51))
            header.update(steps=steps + 50, plan={"steps": steps + 50})
        elif kind == "ulp":  # one ulp away from theta0
            its = _stack([np.nextafter(theta0, np.inf)] + [theta0] * steps)
        elif kind == "nan_middle":
            its = _stack([theta0] * (steps + 1))
            its[1] = np.nan
        elif kind == "stop_wrong":
            its, stop = _stack([theta0, theta0]), {"step": 3, "out": theta0}
        elif kind == "stop_after_nan":
            its, stop = _stack([theta0, theta0 * np.nan]), {"step": 2, "out": theta0}
        elif kind == "stop_zero":  # (a loop of zero steps) a stop at step 1
            its, stop = _stack([theta0]), {"step": 1, "out": theta0}
        elif kind == "stop_ok":  # a stop on a step that is well formed
            its, stop = _stack([theta0]), {"step": 1, "out": theta0}
        elif kind == "stop_bool":
            its, stop = _stack([theta0]), {"step": True, "out": theta0}
        elif kind == "handle_state":
            header["state"] = {"g": "sgd_step"}
        elif kind == "handle_rng":
            header["state"] = {"rng": ["PCG64", 1, 1]}
        elif kind == "handle_formula":
            header["state"] = {"fn": ["quadratic", {"d": []}]}
        elif kind == "handle_out":
            its = _stack([theta0])
            header["stop"] = {"step": 1, "out": {"cb": 1}}
        elif kind == "handle_iterates":  # the iterates as a place in shared memory
            header["iterates"] = {"m": [0, "<f8", [steps + 1] + list(theta0.shape), "C"]}
        elif kind == "extra_fields":  # unknown fields, with handles in them
            header.update(value={"g": "sgd_step"}, rng=[{"cb": 1}], steps=10 ** 6,
                          theta={"m": [0, "<f8", [2], "C"]}, name="nap",
                          callbacks={"d": [["1", {"cb": 1}]]}, labels=["theta"])
        elif kind == "alias":  # the state is the very frame of the iterates
            header["state"] = header["iterates"]
        elif kind == "callback":
            return self.send({"op": "callback", "id": 1, "args": [], "kwargs": {"d": []}})
        elif kind == "return":
            return self.send({"op": "return", "value": 1.0})
        if its is not None:
            arrays = []
            header["iterates"] = _codec.encode(its, arrays)
        if stop is not None:
            header["stop"] = {"step": stop["step"], "out": _codec.encode(stop["out"], arrays)}
        self.send(header, arrays)

    def _calls(self, msg, arrs):
        kind = CALLS_FORGERY[0]
        calls = msg["calls"]
        if kind == "swap":  # the loops run backwards, each answer sent in the other's place
            sent = []
            self.send = lambda header, arrays=(): sent.append((header, list(arrays)))
            try:
                for call in reversed(calls):
                    self.serve_loop(call, arrs)
            finally:
                del self.send
            for header, arrays in sent:
                self.send(dict(header, name="other"), arrays)
            return
        if kind == "exit_after_first":
            self.serve_loop(calls[0], arrs) if "plan" in calls[0] else \\
                self.serve_call(calls[0], arrs)
            os._exit(3)
        _honest_calls(self, msg, arrs)
        if kind == "stale":  # one answer more than asked: the next loop's, made longer
            arrays = []
            its = np.stack([LAST["theta"]] * (LAST["steps"] + 20))
            self.send({"op": "loop", "iterates": _codec.encode(its, arrays), "state": None,
                       "stop": None}, arrays)

    CALLS_FORGERY = ["none"]
    _child.Session.serve_loop = _loop
    _child.Session.serve_calls = _calls

    def forge(kind, once=False, calls="none"):
        FORGERY[0], FORGERY[1] = kind, once
        CALLS_FORGERY[0] = calls
''')

SPIN = STUDENT + textwrap.dedent('''
    import resource
    import sys
    # the child's own CPU limit is never re-armed, and each step lifts it to the hard limit
    sys.modules["autograder.sandbox.child"].Session._arm_cpu = lambda self, calls=1: None

    def spin_step(theta, grad, lr):
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        while True:
            pass
''')


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _problem():
    return problems.quadratic(dim=2, condition=4.0, seed=1)


def _local() -> dict:
    ns: dict = {}
    exec(STUDENT, ns)
    return ns


def _sgd(fn, lr=1.6):
    return StepCall(fn, THETA, GRAD, lr, returns=THETA)


def _loop(fn, steps=6, lr=1.6, theta0=None):
    problem = _problem()
    start = problem.start() if theta0 is None else theta0
    return (run_steps, (_sgd(fn, lr), start, problem.grad, steps), {"loss_fn": problem.loss})


def _here(steps=6, lr=1.6, theta0=None):
    """The honest trajectory, run in this process (what Jupyter gives)."""
    _, args, kwargs = _loop(_local()["sgd_step"], steps, lr, theta0)
    return run_steps(*args, **kwargs)


def _same(a, b) -> None:
    assert a.iterates.tobytes() == b.iterates.tobytes()
    assert (a.losses is None) == (b.losses is None)
    if a.losses is not None:
        assert a.losses.tobytes() == b.losses.tobytes()
    assert a.diverged_at == b.diverged_at


def _forger(server, kind, *, once=False, calls="none", limits=None):
    sub = server.spawn([FORGE], limits=limits)
    assert sub.status == "ok", sub.cells
    sub.proxy("forge")(kind, once, calls)
    return sub


def _requests(sub) -> list:
    """The ops of the requests the grader sends to ``sub`` from now on."""
    sent: list = []
    send = sub._send
    sub._send = lambda header, *rest: (sent.append(header["op"]), send(header, *rest))
    return sent


def _honest_next(server) -> None:
    """A fresh, honest submission on the same fork server gets exactly the honest results."""
    with server.spawn([STUDENT]) as sub:
        sent = _requests(sub)
        outs = call_each([(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                          _loop(sub.proxy("sgd_step")), _loop(sub.proxy("sgd_step"), 3, 0.5)])
        assert sent == ["calls"]
        np.testing.assert_array_equal(outs[0].get(), -0.5 * np.ones(2))
        _same(outs[1].get(), _here())
        _same(outs[2].get(), _here(3, 0.5))
        assert sub.alive


# -- answers of the wrong form ----------------------------------------------------------------

SHAPE, STOP = "iterates of the wrong type or shape", "a stop at a step that does not follow"
WRONG_FORM = {"f32": SHAPE, "int": SHAPE, "list": SHAPE, "shape": SHAPE, "empty": SHAPE,
              "short": "fewer iterates than steps without a reason", "claim_steps": SHAPE,
              "ulp": "a trajectory that does not start at theta0",
              "nan_middle": "a trajectory that goes on after a non-finite iterate",
              "stop_wrong": STOP, "stop_after_nan": STOP, "return": "unexpected message 'return'"}


@pytest.mark.parametrize("kind", sorted(WRONG_FORM))
def test_a_loop_answer_of_the_wrong_form_kills_the_submission_as_alone(server, kind):
    # attack: iterates of another dtype/type/shape, none, too few without a reason, more than
    # the grader's steps (the answer claiming more), a start one ulp off theta0, iterates going
    # on after a NaN, a stop at a step that does not follow them, a "return" for a loop
    sub = _forger(server, kind)
    try:
        outs = call_each([(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                          _loop(sub.proxy("sgd_step")),
                          (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                          _loop(sub.proxy("sgd_step"))], names=["sgd_step"] * 4)
        np.testing.assert_array_equal(outs[0].get(), -0.5 * np.ones(2))  # kept
        with pytest.raises(ProtocolError, match=WRONG_FORM[kind]) as batched:
            outs[1].get()
        for out in outs[2:]:  # nothing more is read from a child that forged
            with pytest.raises(SandboxDied):
                out.get()
        assert not sub.alive
    finally:
        sub.close()
    with _forger(server, kind) as sub:  # the same forged loop asked for alone: the same words
        _, args, kwargs = _loop(sub.proxy("sgd_step"))
        with pytest.raises(ProtocolError) as alone:
            run_steps(*args, **kwargs)
        assert not sub.alive
    assert str(batched.value) == str(alone.value)
    _honest_next(server)


@pytest.mark.parametrize("kind", ["stop_zero", "claim_steps"])
def test_a_loop_of_zero_steps_cannot_be_answered_with_a_step(server, kind):
    # attack: the grader asked for no step at all; the answer reports one (a stop at step 1, or
    # iterates claimed for 50 steps): the number of steps is the grader's, never the answer's
    with _forger(server, kind) as sub:
        outs = call_each([_loop(sub.proxy("sgd_step"), steps=0),
                          (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))])
        with pytest.raises(ProtocolError, match="sent back a stop|wrong type or shape"):
            outs[0].get()
        with pytest.raises(SandboxDied):
            outs[1].get()
        assert not sub.alive
    _honest_next(server)


# -- handles and unknown fields -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["handle_state", "handle_rng", "handle_formula", "handle_out",
                                  "handle_iterates", "stop_bool"])
def test_a_handle_in_a_loop_answer_is_refused_in_its_place_only(server, kind):
    # attack: the state, the stop's output or the iterates name a function of the submission, a
    # Generator, a gradient formula, a callback or a place in shared memory: decoded without
    # any handler, they are malformed data for that entry only, never an object
    with _forger(server, kind, once=True) as sub:
        outs = call_each([_loop(sub.proxy("sgd_step")),
                          (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                          _loop(sub.proxy("sgd_step"), 3, 0.5)], names=["sgd_step"] * 3)
        with pytest.raises(ProtocolError, match="sent back malformed data") as batched:
            outs[0].get()
        np.testing.assert_array_equal(outs[1].get(), -0.5 * np.ones(2))
        _same(outs[2].get(), _here(3, 0.5))  # the next loop is the honest one, judged as such
        assert sub.alive
        sub.proxy("forge")(kind, True)
        _, args, kwargs = _loop(sub.proxy("sgd_step"))
        with pytest.raises(ProtocolError) as alone:
            run_steps(*args, **kwargs)
    assert str(batched.value) == str(alone.value)
    _honest_next(server)


def test_unknown_fields_of_a_loop_answer_are_never_read(server):
    # attack: the answer carries handles and claims in fields the grader does not know
    # (value, rng, steps, theta, name, callbacks, labels): the trajectory is the honest one
    with _forger(server, "extra_fields") as sub:
        outs = call_each([_loop(sub.proxy("sgd_step")), _loop(sub.proxy("sgd_step"), 3, 0.5)])
        _same(outs[0].get(), _here())
        _same(outs[1].get(), _here(3, 0.5))
        assert outs[0].get().final_state is None and outs[0].get().steps == 6
        assert sub.alive


def test_an_array_frame_shared_by_the_iterates_and_the_state_stays_two_values(server):
    # attack: the state is the very frame the iterates are read from (each decode of the
    # answer starts a new frame budget): the Trajectory's iterates are its own copy, so the
    # state (which a test may hand on, or change) never aliases them
    with _forger(server, "alias") as sub:
        (out,) = call_each([_loop(sub.proxy("sgd_step"))])
        traj = out.get()
        _same(traj, _here())
        assert isinstance(traj.final_state, np.ndarray)
        assert not np.shares_memory(traj.iterates, traj.final_state)
        traj.final_state[...] = 0.0
        _same(traj, _here())


def test_a_callback_asked_for_by_a_loop_entry_kills_the_submission(server):
    # attack: the loop entry asks the grader to call a function of the test (the gradient went
    # as a formula: nothing was offered): a forgery, not a conversation to serve
    sub = _forger(server, "callback")
    try:
        sent = _requests(sub)
        outs = call_each([(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5)),
                          _loop(sub.proxy("sgd_step")), _loop(sub.proxy("sgd_step"))])
        assert sent == ["calls"]  # no callback answer went back to the child
        np.testing.assert_array_equal(outs[0].get(), -0.5 * np.ones(2))
        with pytest.raises(ProtocolError, match="unexpected message 'callback'"):
            outs[1].get()
        with pytest.raises(SandboxDied):
            outs[2].get()
        assert not sub.alive
    finally:
        sub.close()
    _honest_next(server)


def test_a_forged_stop_on_a_good_step_fails_that_entry_with_the_words_of_the_loop_alone(server):
    # attack: a stop on a step whose output is a well-formed theta (to end a loop early while
    # looking like the student's own malformed step): that entry fails, the others stand
    with _forger(server, "stop_ok", once=True) as sub:
        outs = call_each([_loop(sub.proxy("sgd_step")), _loop(sub.proxy("sgd_step"), 3, 0.5)])
        with pytest.raises(AssertionError, match="forged") as batched:
            outs[0].get()
        _same(outs[1].get(), _here(3, 0.5))
        sub.proxy("forge")("stop_ok", True)
        _, args, kwargs = _loop(sub.proxy("sgd_step"))
        with pytest.raises(AssertionError) as alone:
            run_steps(*args, **kwargs)
        assert sub.alive
    assert str(batched.value) == str(alone.value)


# -- order, extra answers, death ------------------------------------------------------------------

def test_loop_answers_in_the_wrong_order_are_judged_by_position(server):
    # attack: the child runs the two loops backwards, sends each answer in the other's place
    # and names it for another function; two loops of the same form (theta0, 6 steps) whose
    # trajectories differ: each answer is judged as the entry's at its position (the student's
    # loss: the first entry now fails the first loop's reference)
    with _forger(server, "none", calls="swap") as sub:
        outs = call_each([_loop(sub.proxy("sgd_step"), lr=1.6),
                          _loop(sub.proxy("sgd_step"), lr=0.5)])
        _same(outs[0].get(), _here(lr=0.5))
        _same(outs[1].get(), _here(lr=1.6))
        with pytest.raises(AssertionError, match="first differs at step 1"):
            assert_trajectory_close(outs[0].get(), _here(lr=1.6).iterates, rtol=1e-10)
        assert sub.alive
    _honest_next(server)


def test_an_extra_loop_answer_is_judged_by_the_next_loops_own_plan(server):
    # attack: after the batch's answers the child queues one more "loop" answer, starting at
    # the next loop's theta0 but 20 iterates longer: the next loop asked for alone reads it
    # against the grader's plan (6 steps) and the submission is killed
    with _forger(server, "none", calls="stale") as sub:
        outs = call_each([_loop(sub.proxy("sgd_step")),
                          (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))])
        _same(outs[0].get(), _here())
        _, args, kwargs = _loop(sub.proxy("sgd_step"))
        with pytest.raises(ProtocolError, match="wrong type or shape"):
            run_steps(*args, **kwargs)
        assert not sub.alive
    _honest_next(server)


def test_a_child_that_exits_after_a_loop_keeps_that_loop_and_fails_the_rest(server):
    # attack: the process answers the first loop and exits: that answer is kept, the entries
    # after it fail as a dead process's calls do
    with _forger(server, "none", calls="exit_after_first") as sub:
        outs = call_each([_loop(sub.proxy("sgd_step")), _loop(sub.proxy("sgd_step"), 3, 0.5),
                          (sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))])
        _same(outs[0].get(), _here())
        for out in outs[1:]:
            with pytest.raises(SandboxDied, match="exited with code 3"):
                out.get()
        assert not sub.alive
    _honest_next(server)


# -- time -----------------------------------------------------------------------------------------

def _slow(fn, steps, pause):
    problem = _problem()
    return (run_steps, (StepCall(fn, THETA, GRAD, 0.5, pause, returns=THETA), problem.start(),
                        problem.grad, steps))


def test_a_loop_gets_its_steps_time_and_cannot_borrow_the_batchs(server):
    # attack: a slow loop next to many quick calls, hoping for the request's total time (10
    # calls of 0.5 s + the loop's 1 s). The loop has the time of its 2 steps and no more,
    # and ends with the words of the same loop alone; a loop within its steps' time (3 steps
    # of 0.2 s: more than one call's 0.5 s) is answered
    with server.spawn([STUDENT], limits=SHORT) as sub:
        quick = [(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))] * 10
        outs = call_each([_slow(sub.proxy("slow_step"), 3, 0.2)] + quick[:2])
        assert outs[0].get().steps == 3 and sub.alive
        started = time.monotonic()
        outs = call_each([_slow(sub.proxy("slow_step"), 2, 0.9)] + quick)
        elapsed = time.monotonic() - started
        with pytest.raises(CallTimeout, match="wall-clock limit of 1 s") as batched:
            outs[0].get()
        assert elapsed < 2 * SHORT.call_wall_s + 2.0
        assert not sub.alive
    with server.spawn([STUDENT], limits=SHORT) as sub:
        _, args = _slow(sub.proxy("slow_step"), 2, 0.9)
        with pytest.raises(CallTimeout) as alone:
            run_steps(*args)
    assert str(batched.value) == str(alone.value)


def test_a_call_after_a_quick_loop_gets_one_calls_time_not_what_the_loop_left(server):
    # attack: a 10-step loop answered at once leaves 4.5 s of its 5 s; the call after it
    # sleeps: it ends after a single call's 0.5 s, with the words of the call alone
    with server.spawn([STUDENT], limits=SHORT) as sub:
        started = time.monotonic()
        outs = call_each([_loop(sub.proxy("sgd_step"), steps=10),
                          (sub.proxy("nap"), (np.zeros(1),))], no_mutation=False)
        elapsed = time.monotonic() - started
        assert outs[0].get().steps == 10
        with pytest.raises(CallTimeout, match="wall-clock limit of 0.5 s") as batched:
            outs[1].get()
        assert elapsed < SHORT.call_wall_s + 2.0
    with server.spawn([STUDENT], limits=SHORT) as sub:
        with pytest.raises(CallTimeout) as alone:
            sub.proxy("nap")(np.zeros(1))
    assert str(batched.value) == str(alone.value)


def test_a_loop_entry_that_drops_its_cpu_limit_is_stopped_by_its_steps_cpu(server):
    # attack: the child never re-arms RLIMIT_CPU and lifts it to the hard limit, then spins in
    # step 1 of a 2-step loop sent with 10 other calls (the request's CPU: 12 x 0.5 s, its wall
    # 12 x 5 s). The grader's backstop stops it at the loop's own 1 s (+ slack)
    problem = _problem()

    def spin(sub):
        return (run_steps, (_sgd(sub.proxy("spin_step"), 0.5), problem.start(), problem.grad, 2))

    with server.spawn([SPIN], limits=CPU) as sub:
        assert sub.status == "ok", sub.cells
        quick = [(sub.proxy("sgd_step"), (np.zeros(2), np.ones(2), 0.5))] * 10
        started = time.monotonic()
        outs = call_each([quick[0], spin(sub)] + quick[1:])
        elapsed = time.monotonic() - started
        np.testing.assert_array_equal(outs[0].get(), -0.5 * np.ones(2))
        with pytest.raises(CallTimeout, match="CPU time limit of 1 s") as batched:
            outs[1].get()
        for out in outs[2:]:
            with pytest.raises((CallTimeout, SandboxDied)):
                out.get()
        assert elapsed < 2 * CPU.call_cpu_s + 0.5 + 2.5
        assert not sub.alive
    with server.spawn([SPIN], limits=CPU) as sub:
        with pytest.raises(CallTimeout) as alone:
            run_steps(*spin(sub)[1])
    assert str(batched.value) == str(alone.value)
    _honest_next(server)


# -- the grading budget ---------------------------------------------------------------------------

def test_a_spent_grading_budget_sends_no_loop_at_all(server):
    # attack: a batch led by a loop entry, after the submission's budget is spent (the loop
    # entry holds the proxy itself, not the budgeted one): nothing reaches the child
    with server.spawn([STUDENT]) as sub:
        budget = _Budget(0.0)
        time.sleep(0.01)
        step = _BudgetedProxy(sub.proxy("sgd_step"), budget, CallTimeout)
        sent = _requests(sub)
        with pytest.raises(CallTimeout, match="budget") as batched:
            call_each([_loop(step), (step, (np.zeros(2), np.ones(2), 0.5)), _loop(step)])
        with pytest.raises(CallTimeout) as alone:
            _, args, kwargs = _loop(step)
            run_steps(*args, **kwargs)
        assert sent == [] and sub.alive
        assert str(batched.value) == str(alone.value)


def test_a_budget_spent_during_a_loop_entry_stops_the_entries_after_it(server):
    # attack: a slow loop entry that runs past the budget (within its own steps' time): the
    # entries after it are not started, the child (already running the next) is stopped
    with server.spawn([STUDENT]) as sub:
        budget = _Budget(0.3)
        slow = _BudgetedProxy(sub.proxy("slow_step"), budget, CallTimeout)
        step = _BudgetedProxy(sub.proxy("sgd_step"), budget, CallTimeout)
        started = time.monotonic()
        outs = call_each([_slow(slow, 3, 0.25), _loop(step),
                          (step, (np.zeros(2), np.ones(2), 0.5))])
        elapsed = time.monotonic() - started
        assert outs[0].get().steps == 3
        for out in outs[1:]:
            with pytest.raises(CallTimeout, match="grading time budget"):
                out.get()
        assert not sub.alive
        assert elapsed < 3 * 0.25 + 2.0
    _honest_next(server)
