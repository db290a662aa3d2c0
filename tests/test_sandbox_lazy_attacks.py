"""Attacks on the latest sandbox changes, written as a student who read the code would.

1. Lazy parameter names: the grader asks for the names that word a no-mutation message (a
   ``labels`` request) only after it saw an argument change in shared memory; in a batch, after
   the whole batch.
2. Globals ahead: the child answers the globals the tests take with its ``ready``.
3. ``started``: exit code 71 is a set-up failure only before the child said it starts the cells.
4. The grading budget is checked before each call of a batch.

Each test tries to gain something (a better verdict, a hidden change in place, a forged answer
taken for another request, more time, a set-up failure believed after student code ran, a
weaker next submission) and asserts that the attacker gains nothing (a reviewer helper's tests;
the one that first succeeded, slow labels answers after a batch outrunning the grading budget,
was fixed: names are not asked for once the budget is spent).
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from autograder.checks import assert_no_mutation, call_each
from autograder.grade.budget import Budget as _Budget
from autograder.grade.budget import BudgetedProxy as _BudgetedProxy
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
    SandboxError,
)
from tests.fixtures.sandbox_helpers import count_requests

SHORT = Limits(run_wall_s=20, call_wall_s=0.5, call_cpu_s=0.5)
WALL = SHORT.call_wall_s

FUNCTIONS = textwrap.dedent('''
    import numpy as np

    x = 3

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    def scale_in_place(z):
        z *= 2.0
        return z
''')

PATCH = textwrap.dedent('''
    import sys
    child = sys.modules["autograder.sandbox.child"]
    Session = child.Session
''')


@pytest.fixture(scope="module")
def server():
    with ForkServer(SHORT, run_options={"globals": ["x"]}) as fs:
        yield fs


def _patched(body: str) -> str:
    return FUNCTIONS + PATCH + textwrap.dedent(body)



def _honest_check(server) -> None:
    """A fresh, honest submission on the same fork server gets exactly the honest outcomes."""
    with server.spawn([FUNCTIONS]) as sub:
        assert sub.alive and sub.status == "ok"
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}
        z = np.linspace(-1.0, 1.0, 3)
        outs = call_each([(sub.proxy("sig"), (z,)), (sub.proxy("scale_in_place"), (z,))],
                         names=["sig", "scale_in_place"])
        np.testing.assert_allclose(outs[0].get(), 1 / (1 + np.exp(-z)))
        with pytest.raises(AssertionError, match="scale_in_place modified its input: z was"):
            outs[1].get()
        with pytest.raises(AssertionError, match="scale_in_place modified its input: z was"):
            assert_no_mutation(sub.proxy("scale_in_place"), z, name="scale_in_place")
        assert sub.alive


# =============================================================================================
# 1. the labels request
# =============================================================================================


def test_labels_that_sleep_forever_end_within_one_call_s_limit(server):
    cell = _patched('''
        import time
        def serve_labels(self, msg):
            time.sleep(600)
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="scale_in_place modified its input: arg0 was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        assert time.monotonic() - started < 2 * WALL + 1.0
        assert not sub.alive and sub.status == "timeout"
    _honest_check(server)


def test_labels_that_sleep_forever_after_a_batch_end_within_one_call_s_limit(server):
    cell = _patched('''
        import time
        def serve_labels(self, msg):
            time.sleep(600)
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        started = time.monotonic()
        outs = call_each([(sub.proxy("scale_in_place"), (np.ones(2),)),
                          (sub.proxy("scale_in_place"), (np.ones(3),)),
                          (sub.proxy("sig"), (np.zeros(1),))],
                         names=["scale_in_place", "scale_in_place", "sig"])
        # the first naming hangs and kills the child: the second is not even asked
        assert time.monotonic() - started < 2 * WALL + 1.0
        for out in outs[:2]:
            with pytest.raises(AssertionError, match="modified its input: arg0 was"):
                out.get()
        assert outs[2].get()[0] == 0.5
        assert not sub.alive


def test_labels_burning_cpu_end_within_one_call_s_limit(server):
    cell = _patched('''
        def serve_labels(self, msg):
            while True:
                pass
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="modified its input: arg0 was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        assert time.monotonic() - started < 2 * WALL + 1.5
        assert not sub.alive


def test_a_student_signature_that_hangs_costs_one_call_s_limit(server):
    # no patching at all: the function is a callable instance whose __signature__ (read by
    # inspect.signature when the child names the arguments) sleeps
    cell = textwrap.dedent('''
        import time

        class Scale:
            @property
            def __signature__(self):
                time.sleep(600)

            def __call__(self, z):
                z *= 2.0
                return z

        scale_in_place = Scale()
    ''')
    with server.spawn([cell]) as sub:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="scale_in_place modified its input: arg0 was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        assert time.monotonic() - started < 2 * WALL + 1.0


@pytest.mark.parametrize("labels", [
    "['x' * 60] * 200_000",          # a huge answer (about 12 MB of JSON) of over-long names
    "list(range(1_000_000))",         # a million non-names
    "[{'a': [1] * 10}] * 100_000",    # nested junk
])
def test_a_huge_labels_answer_changes_only_the_wording_and_stays_bounded(server, labels):
    cell = _patched(f'''
        def serve_labels(self, msg):
            self.send({{"op": "labels", "labels": {labels}}})
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(AssertionError) as info:
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        assert "scale_in_place modified its input: arg0 was" in str(info.value)
        assert len(str(info.value)) < 2000
        assert sub.alive


def test_a_labels_answer_with_array_frames_is_dropped(server):
    cell = _patched('''
        def serve_labels(self, msg):
            frames = []
            child.codec.encode(np.zeros(1 << 20), frames)
            self.send({"op": "labels", "labels": ["y"]}, frames)
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(AssertionError, match="modified its input: y was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        assert sub.alive
        # nothing was left behind in the socket: the next request gets its own answer
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}


def test_a_child_answering_labels_to_a_call_is_killed(server):
    cell = _patched('''
        def serve_call(self, msg, arrs):
            self.send({"op": "labels", "labels": ["z"], "value": 0.5})
        Session.serve_call = serve_call
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(ProtocolError, match="unexpected message 'labels'"):
            sub.proxy("sig")(np.zeros(1))
        assert not sub.alive and sub.status == "protocol"


def test_a_child_answering_labels_in_a_batch_is_killed(server):
    cell = _patched('''
        def serve_calls(self, msg, arrs):
            for call in msg["calls"]:
                self.send({"op": "labels", "labels": ["z"]})
                self.serve_call(call, arrs)
        Session.serve_calls = serve_calls
    ''')
    with server.spawn([cell]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2)
        for out in outs:
            with pytest.raises(SandboxError):
                out.get()
        assert not sub.alive and sub.status == "protocol"


@pytest.mark.parametrize("request_op", ["serve_globals", "serve_global"])
def test_a_child_answering_labels_to_a_globals_request_is_killed(server, request_op):
    cell = _patched(f'''
        def answer(self, msg):
            self.send({{"op": "labels", "labels": ["x"], "entries": [{{"kind": "value",
                       "value": 999}}], "kind": "value", "value": 999}})
        Session.{request_op} = answer
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(ProtocolError, match="unexpected message 'labels'"):
            if request_op == "serve_globals":
                sub.read_globals(["x", "sig"])  # not the names answered ahead: asked
            else:
                sub.read_global("x")
        assert not sub.alive


def test_labels_sent_unasked_after_a_passing_call_are_never_taken_for_an_answer(server):
    # a labels answer queued ahead (after a call nobody asks to name) waits in the socket: the
    # next request meets it and the submission is killed; it never stands for that answer
    cell = _patched('''
        _serve_call = Session.serve_call
        def serve_call(self, msg, arrs):
            _serve_call(self, msg, arrs)
            self.send({"op": "labels", "labels": ["z"]})
        Session.serve_call = serve_call
    ''')
    with server.spawn([cell]) as sub:
        assert sub.proxy("sig")(np.zeros(1))[0] == 0.5
        with pytest.raises(ProtocolError, match="unexpected message 'labels'"):
            sub.proxy("sig")(np.ones(1))
        assert not sub.alive
    with server.spawn([cell]) as sub:
        assert sub.proxy("sig")(np.zeros(1))[0] == 0.5
        with pytest.raises(ProtocolError):
            sub.read_globals(["x", "sig"])
        assert not sub.alive
    _honest_check(server)


def test_labels_queued_ahead_of_a_changed_call_do_not_hide_the_change(server):
    # the child sends its labels before the grader asks (one set per call), then answers the
    # real question too: the change is still seen in shared memory, the stray answer then kills
    cell = _patched('''
        _serve_call = Session.serve_call
        def serve_call(self, msg, arrs):
            _serve_call(self, msg, arrs)
            self.send({"op": "labels", "labels": ["nothing_changed"]})
        Session.serve_call = serve_call
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(AssertionError, match="modified its input: nothing_changed was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(3), name="scale_in_place")
        # the real labels answer (to the grader's request) is now the stray one
        with pytest.raises(ProtocolError, match="unexpected message 'labels'"):
            sub.proxy("sig")(np.zeros(1))
        assert not sub.alive


def test_a_labels_answer_of_another_kind_never_stands_for_a_result(server):
    # asked for names, the child answers "return": the call keeps its own (real) result,
    # the forged one is not taken for a later call's, and the child is killed
    cell = _patched('''
        def serve_labels(self, msg):
            self.send({"op": "return", "value": 1234.0, "rng": []})
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        proxy = sub.proxy("scale_in_place")
        with pytest.raises(AssertionError, match="modified its input: arg0 was"):
            assert_no_mutation(proxy, np.ones(2), name="scale_in_place")
        assert not sub.alive and sub.status == "protocol"
        with pytest.raises(SandboxDied):
            sub.proxy("sig")(np.zeros(1))


def test_exit_71_while_naming_arguments_is_not_a_set_up_failure(server):
    cell = _patched('''
        import os
        Session.serve_labels = lambda self, msg: os._exit(71)
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(AssertionError, match="modified its input: arg0 was"):
            assert_no_mutation(sub.proxy("scale_in_place"), np.ones(2), name="scale_in_place")
        assert not sub.alive
        assert not sub._setup_failed and "set-up" not in (sub.reason or "")
        assert "exited with code 71" in sub.reason
    _honest_check(server)


def test_a_budget_spent_mid_batch_does_not_hide_earlier_changes(server):
    cell = _patched('''
        import time
        _serve_call = Session.serve_call
        def serve_call(self, msg, arrs):
            _serve_call(self, msg, arrs)
            time.sleep(0.2)
        Session.serve_call = serve_call
    ''')
    with server.spawn([cell]) as sub:
        proxy = _BudgetedProxy(sub.proxy("scale_in_place"), _Budget(0.3), CallTimeout)
        outs = call_each([(proxy, (np.ones(2),))] * 6, names=["scale_in_place"] * 6)
        errors = []
        for out in outs:
            with pytest.raises((AssertionError, CallTimeout)) as info:
                out.get()
            errors.append(info.value)
        assert isinstance(errors[0], AssertionError)
        assert "modified its input" in str(errors[0])
        assert any(isinstance(e, CallTimeout) and "budget" in str(e) for e in errors)
        assert not sub.alive


def test_slow_labels_after_a_batch_do_not_outrun_the_grading_budget(server):
    cell = _patched('''
        import time
        _serve_labels = Session.serve_labels
        def serve_labels(self, msg):
            time.sleep(0.4)  # just under one call's wall limit (0.5 s)
            _serve_labels(self, msg)
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        budget = _Budget(0.2)
        proxy = _BudgetedProxy(sub.proxy("scale_in_place"), budget, CallTimeout)
        started = time.monotonic()
        outs = call_each([(proxy, (np.ones(2),))] * 8, names=["scale_in_place"] * 8)
        elapsed = time.monotonic() - started
        for out in outs:
            with pytest.raises(AssertionError, match="modified its input"):
                out.get()
        # one by one, a call (and its naming) that starts within the budget is the most it
        # can be overrun by: the next call is refused
        assert elapsed < 0.2 + 2 * WALL + 0.5, elapsed


def test_slow_labels_one_by_one_stop_at_the_grading_budget(server):
    cell = _patched('''
        import time
        _serve_labels = Session.serve_labels
        def serve_labels(self, msg):
            time.sleep(0.4)
            _serve_labels(self, msg)
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        proxy = _BudgetedProxy(sub.proxy("scale_in_place"), _Budget(0.2), CallTimeout)
        started = time.monotonic()
        refused = 0
        for _ in range(8):
            try:
                assert_no_mutation(proxy, np.ones(2), name="scale_in_place")
            except AssertionError:
                pass
            except CallTimeout:
                refused += 1
        assert time.monotonic() - started < 0.2 + 2 * WALL + 0.5
        assert refused >= 6


# =============================================================================================
# 2. globals answered with ready
# =============================================================================================


def _forging_ready(body: str, functions: str = FUNCTIONS) -> str:
    return functions + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        _send = child.Session.send
        def send(self, header, arrays=()):
            if header.get("op") == "ready":
        ''') + textwrap.indent(textwrap.dedent(body), "        ") + textwrap.dedent('''
            return _send(self, header, arrays)
        child.Session.send = send
        ''')


def test_globals_ahead_for_unlisted_names_get_no_more_than_a_forged_request_answer(server):
    # the child answers ahead for names the run message did not list (a function passed off
    # as a value): taken only when the grader reads exactly those names, and then worth what
    # the same forgery in the globals request's answer is worth: plain data, checked the same
    forged = '{"names": ["x", "sig"], "entries": [{"kind": "value", "value": 999}, ' \
        '{"kind": "value", "value": 1.5}]}'
    ahead = _forging_ready(f"header = dict(header, globals={forged})")
    request = _patched(f"""
        Session.serve_globals = lambda self, msg: self.send(dict({forged}, op="globals"))
    """)
    with server.spawn([ahead]) as sub, server.spawn([request]) as other:
        got, asked = sub.read_globals(["x", "sig"]), other.read_globals(["x", "sig"])
        assert got == asked == {"x": ("value", 999), "sig": ("value", 1.5)}
        assert sub.alive and other.alive
    _honest_check(server)


def test_a_globals_ahead_answer_is_used_at_most_once(server):
    # a later reading of the same names (a test reading the globals again) asks the child:
    # the ready answer is not replayed after calls changed the student's state
    cell = FUNCTIONS + textwrap.dedent('''
        def bump():
            global x
            x = x + 1
            return x
    ''')
    with server.spawn([cell]) as sub:
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}
        assert sub.proxy("bump")() == 4
        sent = count_requests(sub)
        assert sub.read_globals(["x"]) == {"x": ("value", 4)}
        assert sent == ["globals"]


def test_a_forged_globals_ahead_answer_that_is_not_a_dict_is_ignored(server):
    body = 'header = dict(header, globals=["x", {"kind": "value", "value": 999}])'
    with server.spawn([_forging_ready(body)]) as sub:
        sent = count_requests(sub)
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}
        assert sent == ["globals"]


def test_a_forged_kind_in_globals_ahead_kills(server):
    body = '''
        header = dict(header, globals={"names": ["x"], "entries": [
            {"kind": "proxy", "value": 999}]})
    '''
    with server.spawn([_forging_ready(body)]) as sub:
        with pytest.raises(ProtocolError, match="unexpected answer 'proxy'"):
            sub.read_globals(["x"])
        assert not sub.alive


def test_exit_71_while_the_globals_are_encoded_with_ready_is_the_student_s(server):
    # student code runs while the child encodes the globals for 'ready' (after 'started'):
    # exit 71 there is the student's, not a set-up failure
    cell = textwrap.dedent('''
        import os

        class Sneaky(list):
            def __iter__(self):
                os._exit(71)

            def __len__(self):
                os._exit(71)

        x = Sneaky([1, 2])
    ''')
    try:
        sub = server.spawn([cell])
    except SandboxError as exc:
        pytest.fail(f"the student's exit was taken for a broken sandbox: {exc}")
    try:
        assert not sub.alive and not sub._setup_failed
        assert "exited with code 71" in (sub.reason or "")
    finally:
        sub.close()
    _honest_check(server)


# =============================================================================================
# 3. 'started'
# =============================================================================================


def test_started_sent_twice_kills_the_submission_not_the_machine(server):
    cell = ("import gc, os\n"
            "session = next(o for o in gc.get_objects() if type(o).__name__ == 'Session')\n"
            "session.send({'op': 'started'})\n")
    try:
        sub = server.spawn([cell + "os._exit(71)"])
    except SandboxError as exc:
        pytest.fail(f"a second 'started' and exit 71 made a set-up failure: {exc}")
    try:
        assert not sub.alive and not sub._setup_failed
        assert sub.status in ("protocol", "died")
    finally:
        sub.close()
    with server.spawn([cell, FUNCTIONS]) as sub:
        assert not sub.alive and sub.status == "protocol"
    _honest_check(server)


def test_started_sent_late_is_never_taken_for_an_answer(server):
    cell = _patched('''
        def serve_call(self, msg, arrs):
            self.send({"op": "started"})
            self.send({"op": "return", "value": 1234.0, "rng": []})
        Session.serve_call = serve_call
        def serve_labels(self, msg):
            self.send({"op": "started"})
        Session.serve_labels = serve_labels
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(ProtocolError, match="unexpected message 'started'"):
            sub.proxy("sig")(np.zeros(1))
        assert not sub.alive and not sub._setup_failed
    with server.spawn([cell]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2)
        for out in outs:
            with pytest.raises(SandboxError):
                out.get()
        assert not sub.alive


def test_exit_71_during_a_call_or_a_batch_is_the_student_s(server):
    cell = FUNCTIONS + "def leave(z):\n    import os\n    os._exit(71)\n"
    with server.spawn([cell]) as sub:
        with pytest.raises(SandboxDied, match="exited with code 71"):
            sub.proxy("leave")(np.zeros(1))
        assert not sub._setup_failed
    with server.spawn([cell]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),)), (sub.proxy("leave"), (np.zeros(1),))],
                         no_mutation=False)
        assert outs[0].get()[0] == 0.5
        with pytest.raises(SandboxDied, match="exited with code 71"):
            outs[1].get()
        assert not sub._setup_failed
    _honest_check(server)


def test_a_cell_report_forged_before_the_ready_stays_within_the_cells(server):
    # after 'started', a cell forges reports for every cell (all passing), then fails: the
    # grader numbers reports itself and kills a child that reports more cells than it has
    cell = ("import gc\n"
            "session = next(o for o in gc.get_objects() if type(o).__name__ == 'Session')\n"
            "for i in range(3):\n"
            "    session.send({'op': 'cell', 'index': i, 'ok': True, 'error': None, 'tb': ''})\n")
    with server.spawn([cell, FUNCTIONS, "raise ValueError('mine')"]) as sub:
        assert not sub.alive and sub.status == "protocol"
        assert len(sub.cells) <= 3
    _honest_check(server)


def test_the_run_message_s_globals_list_is_not_changed_by_a_submission(server):
    cell = _patched('''
        _run_cells = Session.run_cells
        def run_cells(self, cells, compiled=None, arrs=(), wanted_globals=None):
            if isinstance(wanted_globals, list):
                wanted_globals.append("sig")
            return _run_cells(self, cells, compiled, arrs, wanted_globals)
    ''')
    before = list(server.run_options["globals"])
    with server.spawn([cell]) as sub:
        assert sub.alive
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}
    assert server.run_options["globals"] == before
    _honest_check(server)
