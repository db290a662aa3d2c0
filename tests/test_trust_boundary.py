"""Attacks on the trust boundary, as a student who has read autograder/sandbox/calls.py would try.

Each test tries to reach the trusted grader through what a test passes to a student's function
(a numpy Generator, a callback, array arguments) and shows the attacker gains nothing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from autograder.checks import assert_no_mutation
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
    StudentError,
)
from autograder.sandbox.calls import adopt_state

LIMITS = Limits(run_wall_s=20, call_wall_s=5, call_cpu_s=2)
TARGET = f"/tmp/autograder-boundary-{os.getpid()}"

ATTACKS = f'''
import numpy as np

def write_through_generator(n, batch_size, rng):
    # the attack of the issue: make the grader's generator write a file as root
    rng.spawn(1)[0].choice(["import os; os.system('id')"], 1).astype("S").tofile("{TARGET}.pth")
    return [np.arange(n)]

def segfault_through_generator(n, batch_size, rng):
    rng.bit_generator.ctypes.next_double(0)   # a raw C function pointer called with NULL
    return [np.arange(n)]

def stall_through_generator(n, batch_size, rng):
    rng.spawn(1)[0].choice([10**4000 + 1], 5000).prod()
    return [np.arange(n)]

def what_is_rng(n, batch_size, rng):
    return [type(rng).__module__ + "." + type(rng).__name__, type(rng.bit_generator).__name__]

def honest_batches(n, batch_size, rng):
    p = rng.permutation(n)
    return [p[i:i + batch_size] for i in range(0, n, batch_size)]

def amplify(grad_fn, theta):
    return grad_fn(np.zeros((2_000_000, 3, 1)))

def amplify_list(grad_fn, theta):
    return grad_fn([[0.0] * 3] * 100_000)

def huge_int(grad_fn, theta):
    return grad_fn(10**4000)

def ignore_refusal(grad_fn, theta):
    try:
        grad_fn(np.zeros((1000, 1000)))
    except Exception:
        pass
    return grad_fn(theta)   # a correct call afterwards does not undo the refusal

def many_callbacks(grad_fn, theta):
    for _ in range(10_000):
        theta = theta - 0.1 * grad_fn(theta)
    return theta

def honest_descent(grad_fn, theta):
    for _ in range(5):
        theta = theta - 0.1 * grad_fn(theta)
    return theta

def step_in_place(theta, grad, lr=0.1):
    theta -= lr * grad
    return theta

def step_in_place_and_forge(theta, grad, lr=0.1):
    # patch the child's protocol code so that it reports nothing: the verdict is not its
    import sys
    child = sys.modules["autograder.sandbox.child"]
    child.Session.send = lambda self, header, arrays=(): child.codec.send_msg(
        self.sock, {{k: v for k, v in header.items() if k != "labels"}} | {{"mutations": []}},
        arrays)
    theta -= lr * grad
    return theta

def step_copy(theta, grad, lr=0.1):
    return theta - lr * grad

def echo(x):
    return x
'''


@pytest.fixture(scope="module")
def sub():
    with ForkServer(LIMITS) as fs, fs.spawn([ATTACKS]) as s:
        yield s


@pytest.fixture
def fresh():
    servers = []

    def make(limits=LIMITS):
        fs = ForkServer(limits).start()
        servers.append(fs)
        return fs.spawn([ATTACKS])

    yield make
    for fs in servers:
        fs.close()


# ----------------------------------------------------------------------------- generators


def test_a_generator_arrives_as_a_generator_of_the_child_s_own(sub):
    assert sub.proxy("what_is_rng")(4, 2, np.random.default_rng(0)) == [
        "numpy.random._generator.Generator", "PCG64"]


def test_writing_a_file_through_the_generator_writes_nothing_in_the_grader(sub):
    with pytest.raises(StudentError):
        sub.proxy("write_through_generator")(10, 3, np.random.default_rng(1))
    assert not os.path.exists(f"{TARGET}.pth")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    assert not any(name.startswith("autograder-boundary") for name in os.listdir(site))


def test_a_segfault_through_the_generator_kills_only_the_child(fresh):
    s = fresh()
    with pytest.raises(SandboxDied):
        s.proxy("segfault_through_generator")(10, 3, np.random.default_rng(2))
    # the grader (this process) is fine, and so is its fork server
    with s._server.spawn([ATTACKS]) as again:
        assert again.proxy("echo")(3) == 3


def test_stalling_through_the_generator_costs_the_child_s_own_cpu(fresh):
    s = fresh()
    started = time.monotonic()
    with pytest.raises((CallTimeout, SandboxDied, StudentError)):
        s.proxy("stall_through_generator")(10, 3, np.random.default_rng(3))
    assert time.monotonic() - started < LIMITS.call_wall_s + 5


def test_honest_draws_come_from_the_test_s_stream_and_advance_it(sub):
    gen, ref = np.random.default_rng(7), np.random.default_rng(7)
    batches = sub.proxy("honest_batches")(10, 4, gen)
    expected = ref.permutation(10)
    np.testing.assert_array_equal(np.concatenate(batches), expected)
    assert gen.bit_generator.state == ref.bit_generator.state


@pytest.mark.parametrize("forged", [
    "other_generator", "huge_int", "extra_key", "negative", "not_a_dict", "pcg_even_inc",
    "pcg_zero", "has_uint32", "mt_pos_overflow", "mt_zero_key"])
def test_a_forged_generator_state_is_refused_and_changes_nothing(forged):
    """numpy's setter accepts states its C code cannot draw from (found by an attack review:
    MT19937 pos 2**31-1 segfaulted the grader, PCG64 state 0 / inc 0 hung integers())."""
    mt = forged.startswith("mt_")
    gen = np.random.Generator(np.random.MT19937(5)) if mt else np.random.default_rng(5)
    before = gen.bit_generator.state
    state = gen.bit_generator.state
    if forged == "pcg_even_inc":
        state["state"]["inc"] = 2
    elif forged == "pcg_zero":
        state["state"] = {"state": 0, "inc": 0}
    elif forged == "has_uint32":
        state["has_uint32"] = 7
    elif forged == "mt_pos_overflow":
        state["state"]["pos"] = 2**31 - 1
    elif forged == "mt_zero_key":
        state["state"]["key"] = np.zeros(624, dtype=np.uint32)
    elif forged == "other_generator":
        state = np.random.MT19937(1).state
    elif forged == "huge_int":
        state["state"]["state"] = 10 ** 4000
    elif forged == "extra_key":
        state["evil"] = 1
    elif forged == "negative":
        state["state"]["inc"] = -1
    else:
        state = [1, 2, 3]
    with pytest.raises(ProtocolError):
        adopt_state(gen, state)
    after = gen.bit_generator.state
    assert after.keys() == before.keys() and str(after) == str(before)
    assert 0 <= gen.integers(0, 10) < 10  # still draws: neither crashed nor stuck



def test_states_are_validated_alike_however_many_were_refused_before():
    """adopt_state validates on one scratch bit generator per class, reused: a refused state
    (set half-way on it) must neither let a later forgery through nor refuse a genuine state."""
    for kind in (np.random.PCG64, np.random.MT19937, np.random.Philox, np.random.SFC64):
        gen = np.random.Generator(kind(5))
        for seed in range(3):
            bad = gen.bit_generator.state
            bad["has_uint32"] = 7
            with pytest.raises(ProtocolError):
                adopt_state(gen, bad)
            wrong = kind(99).state
            wrong["bit_generator"] = "SomethingElse"
            with pytest.raises(ProtocolError):
                adopt_state(gen, wrong)
            genuine = np.random.Generator(kind(seed + 11))
            genuine.integers(0, 10, size=seed + 1)
            adopt_state(gen, genuine.bit_generator.state)
            assert str(gen.bit_generator.state) == str(genuine.bit_generator.state)
            assert gen.integers(0, 2**32, size=4).tolist() == \
                genuine.integers(0, 2**32, size=4).tolist()

# ----------------------------------------------------------------------------- callbacks


def _counting(fn):
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapped, calls


@pytest.mark.parametrize("attack", ["amplify", "amplify_list", "huge_int", "ignore_refusal"])
def test_a_callback_with_arguments_beyond_the_test_s_is_refused(sub, attack):
    target = np.array([1.0, -2.0, 3.0])
    grad_fn, calls = _counting(lambda t: 2 * (np.asarray(t) - target))
    with pytest.raises(ProtocolError, match="refused"):
        sub.proxy(attack)(grad_fn, np.zeros(3))
    # the grader's function never saw the oversized arguments
    assert all(np.asarray(a[0]).size <= 3 for a in calls)
    # and the submission is still usable: only that case is lost
    assert sub.proxy("echo")(1.5) == 1.5


def test_the_grader_s_time_in_callbacks_counts_against_the_call(fresh):
    # A wall limit far above the CPU limit, so only the grader's CPU accounting can end the call
    # in time (the same message also reports a call past its wall deadline, which a loaded
    # machine reaches with a 5 s wall limit); without that accounting the loop below would
    # spend 500 s of the grader's CPU and end at the 60 s wall deadline.
    limits = Limits(run_wall_s=LIMITS.run_wall_s, call_wall_s=60, call_cpu_s=LIMITS.call_cpu_s)
    s = fresh(limits)
    spent = [0.0]

    def slow_grad(t):
        start = time.thread_time()
        end = start + 0.05
        while time.thread_time() < end:
            pass
        spent[0] += time.thread_time() - start
        return 2 * t

    started = time.monotonic()
    with pytest.raises(CallTimeout, match="test's functions"):
        s.proxy("many_callbacks")(slow_grad, np.ones(3))
    elapsed = time.monotonic() - started
    # stopped by the CPU limit: about call_cpu_s of the grader's CPU, one callback's worth over
    assert limits.call_cpu_s - 0.2 <= spent[0] <= limits.call_cpu_s + 0.2, spent[0]
    assert elapsed < limits.call_wall_s / 2, elapsed  # not by the wall deadline


def test_honest_callbacks_still_work(sub):
    target = np.array([1.0, -2.0, 3.0])
    got = sub.proxy("honest_descent")(lambda t: 2 * (t - target), np.zeros(3))
    expected = np.zeros(3)
    for _ in range(5):
        expected = expected - 0.1 * 2 * (expected - target)
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("obj", [os, np.random.SeedSequence(0), type("Secret", (), {})(), sys.modules[__name__]])
def test_a_test_cannot_hand_the_child_an_object(sub, obj):
    with pytest.raises(ProtocolError, match="only plain data"):
        sub.proxy("echo")(obj)


# ----------------------------------------------------------------------------- mutation


def test_in_place_modification_is_seen_by_the_grader(sub):
    with pytest.raises(AssertionError, match="modified its input"):
        assert_no_mutation(sub.proxy("step_in_place"), np.ones(3), np.ones(3))
    assert assert_no_mutation(sub.proxy("step_copy"), np.ones(3), np.ones(3)) is not None


def test_patching_the_child_s_report_does_not_change_the_verdict(fresh):
    s = fresh()
    step = s.proxy("step_in_place_and_forge")
    with pytest.raises(AssertionError, match="modified its input"):
        assert_no_mutation(step, np.ones(3), np.ones(3))
    assert step.last_call_mutations  # what the grader saw in shared memory


def test_verify_reports_a_test_that_passes_an_object():
    """verify runs the reference in-process; it must still refuse what the batch grader would."""
    from autograder.release.verify import boundary_checked

    def stub(x, rng=None, f=None):
        return x

    ns = boundary_checked({"stub": stub})
    assert ns["stub"](np.ones(2), rng=np.random.default_rng(0), f=abs).shape == (2,)
    with pytest.raises(AssertionError, match="test-authoring error.*SeedSequence"):
        ns["stub"](np.random.SeedSequence(1))
