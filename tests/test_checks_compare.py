"""assert_close: metric, structure, and the messages it writes."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.checks import assert_close, check_close
from autograder.checks._safe import format_index


def _fails(actual, expected, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, **kw)
    return str(info.value)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), elements=finite))
def test_equal_arrays_pass(a):
    assert_close(a.copy(), a, rtol=0, atol=0)
    assert_close(a.copy(), a)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite),
    st.data(),
    st.sampled_from([1e-7, 1e-4]),
    st.sampled_from([0.0, 1e-8]),
)
def test_one_perturbed_entry_fails_and_is_named(e, data, rtol, atol):
    flat = data.draw(st.integers(0, e.size - 1))
    idx = np.unravel_index(flat, e.shape)
    a = e.copy()
    a[idx] += 3 * (atol + rtol * abs(e[idx])) + 1e-3 * (1 + abs(e[idx]))
    msg = _fails(a, e, rtol=rtol, atol=atol, name="grad_W", hint="check the bias column")
    assert msg.startswith(f"grad_W: 1 of {e.size} entries differ")
    assert f"worst at index {format_index(idx)}" in msg
    assert f"rtol={rtol:g}, atol={atol:g}" in msg
    assert msg.rstrip().endswith("hint: check the bias column")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(finite, st.floats(min_value=0, max_value=1e-3))
def test_metric_is_numpys(e, rel):
    a = e * (1 + rel)
    expected_ok = bool(np.isclose(a, e, rtol=1e-4, atol=1e-9))
    assert check_close(a, e, rtol=1e-4, atol=1e-9).passed == expected_ok


def test_scalars_of_every_kind_are_accepted_for_a_float():
    for got in (2.5, np.float64(2.5), np.array(2.5), np.float32(2.5), 5 / 2):
        assert_close(got, 2.5)
    assert_close(3, 3.0)
    assert_close(True, 1.0)


def test_scalar_message():
    msg = _fails(1.001, 1.0, name="squared_error(X, Y, theta)", hint="sum, not mean")
    assert msg.splitlines()[0] == "squared_error(X, Y, theta): got 1.001, expected 1"
    assert "max abs error 0.001" in msg and "rtol=1e-07" in msg
    assert msg.endswith("hint: sum, not mean")


def test_shape_one_array_is_not_a_float():
    msg = _fails(np.array([2.0]), 2.0, name="loss")
    assert "expected a float" in msg and "shape (1,)" in msg and ".item()" in msg


@pytest.mark.parametrize(
    "got, fragment",
    [
        (None, "got None"),
        ("abc", "got str 'abc'"),
        ([1.0, 2.0, 3.0], "got list of length 3"),
        ({"a": 1}, "got dict"),
        (np.array([1 + 0j, 2, 3]), "complex dtype complex128"),
        (np.array([1.0, 2.0, 3.0], dtype=object), "dtype object"),
        (np.array(["1", "2", "3"]), "dtype <U1"),
        (np.ones((3, 1)), "got shape (3, 1), expected (3,)"),
        (np.ones(4), "got shape (4,), expected (3,)"),
        (lambda: 0, "got function"),
    ],
)
def test_type_shape_dtype_messages(got, fragment):
    msg = _fails(got, np.ones(3), name="theta")
    assert msg.startswith("theta: ")
    assert fragment in msg
    assert "entries differ" not in msg  # type problems come before values


def test_column_vector_and_transpose_are_diagnosed():
    e = np.arange(6.0).reshape(2, 3)
    assert "transposed" in _fails(e.T.copy(), e)
    assert "(n, 1) instead of (n,)" in _fails(np.arange(3.0)[:, None], np.arange(3.0))
    assert "broadcast" in _fails(np.ones((3, 3)), np.ones(3))


def test_nan_and_inf_positions():
    e = np.array([1.0, 2.0, np.nan, np.inf, -np.inf])
    assert_close(e.copy(), e)  # matching NaN and infinities are equal
    a = e.copy()
    a[0] = np.nan
    msg = _fails(a, e, name="y")
    assert "NaN in the result where the expected value is not NaN: 1 entry at (0,)" in msg
    a = e.copy()
    a[2] = 0.0
    assert "expected NaN but the result is not NaN: 1 entry at (2,)" in _fails(a, e)
    a = e.copy()
    a[1] = np.inf
    assert "inf in the result" in _fails(a, e)
    a = e.copy()
    a[3] = 1e308
    assert "expected inf but the result is finite" in _fails(a, e)
    a = e.copy()
    a[4] = np.inf
    assert "1 of 5 entries differ" in _fails(a, e)


def test_counts_worst_and_errors():
    e = np.array([[1.0, 2.0], [3.0, 4.0]])
    a = e + np.array([[0.0, 1e-3], [0.0, -0.5]])
    msg = _fails(a, e, rtol=1e-6)
    assert "2 of 4 entries differ (50%)" in msg
    assert "worst at index (1, 1): got 3.5, expected 4" in msg
    assert "max abs error 0.5, max rel error 0.125" in msg


def test_sign_factor_offset_diagnoses():
    e = np.linspace(1, 2, 5)
    assert "sign error" in _fails(-e, e)
    assert "0.2 times the expected value" in _fails(0.2 * e, e)
    assert "plus 0.5 everywhere" in _fails(e + 0.5, e)


def test_containers_name_the_element():
    e = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    a = {"W1": np.ones((2, 2)), "b1": np.array([0.0, 1.0])}
    msg = _fails(a, e, name="grads")
    assert msg.startswith("grads['b1']: 1 of 2 entries differ")
    msg = _fails({"W1": np.ones((2, 2))}, e, name="grads")
    assert "missing keys ['b1']" in msg
    msg = _fails({**e, "W3": 1.0}, e, name="grads")
    assert "unexpected keys ['W3']" in msg
    assert_close(dict(e), e)

    assert_close([1.0, np.ones(2)], (1.0, np.ones(2)))  # list for tuple: fine
    msg = _fails((1.0, np.ones(2) * 2), (1.0, np.ones(2)), name="result")
    assert msg.startswith("result[1]: 2 of 2 entries differ")
    assert "length 2, got a tuple of length 3" in _fails((1.0, 2.0, 3.0), (1.0, 2.0))
    assert "got numpy.ndarray" in _fails(np.ones(2), (1.0, 1.0))

    nested = (0.5, {"W": [np.eye(2), np.zeros(1)]})
    bad = (0.5, {"W": [np.eye(2), np.ones(1)]})
    assert _fails(bad, nested, name="out").startswith("out[1]['W'][1]: ")


def test_several_wrong_elements_are_listed():
    e = {k: np.zeros(2) for k in "abcdef"}
    a = {k: np.ones(2) for k in "abcdef"}
    msg = _fails(a, e, name="g")
    assert msg.startswith("g['a']")
    assert "also wrong: g['b'], g['c'], g['d'] and 2 more" in msg


def test_messages_stay_short_for_big_arrays():
    e = np.zeros((200, 300))
    msg = _fails(e + 1, e)
    assert len(msg) < 1500
    assert "..." in msg


class _Liar(np.ndarray):
    """An ndarray subclass claiming equality with everything."""

    def __eq__(self, other):
        return True

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(3)

    def __sub__(self, other):
        return np.zeros(3)

    def __abs__(self):
        return np.zeros(3)


class _FloatLiar(float):
    def __float__(self):
        return 2.0

    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return 0.0


def test_student_objects_cannot_fake_a_match():
    liar = np.array([9.0, 9.0, 9.0]).view(_Liar)
    msg = _fails(liar, np.array([1.0, 2.0, 3.0]))
    assert "3 of 3 entries differ" in msg
    assert "got 7, expected 2" in _fails(_FloatLiar(7.0), 2.0)


def test_expected_must_be_numeric_data():
    with pytest.raises(TypeError):
        assert_close(1.0, object())
    with pytest.raises(ValueError):
        assert_close(1.0, 1.0, rtol=-1)


def test_bool_and_int_results():
    assert_close(np.array([1.0, 0.0]), np.array([True, False]))
    msg = _fails(np.array([1, 2], dtype=np.int64), np.array([1.0, 2.5]))
    assert "dtype int64" in msg


def test_message_format_is_stable():
    msg = _fails(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), name="v", hint="h")
    lines = msg.splitlines()
    assert lines[0] == "v: 1 of 3 entries differ (33.3%)"
    assert re.match(r"  worst at index \(2,\): got 4, expected 3", lines[1])
    assert lines[-1] == "hint: h"


def test_near_tolerance_errors_get_digits_and_no_false_diagnosis():
    e = np.array([[0.485023, -0.478207], [0.6763168425, -1.387119]])
    a = e + np.array([[-1.2e-12, -1.1e-12], [1.05e-11, 9e-14]])
    msg = _fails(a, e, rtol=1e-12, atol=1e-15)
    worst = msg.splitlines()[1]
    got, expected = worst.split("got ")[1].split(", expected ")
    assert got != expected  # printed with enough digits to differ
    assert "got - expected: [[" in msg  # the 6-digit arrays look identical, so the difference is shown
    assert "offset" not in msg and "times the expected" not in msg and "sign" not in msg


def test_a_scalar_is_read_the_same_by_the_fast_and_the_general_path():
    # exact floats and numpy float64 take a shortcut; everything else the general path. A
    # float subclass with its own __float__ must still be read through float's own slot
    from autograder.checks._safe import as_float_array, as_float_scalar

    class Sneaky(float):
        def __float__(self):
            return 99.0

    for value in (1.5, -0.0, float("inf"), np.float64(2.5), np.float32(1.25), 3, True,
                  np.array(4.0), np.array([5.0]), Sneaky(1.0)):
        got = as_float_scalar(value)
        assert type(got) is float
        want = float(as_float_array(value).reshape(()))
        assert got == want or (np.isnan(got) and np.isnan(want))
    assert as_float_scalar(Sneaky(1.0)) == 1.0
    assert np.isnan(as_float_scalar(float("nan")))


_SPECIAL_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, np.nan, np.inf, -np.inf, 1.0]),
)


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(1, 4)),
                  elements=_SPECIAL_FLOATS),
       st.data(),
       st.sampled_from([0.0, 1e-12, 1e-7, 0.5, 1e300]),
       st.sampled_from([0.0, 1e-15, 1e-9, 1.0, np.inf]))
def test_the_all_finite_fast_path_is_the_general_rule(a, data, rtol, atol):
    from autograder.checks.compare import _mismatch_mask, _mismatch_mask_general

    e = data.draw(hnp.arrays(np.float64, a.shape, elements=_SPECIAL_FLOATS))
    for x, y in ((a, e), (e, a), (a, a.copy()), (a.astype(np.float32), e)):
        fast = _mismatch_mask(x, y, rtol, atol)
        general = _mismatch_mask_general(x, y, rtol, atol)
        assert fast.shape == general.shape and fast.dtype == general.dtype == bool
        np.testing.assert_array_equal(fast, general)
