"""A step function written as data: one call of a stub, its arguments drawn from the loop.

``run_steps`` drives ``theta, state = step(theta, grad, state)``. Written as a Python adapter
(``lambda th, g, s: (sgd_step(th, g, 1.6), s)``), a step can only run where the test runs, so in
batch grading every step is a round trip to the student's sandboxed process. Written as a
:class:`StepCall`, the same step is plain data (which stub, which arguments in which place,
which results go where) and the whole loop can run next to the student's code, inside the
sandbox, with the test's public problem::

    from autograder.checks import GRAD, STATE, STEP, THETA, StepCall
    StepCall(sgd_step, THETA, GRAD, 1.6, returns=THETA)          # theta' = sgd_step(theta, g, lr)
    StepCall(momentum_step, THETA, GRAD, STATE, 1.0, 0.3)         # (theta', v') = ...
    StepCall(adam_step, THETA, GRAD, STATE[0], STATE[1], STEP, lr=0.05,
             returns=(THETA, STATE[0], STATE[1]))                 # state (m, v); t = 1, 2, ...

Nothing computed there is trusted: the sandbox sends back the iterates only, and every verdict
(the trajectory against the reference's, convergence, divergence, a malformed step) is made by
the grader from them, exactly as for a loop run here. In Jupyter, and for the reference
solutions at build time, a :class:`StepCall` simply runs here.
"""

from __future__ import annotations

import numpy as np

from ._safe import plain_array, type_name

__all__ = ["GRAD", "STATE", "STEP", "THETA", "StepCall"]


class Slot:
    """A place in a step call filled by the loop: theta, the gradient, the state (or one item
    of it) or the 1-based step number."""

    def __init__(self, key):
        self.key = key  # "theta" | "grad" | "state" | "step" | ("state", i)

    def __getitem__(self, index):
        if self.key != "state" or type(index) is not int or index < 0:
            raise TypeError("only STATE can be indexed, with a non-negative int")
        return Slot(("state", index))

    def __repr__(self) -> str:
        return f"STATE[{self.key[1]}]" if isinstance(self.key, tuple) else self.key.upper()


THETA = Slot("theta")
GRAD = Slot("grad")
STATE = Slot("state")
STEP = Slot("step")


def _is_slot(value) -> bool:
    return isinstance(value, Slot)


class StepCall:
    """``theta, state = step(theta, grad, state)`` as one call of ``fn``.

    ``args``/``kwargs`` are constants or slots (:data:`THETA`, :data:`GRAD`, :data:`STATE`,
    ``STATE[i]``, :data:`STEP`). ``returns`` says what ``fn`` returns: :data:`THETA` (theta
    only, the state is unchanged), or a tuple of slots, one per returned value
    (``(THETA, STATE)`` by default; ``(THETA, STATE[0], STATE[1])`` replaces those items of
    the state).
    """

    def __init__(self, fn, *args, returns=(THETA, STATE), **kwargs):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        if _is_slot(returns):
            if returns.key != "theta":
                raise ValueError("returns must be THETA or a tuple of slots")
        else:
            returns = tuple(returns)
            keys = [r.key if _is_slot(r) else None for r in returns]
            if keys.count("theta") != 1 or None in keys or "grad" in keys or "step" in keys:
                raise ValueError("returns must hold THETA once and otherwise STATE or STATE[i]")
            if "state" in keys and any(isinstance(k, tuple) for k in keys):
                raise ValueError("returns cannot hold both STATE and STATE[i]")
        self.returns = returns

    @property
    def name(self) -> str:
        return str(getattr(self.fn, "__name__", "the step function"))

    def describe_returns(self) -> str:
        if _is_slot(self.returns):
            return "theta'"
        names = ["theta'" if r.key == "theta" else ("state'" if r.key == "state"
                 else f"state[{r.key[1]}]'") for r in self.returns]
        return f"a tuple of {len(names)} ({', '.join(names)})"

    def arguments(self, theta, grad, state, t):
        """The call's positional and keyword arguments at step ``t``."""
        def fill(value):
            if not _is_slot(value):
                return value
            key = value.key
            if key == "theta":
                return theta
            if key == "grad":
                return grad
            if key == "state":
                return state
            if key == "step":
                return t
            return state[key[1]]

        return [fill(a) for a in self.args], {k: fill(v) for k, v in self.kwargs.items()}

    def unpack(self, t, out, state):
        """``(new_theta, new_state)`` from what ``fn`` returned at step ``t``; AssertionError
        naming the step when it is not what ``returns`` says."""
        if _is_slot(self.returns):
            return out, state
        n = len(self.returns)
        if not isinstance(out, (tuple, list)) or len(out) != n:
            got = type_name(out) if not isinstance(out, (tuple, list)) else \
                f"a {type_name(out)} of {len(out)}"
            raise AssertionError(f"step {t}: {self.name} must return {self.describe_returns()}, "
                                 f"got {got}")
        items = list(state) if any(isinstance(r.key, tuple) for r in self.returns) else None
        theta = None
        for slot, value in zip(self.returns, out):
            if slot.key == "theta":
                theta = value
            elif slot.key == "state":
                state = value
            else:
                items[slot.key[1]] = value
        if items is not None:
            state = tuple(items)
        return theta, state

    def __call__(self, theta, grad, state, t=None):
        """Run one step here: ``(theta', state')``."""
        args, kwargs = self.arguments(theta, grad, state, t)
        return self.unpack(t, self.fn(*args, **kwargs), state)


def check_iterate(t, value, shape) -> np.ndarray:
    """The float64 iterate a step returned, or AssertionError naming step ``t``."""
    arr = plain_array(value)
    if arr is None or arr.dtype.kind not in "biuf":
        raise AssertionError(f"step {t}: theta must be a float array of shape {shape}, "
                             f"got {type_name(value)}")
    if arr.shape != shape:
        raise AssertionError(f"step {t}: theta has shape {arr.shape}, expected {shape} "
                             "(the shape of theta0)")
    return arr.astype(np.float64)


def sandbox_loop(step):
    """The sandbox's loop runner of the stub a :class:`StepCall` calls, or None when the stub
    runs here (Jupyter, the reference solutions)."""
    if not isinstance(step, StepCall):
        return None
    runner = getattr(step.fn, "run_loop", None)
    return runner if callable(runner) else None


def run_in_sandbox(runner, step: StepCall, theta, grad_fn, steps: int, state):
    """Run the loop next to the student's code; return ``(iterates, final_state)``.

    The sandbox sends back plain data only: the iterates it reached, the final state and, when
    a step returned something malformed, that step's raw output with the state before it. The
    sandbox's side has checked the iterates' form (shape, finiteness, start at ``theta0``);
    here a malformed step raises the very AssertionError the same loop run here raises.
    """
    return sandbox_result(step, theta, runner(step, theta, grad_fn, steps, state))


def sandbox_result(step: StepCall, theta, reply: dict):
    """``(iterates, final_state)`` of a loop's answer from the sandbox (see run_in_sandbox)."""
    stop = reply.get("stop")
    if stop is not None:
        t = stop["step"]
        new_theta, _ = step.unpack(t, stop["out"], reply["state"])
        check_iterate(t, new_theta, theta.shape)
        raise AssertionError(f"step {t}: the sandbox stopped the loop on a step that is "
                             "well-formed (a forged reply)")
    return reply["iterates"], reply["state"]
