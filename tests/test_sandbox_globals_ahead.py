"""The globals a submission's tests ask for, answered with the cells' ``ready``, and attacked.

The grader's run message lists the names its tests take (``run_options["globals"]``); the child
answers them with ``ready``, exactly as it would answer the ``globals`` request that follows,
and ``read_globals`` then makes no request. The answer is read and checked as the request's
answer is: a child that forges it (wrong length, one array frame for two values, a different
list of names) is killed, or simply asked again; it never gets more than plain data in.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autograder.sandbox import ForkServer, Limits, ProtocolError
from tests.fixtures.sandbox_helpers import count_requests
from tests.test_sandbox_globals import CELL, NAMES, _same

LIMITS = Limits(run_wall_s=20, call_wall_s=3, call_cpu_s=1)
WANTED = [n for n in NAMES if n != "missing"]  # what read_globals asks for: the defined ones


@pytest.fixture(scope="module")
def ahead():
    with ForkServer(LIMITS, run_options={"globals": NAMES}) as fs:
        yield fs


@pytest.fixture(scope="module")
def plain():
    with ForkServer(LIMITS) as fs:
        yield fs



def _forging_ready(body: str) -> str:
    """A cell that rewrites the child's ``ready`` message (the student owns the process)."""
    return textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        _send = child.Session.send
        def send(self, header, arrays=()):
            if header.get("op") == "ready" and "globals" in header:
        ''') + textwrap.indent(textwrap.dedent(body), "        ") + textwrap.dedent('''
            return _send(self, header, arrays)
        child.Session.send = send
        ''')


def test_the_globals_come_with_ready_and_are_what_the_request_answers(ahead, plain):
    with ahead.spawn([CELL]) as sub, plain.spawn([CELL]) as other:
        sent = count_requests(sub)
        got = sub.read_globals(WANTED)
        assert sent == []  # no request
        asked = other.read_globals(WANTED)
        assert got.keys() == asked.keys() == set(WANTED)
        for name in WANTED:
            assert got[name][0] == asked[name][0], name
            if got[name][0] == "value":
                assert _same(got[name][1], asked[name][1]), name
        # read once: a second reading asks the child
        sub.read_globals(["x"])
        assert sent == ["globals"]


def test_another_list_of_names_is_asked_for(ahead):
    with ahead.spawn([CELL]) as sub:
        sent = count_requests(sub)
        got = sub.read_globals(["arr", "x"])
        assert sent == ["globals"]
        assert got["x"] == ("value", 3)
        np.testing.assert_array_equal(got["arr"][1], np.arange(6.0).reshape(2, 3))


def test_forged_names_in_ready_only_cost_a_request(ahead):
    # the child lists other names (or more) than the ones the grader will ask for: its answer
    # is not used, the grader asks, and the forged values never reach a test
    body = '''
        header = dict(header, globals={"names": ["x"], "entries": [
            {"kind": "value", "value": 999}]})
    '''
    with ahead.spawn([CELL + _forging_ready(body)]) as sub:
        sent = count_requests(sub)
        got = sub.read_globals(WANTED)
        assert sent == ["globals"] and got["x"] == ("value", 3)


@pytest.mark.parametrize("body", [
    # one entry too few
    'header = dict(header, globals=dict(header["globals"], '
    'entries=header["globals"]["entries"][:-1]))',
    # entries that are not dicts
    'header = dict(header, globals=dict(header["globals"], '
    'entries=[1] * len(header["globals"]["entries"])))',
])
def test_a_malformed_answer_with_ready_kills_the_submission(ahead, body):
    with ahead.spawn([CELL + _forging_ready(body)]) as sub:
        with pytest.raises(ProtocolError):
            sub.read_globals(WANTED)
        assert not sub.alive


def test_one_array_frame_cannot_serve_two_values_with_ready(ahead):
    # "x" and "arr" both point at the frame of arr: the second use is refused, as in the
    # request's answer (each frame serves one value)
    body = '''
        g = header["globals"]
        entries = list(g["entries"])
        i, j = g["names"].index("arr"), g["names"].index("x")
        entries[j] = dict(entries[i])
        header = dict(header, globals=dict(g, entries=entries))
    '''
    with ahead.spawn([CELL + _forging_ready(body)]) as sub:
        got = sub.read_globals(WANTED)
        kinds = {got["arr"][0], got["x"][0]}
        assert "refused" in kinds and kinds <= {"value", "refused"}
