"""Step loops run inside the sandbox, grader side: the request, and the checks on its answer.

``checks.run_steps`` of a ``StepCall`` whose function is a sandbox proxy runs its loop next to
the student's code (``loops.py`` is the child's side). The loop crosses as plain data: the
start, the number of steps, the state, the step's arguments as slots or constants, and the
problem's gradient as its formula's data (a gradient without one is a callback per step). The
answer is plain data too: the iterates reached, the final state and, when a step's output was
malformed, that output. Nothing about the iterates' values is believed: their form is checked
here (they start at theta0, there are no more than the steps asked for, and they end early only
at a non-finite iterate or at the malformed step), and the test compares them with the
reference's step by step.

A loop is asked for alone (:func:`perform_loop`) or as one entry of a batch of independent
requests (a :class:`LoopEntry`, ``batch.py``); both are encoded and judged by the functions here.
"""

from __future__ import annotations

import numpy as np

from . import codec
from .calls import CallArguments, Proxy, _converse, _reset
from .errors import ProtocolError, SandboxDied


class LoopEntry:
    """A loop of ``proxy`` as one entry of a batch of requests (``Proxy.loop_entry``)."""

    __slots__ = ("proxy", "step", "theta", "grad_fn", "steps", "state")

    def __init__(self, proxy: Proxy, step, theta: np.ndarray, grad_fn, steps: int, state):
        self.proxy = proxy
        self.step = step
        self.theta = theta
        self.grad_fn = grad_fn
        self.steps = int(steps)
        self.state = state


def encode_plan(call: CallArguments, step, theta: np.ndarray, grad_fn, steps: int, state):
    """The loop's plan as the child's ``loops.Plan`` reads it, encoded by ``call`` (a function
    in it becomes a callback of ``call``; a known gradient formula crosses as its data)."""
    spec = getattr(grad_fn, "spec", None)
    return encode_plan_of(
        call, theta, int(steps), state, [_template(a) for a in step.args],
        [[str(k), _template(v)] for k, v in step.kwargs.items()], _returns(step.returns),
        # the problem's gradient as its formula's data, else a callback per step
        list(spec) if isinstance(spec, tuple) and len(spec) == 2 else grad_fn)


def encode_plan_of(call: CallArguments, theta, steps: int, state, args: list, kwargs: list,
                   returns, grad):
    """The plan's layout, its step already as templates (``["s", slot]`` or ``["v",
    constant]``) and ``returns`` as the child reads them; also what the fork server's
    rehearsal sends (sandbox/rehearsal.py, which has no StepCall)."""
    plan = {"theta": theta, "steps": steps, "state": state, "args": args, "kwargs": kwargs,
            "returns": returns, "grad": grad}
    (tree_plan,), _ = call.encode((plan,), {})
    return tree_plan


def read_reply(sub, proxy: Proxy, msg: dict, arrs: list, theta: np.ndarray, steps: int) -> dict:
    """The plain data of a loop's answer, its form checked: ``{"iterates": (n + 1, *shape)
    float64, "state": the final state, "stop": None or {"step": t, "out": what step t
    returned}}``. Malformed data raises ProtocolError; iterates that no loop of ``steps`` steps
    from ``theta`` can have reached kill the submission (a forgery)."""
    try:
        iterates = codec.decode(msg.get("iterates"), arrs)
        final = codec.decode(msg.get("state"), arrs)
        stop = msg.get("stop")
        if stop is not None:
            if not (isinstance(stop, dict) and type(stop.get("step")) is int):
                raise codec.CodecError("malformed stop")
            stop = {"step": stop["step"], "out": codec.decode(stop.get("out"), arrs)}
    except codec.CodecError as exc:
        raise ProtocolError(f"the loop of {proxy.name} sent back malformed data: {exc}") from None
    why = _trajectory_problem(iterates, theta, int(steps), stop)
    if why:
        sub._kill("protocol", f"the loop of {proxy.name} sent back {why}")
        raise ProtocolError(sub.reason)
    return {"iterates": iterates, "state": final, "stop": stop}


def perform_loop(sub, proxy: Proxy, step, theta: np.ndarray, grad_fn, steps: int, state):
    """Run ``run_steps`` of a ``StepCall`` of this proxy inside the child, alone: its answer as
    :func:`read_reply` gives it. The limits are those of ``steps`` calls."""
    _reset(proxy)
    if not sub._alive:
        raise SandboxDied(sub._death_message())
    arrays: list = []
    call = CallArguments(sub, None, arrays)  # nothing to observe: every step gets copies
    header = {"op": "loop", "name": proxy.name,
              "plan": encode_plan(call, step, theta, grad_fn, steps, state)}
    msg, arrs = _converse(sub, proxy, call, header, arrays, "loop", max(1, int(steps)))
    return read_reply(sub, proxy, msg, arrs, theta, int(steps))


def _trajectory_problem(iterates, theta: np.ndarray, steps: int, stop) -> str | None:
    """Why the child's iterates cannot be what a loop of ``steps`` steps from ``theta`` reached
    (None when they can); nothing about their values is believed beyond their form."""
    if not (isinstance(iterates, np.ndarray) and iterates.dtype == np.float64
            and iterates.shape[1:] == theta.shape and 1 <= iterates.shape[0] <= steps + 1):
        return "iterates of the wrong type or shape"
    if iterates[0].tobytes() != theta.tobytes():
        return "a trajectory that does not start at theta0"
    n = iterates.shape[0] - 1
    finite = np.isfinite(iterates.reshape(n + 1, -1)).all(axis=1)
    if not finite[1:n].all():
        return "a trajectory that goes on after a non-finite iterate"
    if stop is not None:
        if stop["step"] != n + 1 or not 1 <= stop["step"] <= steps or (n and not finite[n]):
            return "a stop at a step that does not follow its iterates"
    elif n != steps and (n == 0 or finite[n]):
        return "fewer iterates than steps without a reason"
    return None


def _template(value):
    """A StepCall argument as the child's loop reads it: a slot or a constant."""
    from autograder.checks.steps import Slot

    if not isinstance(value, Slot):
        return ["v", value]
    key = value.key
    return ["s", list(key) if isinstance(key, tuple) else key]


def _returns(returns):
    from autograder.checks.steps import Slot

    if isinstance(returns, Slot):
        return "theta"
    return [list(r.key) if isinstance(r.key, tuple) else r.key for r in returns]
