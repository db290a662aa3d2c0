"""The child's parameter names for a call's arguments (``Session._param_names``), which word a
no-mutation message: its fast path for plain functions (the code's variable names, what the
merged request of the cases asks of every call) names them as ``inspect.signature`` does."""

from __future__ import annotations

import functools
import inspect

import pytest

from autograder.sandbox.child import Session

FUNCTIONS = [
    "def f(a, b, c=1): pass",
    "def f(a, /, b, *rest, k=2, **kw): pass",
    "def f(*a): pass",
    "def f(x): pass",
    "def f(a, b=2, *, c): pass",
    "def f(theta, grad, state, t, lr=0.1, beta1=0.9): pass",
    "def f(a, b=1, /, *args): pass",
    "def f(**kw): pass",
]
CALLS = [((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1, 2, 3, 4, 5), {}), ((1,), {"c": 3}),
         ((), {"x": 1}), ((1, 2, 3, 4), {"lr": 0.5})]


def _oracle(fn, args, kwargs) -> list[str]:
    sig = inspect.signature(fn)
    sig.bind(*args, **kwargs)
    positional = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [positional[i] if i < len(positional) else f"arg{i}" for i in range(len(args))]


def _session() -> Session:
    return Session.__new__(Session)


@pytest.mark.parametrize("source", FUNCTIONS)
def test_plain_functions_are_named_as_their_signature_names_them(source):
    space: dict = {}
    exec(source, space)
    fn, session, checked = space["f"], _session(), 0
    for args, kwargs in CALLS:
        try:
            want = _oracle(fn, args, kwargs)
        except TypeError:
            continue  # a call that does not bind raises: no answer, no names asked for
        assert session._param_names(fn, list(args), kwargs) == want, (source, args, kwargs)
        checked += 1
    assert checked, source


def test_wrapped_and_other_callables_take_the_signature_path():
    def inner(values, scale):
        return values

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)

    class Scaler:
        def __call__(self, matrix, factor):
            return matrix

    session = _session()
    assert session._param_names(wrapper, [1, 2], {}) == ["values", "scale"]
    assert session._param_names(Scaler(), [1, 2], {}) == ["matrix", "factor"]
    assert session._param_names(functools.partial(inner, 1), [2], {}) == ["scale"]
