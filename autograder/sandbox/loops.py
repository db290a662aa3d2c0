"""Child side of a step loop: ``run_steps`` of a ``StepCall`` run next to the student's code.

A trajectory test calls one stub once per step. Through proxies that is one round trip per
step; here the loop runs inside the sandbox: the grader sends the step as data (which stub, its
arguments as constants or slots: theta, the gradient, the state or one item of it, the step
number; which returned values go where), the start, the number of steps and the test's public
problem's gradient (its formula's kind and plain data, or a callback to the grader), and gets
back the iterates.

Nothing here is trusted. The student's process could send any iterates it likes; the grader
checks their form and compares them with the reference's, so a forged trajectory is worth
exactly what writing the right stub is worth (a stateful stub could return anything per call
through proxies too). What a step returns is judged by the grader: a malformed step stops the
loop and its raw output goes back for the grader's own check and message.

The gradient formulas repeat those of ``autograder/checks/problems.py`` expression by
expression (the child cannot read the checks package), so the floats are the same bits;
``tests/test_sandbox_loops.py`` holds the two to that.
"""

from __future__ import annotations

import numpy as np

SLOT_KEYS = ("theta", "grad", "state", "step")
MAX_LOOP_STEPS = 100_000


class LoopError(Exception):
    """A malformed loop request (the grader's own error, never the student's)."""


def _quadratic(data):
    A, x_star = data["A"], data["x_star"]

    def grad(x):
        return A @ (np.asarray(x, dtype=np.float64) - x_star)

    return grad


def _rosenbrock(data):
    a, b = float(data["a"]), float(data["b"])

    def grad(p):
        x, y = np.asarray(p, dtype=np.float64)
        return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])

    return grad


def _linear_regression(data):
    X, y = data["X"], data["y"]
    n_ = X.shape[0]

    def grad(theta):
        return X.T @ (X @ np.asarray(theta, dtype=np.float64) - y) / n_

    return grad


def _least_squares(data):
    X, Y = data["X"], data["Y"]

    def grad(theta):
        return 2.0 * X.T @ (X @ np.asarray(theta, dtype=np.float64) - Y)

    return grad


def _shape_guard(v, shape, caller):
    v = np.asarray(v, dtype=np.float64)
    if v.shape != shape:
        raise ValueError(f"f was called with an array of shape {v.shape}; {caller} must call f "
                         f"with arrays shaped like x, {shape}")
    return v


def _sines_and_squares(data):
    c, w, caller = data["c"], data["w"], str(data["caller"])
    shape = tuple(c.shape)

    def f(v):
        v = _shape_guard(v, shape, caller)
        return float(np.sum(c * np.sin(v)) + 0.5 * np.sum(w * v * v))

    return f


def _cubes(data):
    a, caller = data["a"], str(data["caller"])
    shape = tuple(a.shape)

    def f(v):
        v = _shape_guard(v, shape, caller)
        return float(np.sum(a * v**3))

    return f


GRADIENTS = {"quadratic": _quadratic, "rosenbrock": _rosenbrock,
             "linear_regression": _linear_regression, "least_squares": _least_squares,
             # not gradients: functions whose numerical gradient a test asks for
             "sines_and_squares": _sines_and_squares, "cubes": _cubes}


def gradient(spec):
    """The gradient function of a problem spec: ``["kind", {data}]`` or a callback."""
    if callable(spec):
        return spec
    if not (isinstance(spec, (list, tuple)) and len(spec) == 2 and spec[0] in GRADIENTS
            and isinstance(spec[1], dict)):
        raise LoopError("malformed gradient")
    try:
        return GRADIENTS[spec[0]](spec[1])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LoopError(f"malformed {spec[0]} data: {exc}") from None


def _slot(node):
    """A decoded template node: ``("s", key)`` for a slot, ``("v", value)`` for a constant."""
    if not (isinstance(node, list) and len(node) == 2 and node[0] in ("s", "v")):
        raise LoopError("malformed argument template")
    if node[0] == "s":
        key = node[1]
        if key in SLOT_KEYS:
            return ("s", key)
        if isinstance(key, list) and len(key) == 2 and key[0] == "state" and type(key[1]) is int \
                and key[1] >= 0:
            return ("s", ("state", key[1]))
        raise LoopError("malformed slot")
    return ("v", node[1])


_SLOT_CODES = {"theta": 1, "grad": 2, "state": 3, "step": 4}


