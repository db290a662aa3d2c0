"""Shared helpers for the oracle tests of solutions/ (tests/test_oracle_hw*.py).

Independent of autograder.checks on purpose: the oracle tests must not lean on the code the
graders are built from.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager

import numpy as np
import torch

F64 = torch.float64


def t64(a, requires_grad=False):
    """A float64 torch tensor holding a copy of `a`."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def to_np(t):
    """A float64 NumPy copy of a torch tensor."""
    return t.detach().cpu().numpy().astype(np.float64, copy=True)


def _same(a, b):
    """Exact structural equality: dtype, shape and bits for arrays, recursive for containers."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


def call_checking_no_mutation(fn, *args, **kwargs):
    """Call fn(*args, **kwargs) on the caller's own objects and fail if any argument changed.

    Returns fn's result.
    """
    before_args = copy.deepcopy(args)
    before_kwargs = copy.deepcopy(kwargs)
    result = fn(*args, **kwargs)
    for i, (now, was) in enumerate(zip(args, before_args)):
        assert _same(now, was), f"{fn.__name__} modified positional argument {i}"
    for key in kwargs:
        assert _same(kwargs[key], before_kwargs[key]), f"{fn.__name__} modified argument {key!r}"
    return result


@contextmanager
def strict_floats():
    """Turn every NumPy floating-point event and every warning into an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def assert_float64_shape(a, shape):
    """The value is a float64 ndarray of exactly this shape."""
    assert isinstance(a, np.ndarray), f"expected an ndarray, got {type(a).__name__}"
    assert a.dtype == np.float64, f"expected float64, got {a.dtype}"
    assert a.shape == tuple(shape), f"expected shape {tuple(shape)}, got {a.shape}"


def assert_python_float(x):
    """A scalar the contract states as a float: a Python float (a 0-d array is also accepted by
    the contract, but the reference returns plain floats)."""
    assert isinstance(x, float), f"expected a Python float, got {type(x).__name__}"
