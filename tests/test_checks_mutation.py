"""assert_no_mutation names the argument that changed and returns the result."""

import numpy as np
import pytest

from autograder.checks import assert_no_mutation


def sgd_step_inplace(theta, grad, lr):
    theta -= lr * grad
    return theta


def sgd_step(theta, grad, lr):
    return theta - lr * grad


def test_clean_function_passes_and_returns_result():
    theta, grad = np.ones(3), np.arange(3.0)
    out = assert_no_mutation(sgd_step, theta, grad, 0.5)
    np.testing.assert_array_equal(out, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(theta, np.ones(3))


def test_in_place_update_is_named_by_parameter():
    theta = np.ones(3)
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(sgd_step_inplace, theta, np.arange(3.0), 0.5)
    msg = str(info.value)
    assert msg.startswith("sgd_step_inplace modified its input: theta was modified in place")
    assert "2 of 3 entries changed" in msg and "at index (1,) it was 1, now 0.5" in msg
    assert "x -= lr * g" in msg
    np.testing.assert_array_equal(theta, np.ones(3))  # the caller's array is untouched


def test_keyword_and_positional_without_signature():
    def f(*args, **kwargs):
        kwargs["v"][0] = 1.0
        return 0

    with pytest.raises(AssertionError, match="v was modified in place"):
        assert_no_mutation(f, np.zeros(2), v=np.zeros(2))

    def g(*args):
        args[1][0] = 1.0

    with pytest.raises(AssertionError, match="argument 1 was modified in place"):
        assert_no_mutation(g, np.zeros(2), np.zeros(2), name="stub")


def test_nested_dict_of_params():
    def train(params, lr):
        params["W2"] *= 0.5
        return params

    params = {"W1": np.ones((2, 2)), "W2": np.ones((1, 2))}
    with pytest.raises(AssertionError) as info:
        assert_no_mutation(train, params, 0.1, name="train_xor")
    assert "train_xor modified its input: params['W2'] was modified in place" in str(info.value)

    def add_key(params):
        params["extra"] = 1

    with pytest.raises(AssertionError, match=r"keys added \['extra'\]"):
        assert_no_mutation(add_key, {"a": 1})


def test_shape_dtype_and_nan_handling():
    def resize(x):
        x.resize(5, refcheck=False)

    with pytest.raises(AssertionError, match="changed shape"):
        assert_no_mutation(resize, np.ones(3))
    x = np.array([np.nan, 1.0])
    assert assert_no_mutation(lambda v: float(np.nansum(v)), x) == 1.0  # NaN == NaN


def test_generators_and_callables_are_not_data():
    rng = np.random.default_rng(0)
    out = assert_no_mutation(lambda n, b, r: r.permutation(n), 5, 2, rng)
    np.testing.assert_array_equal(out, np.random.default_rng(0).permutation(5))
    assert assert_no_mutation(lambda f, x: f(x), np.sum, np.ones(2)) == 2.0


def test_mutations_reported_by_a_sandbox_proxy():
    class Proxy:
        __name__ = "adam_step"

        def __init__(self):
            self.last_call_mutations = ()

        def __call__(self, *args):
            self.last_call_mutations = ("m",)
            return args[0]

    with pytest.raises(AssertionError) as info:
        assert_no_mutation(Proxy(), np.ones(2), np.ones(2))
    assert "adam_step modified its input: m was modified in place" in str(info.value)

    class Clean(Proxy):
        def __call__(self, *args):
            return 1.0

    assert assert_no_mutation(Clean(), np.ones(2)) == 1.0


def test_a_proxy_s_array_arguments_are_neither_copied_nor_compared_again():
    # a sandbox proxy sends copies itself and reports what the child changed: the test's arrays
    # go to it as they are (no second copy), everything else is still copied
    seen = []

    class Proxy:
        __name__ = "step"
        copies_arguments = True
        last_call_mutations = ()

        def __call__(self, theta, rng, state):
            seen.extend([theta, rng, state])
            return rng.normal()

    theta, rng, state = np.ones(3), np.random.default_rng(5), {"m": np.zeros(2)}
    before = rng.bit_generator.state
    assert_no_mutation(Proxy(), theta, rng, state)
    assert seen[0] is theta                       # the array itself
    assert seen[1] is not rng and rng.bit_generator.state == before  # the test's draws unmoved
    assert seen[2] is not state and seen[2]["m"] is not state["m"]  # containers still copied

    class Reports(Proxy):
        def __call__(self, theta, rng, state):
            self.last_call_mutations = ("theta",)
            return 0.0

    with pytest.raises(AssertionError, match="step modified its input: theta was modified"):
        assert_no_mutation(Reports(), theta, rng, state)


def test_a_function_claiming_to_copy_with_a_non_true_value_is_copied():
    class Liar:
        __name__ = "f"
        copies_arguments = "yes"

        def __call__(self, x):
            x[0] = 7.0
            return 0.0

    with pytest.raises(AssertionError, match="x was modified in place"):
        assert_no_mutation(Liar(), np.ones(2))


def test_call_each_in_process_is_assert_no_mutation_call_by_call():
    from autograder.checks import call_each

    def grow(x):
        x += 1.0
        return x

    def fail(x):
        raise KeyError("k")

    x = np.zeros(3)
    outs = call_each([(np.negative, (x,)), (grow, (x,)), (fail, (x,)), (np.add, (x, 1.0))],
                     names=["neg", "grow", "fail", "add"])
    np.testing.assert_array_equal(outs[0].get(), -x)
    with pytest.raises(AssertionError) as each:
        outs[1].get()
    with pytest.raises(AssertionError) as direct:
        assert_no_mutation(grow, x, name="grow")
    assert str(each.value) == str(direct.value)
    with pytest.raises(KeyError):
        outs[2].get()
    assert outs[2].failed and not outs[3].failed
    np.testing.assert_array_equal(outs[3].get(), x + 1.0)
    np.testing.assert_array_equal(x, np.zeros(3))
    with pytest.raises(ValueError, match="one name per call"):
        call_each([(np.negative, (x,))], names=["a", "b"])


def test_call_each_without_the_check_gives_copies_as_the_sandbox_does():
    from autograder.checks import call_each

    def grow(x):
        x += 1.0
        return x

    x, rng = np.zeros(2), np.random.default_rng(7)
    first, second, drawn = call_each([(grow, (x,)), (grow, (x,)), (lambda r: r.normal(), (rng,))],
                                     no_mutation=False)
    np.testing.assert_array_equal(first.get(), np.ones(2))
    np.testing.assert_array_equal(second.get(), np.ones(2))  # not 2: the first changed a copy
    np.testing.assert_array_equal(x, np.zeros(2))
    assert drawn.get() == np.random.default_rng(7).normal()
    assert rng.normal() == np.random.default_rng(7).normal(size=2)[1]  # the test's own advanced