def _code(node):
    """A slot as ``(code, payload)``: 0 a constant (the payload), 1-4 theta, grad, the state,
    the step number, 5 an item of the state (the payload its index)."""
    kind, key = node
    if kind == "v":
        return 0, key
    if isinstance(key, tuple):
        return 5, key[1]
    return _SLOT_CODES[key], None


class Plan:
    """A decoded loop request."""

    def __init__(self, plan: dict):
        if not isinstance(plan, dict):
            raise LoopError("malformed loop")
        theta = plan.get("theta")
        steps = plan.get("steps")
        if not isinstance(theta, np.ndarray) or theta.dtype != np.float64:
            raise LoopError("theta0 must be a float64 array")
        if type(steps) is not int or not 0 <= steps <= MAX_LOOP_STEPS:
            raise LoopError("malformed number of steps")
        self.theta0 = np.array(theta, dtype=np.float64, copy=True)
        self.steps = steps
        self.state = plan.get("state")
        args, kwargs = plan.get("args"), plan.get("kwargs")
        if not isinstance(args, list) or not isinstance(kwargs, list):
            raise LoopError("malformed argument template")
        self.args = [_slot(a) for a in args]
        self.kwargs = []
        for pair in kwargs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise LoopError("malformed keyword template")
            self.kwargs.append((pair[0], _slot(pair[1])))
        returns = plan.get("returns")
        if returns == "theta":
            self.returns = None
        elif isinstance(returns, list) and returns:
            self.returns = [_slot(["s", r])[1] for r in returns]
            if self.returns.count("theta") != 1 or "grad" in self.returns \
                    or "step" in self.returns:
                raise LoopError("malformed returns")
        else:
            raise LoopError("malformed returns")
        self.grad = gradient(plan.get("grad"))
        self._codes = None  # see arguments
        # whether a step returns items of the state (then the state is rebuilt each step)
        self._items = self.returns is not None and any(isinstance(r, tuple) for r in self.returns)

    def arguments(self, theta, grad, state, t):
        if self._codes is None:  # each slot as (code, payload), worked out once per loop
            self._codes = ([_code(a) for a in self.args],
                           [(k, *_code(v)) for k, v in self.kwargs])
        given = (None, theta, grad, state, t)
        args = []
        for code, payload in self._codes[0]:
            args.append(payload if code == 0 else given[code] if code < 5 else state[payload])
        kwargs = {}
        for name, code, payload in self._codes[1]:
            kwargs[name] = payload if code == 0 else given[code] if code < 5 else state[payload]
        return args, kwargs

    def unpack(self, out, state):
        """``(theta, state)`` from a step's output, or None when it is not of the declared form
        (the grader then sees the output and says what is wrong with it)."""
        if self.returns is None:
            return out, state
        if not isinstance(out, (tuple, list)) or len(out) != len(self.returns):
            return None
        items = None
        if self._items:
            try:
                items = list(state)
            except TypeError:
                return None
        theta = None
        for key, value in zip(self.returns, out):
            if key == "theta":
                theta = value
            elif key == "state":
                state = value
            else:
                if key[1] >= len(items):
                    return None
                items[key[1]] = value
        return theta, (tuple(items) if items is not None else state)


def iterate_of(value, shape) -> np.ndarray | None:
    """The float64 iterate of a step's theta, or None when the grader must look at it."""
    if isinstance(value, np.ndarray):
        arr = value.view(np.ndarray)  # (as the codec would send it)
    elif isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, complex):
        arr = np.asarray(value)
    else:
        return None
    if arr.dtype.kind not in "biuf" or arr.shape != shape:
        return None
    return arr.astype(np.float64)


def is_plain(value, depth: int = 0) -> bool:
    """What the codec would send as it is (numbers, strings, plain-dtype arrays, lists, tuples,
    str-keyed dicts): a step's output must cross as a proxy call's would, so the loop checks
    each step's output the way sending it would."""
    if depth > 64:
        return False
    kind = type(value)
    if kind is np.ndarray:  # (the usual step output: an array, or a tuple of arrays)
        dt = value.dtype
        return dt.kind in "biufc" and dt.fields is None and dt.subdtype is None
    if kind is tuple or kind is list:
        for v in value:
            if not is_plain(v, depth + 1):
                return False
        return True
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return True
    if isinstance(value, np.ndarray):
        dt = value.dtype
        return dt.kind in "biufc" and dt.fields is None and dt.subdtype is None
    if isinstance(value, np.generic):
        return value.dtype.kind in "biufc" and value.dtype.fields is None
    if isinstance(value, (list, tuple)):
        return all(is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v, depth + 1) for k, v in value.items())
    return False
