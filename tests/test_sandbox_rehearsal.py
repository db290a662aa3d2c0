"""The fork server's rehearsal (sandbox/rehearsal.py): it serves a grading's requests to itself
once before forking, so sandboxes start with warm request code. It must happen, leave nothing
a sandbox can see (names, cell sources, the fork server's CPU limit), and a student who read it
must not be able to use what it warmed against the next submission."""

from __future__ import annotations

import math
import resource

import numpy as np
import pytest

from autograder.sandbox import ForkServer, Limits, rehearsal, zygote

LIMITS = Limits(run_wall_s=6, run_cpu_s=3, call_wall_s=3, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _value(sub, name):
    kind, value = sub.read_global(name)
    assert kind == "value", (name, kind, value)
    return value


def test_the_fork_server_rehearses_before_it_forks(server):
    assert server.rehearsal == "ok"


def test_the_request_code_a_sandbox_starts_with_is_warm(server):
    # CPython 3.11 marks a code object it has quickened with *_QUICK instructions: the
    # sandbox's request code was run in the fork server, the student's own code was not
    probe = ("import dis, sys\n"
             "C = sys.modules['autograder.sandbox.child']\n"
             "D = sys.modules['autograder.sandbox.codec']\n"
             "def quick(f):\n"
             "    return any(i.opname.endswith('_QUICK') for i in\n"
             "               dis.get_instructions(f, adaptive=True))\n"
             "def mine(x):\n"
             "    return x\n"
             "WARM = [quick(f) for f in (C.Session.serve_call, C.Session.serve_loop,\n"
             "                           C.Session.serve_calls, D.decode, D.encode)]\n"
             "COLD = quick(mine)\n")
    with server.spawn([probe]) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        assert _value(sub, "WARM") == [True] * 5
        assert _value(sub, "COLD") is False


def test_a_sandbox_sees_nothing_of_the_rehearsal(server):
    cells = ["x = 1\n",
             "import linecache, resource, sys\n"
             "CELL_SOURCES = sorted(k for k in linecache.cache if k.startswith('<code cell'))\n"
             "CPU = list(resource.getrlimit(resource.RLIMIT_CPU))\n"
             "MAIN = sorted(k for k in sys.modules['__main__'].__dict__\n"
             "              if not k.startswith('__'))\n"]
    with server.spawn(cells) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        names = set(sub.names())
        for rehearsed in ("step", "pair", "batches", "moments", "num_grad", "summary", "broken",
                          "total", "weights", "label"):
            assert rehearsed not in names
        assert _value(sub, "CELL_SOURCES") == ["<code cell 1>", "<code cell 2>"]
        soft, hard = _value(sub, "CPU")
        # the sandbox's own limits (child._set_rlimits), not the rehearsal's far-off budget
        assert soft == math.ceil(LIMITS.run_cpu_s)
        assert hard < 10_000


def test_the_fork_servers_cpu_limit_is_put_back(server):
    with open(f"/proc/{server.zygote_pid}/limits") as f:
        line = next(row for row in f if row.startswith("Max cpu time"))
    soft, hard = line.split()[3:5]
    want = resource.getrlimit(resource.RLIMIT_CPU)  # the fork server starts with ours
    shown = ["unlimited" if v == resource.RLIM_INFINITY else str(v) for v in want]
    assert [soft, hard] == shown


def test_a_failed_rehearsal_is_reported_and_costs_only_speed(monkeypatch):
    def broken(rounds=rehearsal.ROUNDS):
        raise rehearsal.RehearsalError("call: expected 'return', got {'op': 'raise'}")

    monkeypatch.setattr(rehearsal, "rehearse", broken)
    assert zygote._rehearse().startswith("RehearsalError: call: expected 'return'")


def test_rehearsing_in_this_process_changes_no_limit_and_no_cell_source():
    import linecache

    linecache.cache["<code cell 2>"] = (5, None, ["y = 2\n"], "<code cell 2>")
    before = resource.getrlimit(resource.RLIMIT_CPU)
    try:
        rehearsal.rehearse(rounds=2)
        assert resource.getrlimit(resource.RLIMIT_CPU) == before
        assert linecache.cache["<code cell 2>"][2] == ["y = 2\n"]
        assert "<code cell 1>" not in linecache.cache
    finally:
        linecache.cache.pop("<code cell 2>", None)


POISON = """
import sys
import numpy as np
D = sys.modules["autograder.sandbox.codec"]
# what the rehearsal left warm, poisoned for the next submission: the header caches (a float64
# frame read as int8, every shape as ()), the dtype table of the fast path
for key in list(D._parsed_headers):
    D._parsed_headers[key] = ((), "C", np.dtype("i1"), 1, 1, len(key))
for key in list(D._DESCRS):
    D._DESCRS[key] = np.dtype("i1")
R = sys.modules["autograder.sandbox.rehearsal"]
R.CELLS[:] = ["raise SystemExit"]
"""


def test_poisoned_warm_state_does_not_reach_the_next_submission(server):
    with server.spawn([POISON, "def f(x):\n    return x * 2.0\n"]) as first:
        assert all(c.ok for c in first.cells), first.cells
        # its own calls may now go wrong: that is its own process
        first.proxy("f")(np.arange(3.0))
    with server.spawn(["def f(x):\n    return x * 2.0\n"]) as second:
        x = np.arange(12.0).reshape(3, 4)
        got = second.proxy("f")(x)
        assert got.dtype == np.float64 and got.shape == (3, 4)
        assert np.array_equal(got, 2.0 * x)
        plan_arrays = second.proxy("f")(np.linspace(0.0, 1.0, 7))
        assert np.array_equal(plan_arrays, 2.0 * np.linspace(0.0, 1.0, 7))
