"""A call's CPU budget counts from a reading of the child's CPU time at most
CPU_MARK_MAX_AGE_S old (one /proc read per call was a tenth of a small call's cost): the reading
is never above the true value, and a call that overruns its budget right after another one is
still stopped."""

from __future__ import annotations

import time

import pytest

from autograder.sandbox import CallTimeout, ForkServer, Limits
from autograder.sandbox.submission import CPU_MARK_MAX_AGE_S, CPU_POLL_SLACK_S

CELL = '''
import time
def quick(x):
    return x
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
def forever():
    while True:
        pass
'''


@pytest.fixture(scope="module")
def server():
    with ForkServer(Limits(call_cpu_s=1, call_wall_s=20, run_wall_s=20)) as fs:
        yield fs


def test_the_mark_is_never_above_the_child_s_cpu_and_is_refreshed(server):
    assert CPU_MARK_MAX_AGE_S * 16 < CPU_POLL_SLACK_S  # even 16 busy threads stay in the slack
    with server.spawn([CELL]) as sub:
        first = sub._cpu_mark()
        assert first <= sub._cpu_seconds()
        sub.proxy("burn")(0.3)
        time.sleep(2 * CPU_MARK_MAX_AGE_S)
        later = sub._cpu_mark()
        assert first + 0.25 <= later <= sub._cpu_seconds()
        assert sub._cpu_mark() == later  # reused while fresh


def test_back_to_back_calls_still_stop_the_one_that_overruns(server):
    with server.spawn([CELL]) as sub:
        assert sub.proxy("quick")(1) == 1
        started = time.monotonic()
        with pytest.raises(CallTimeout, match="CPU|SIGXCPU|time limit"):
            sub.proxy("forever")()
        assert time.monotonic() - started < 10  # the CPU budget, not the wall clock (20 s)
        assert not sub.alive
