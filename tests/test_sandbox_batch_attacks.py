"""Batched calls (``sandbox/batch.py``) attacked by a child that forges its answers.

The student controls the child process: these cells patch ``Session.serve_calls`` (and
``serve_globals``) to answer out of order, too often, for other names, with values too large or
too deep, with "return" for a call that raised, before running anything, or to write into a later
call's arguments in shared memory. In every case the grader keeps only plain data, judges each
answer by position (as the answer of the call it sent at that position), sees changes in place
in its own shared memory, bounds the request by the limits of as many calls, and the next
submission on the same fork server is unaffected.
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from autograder.checks import call_each
from autograder.sandbox import CallTimeout, ForkServer, Limits, ProtocolError, SandboxDied

LIMITS = Limits(run_wall_s=20, call_wall_s=2, call_cpu_s=1)
SHORT = Limits(run_wall_s=20, call_wall_s=0.5, call_cpu_s=0.5)

FUNCTIONS = textwrap.dedent('''
    import numpy as np

    x = 3

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    def ident(z):
        return z

    def scale_in_place(z):
        z *= 2.0
        return z

    def scale_then_boom(z):
        z *= 2.0
        raise ValueError("boom")

    def boom(z):
        raise ValueError("boom")

    def nap(z):
        import time
        time.sleep(60)

    def spin(z):
        while True:
            pass
''')


def _patched(body: str, extra: str = "") -> str:
    return FUNCTIONS + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        def serve_calls(self, msg, arrs):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_calls = serve_calls\n" + textwrap.dedent(extra)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _honest_check(server) -> None:
    """A fresh, honest submission on the same fork server: exactly the honest outcomes."""
    with server.spawn([FUNCTIONS]) as sub:
        z = np.linspace(-1.0, 1.0, 3)
        outs = call_each([(sub.proxy("sig"), (z,)), (sub.proxy("scale_in_place"), (z,)),
                          (sub.proxy("boom"), (z,))], names=["sig", "scale_in_place", "boom"])
        np.testing.assert_allclose(outs[0].get(), 1 / (1 + np.exp(-z)))
        with pytest.raises(AssertionError, match="scale_in_place modified its input"):
            outs[1].get()
        with pytest.raises(Exception, match="ValueError: boom"):
            outs[2].get()
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}
        assert sub.alive


def test_answers_out_of_order_or_for_other_names_are_taken_by_position(server):
    # the child runs the calls backwards and labels each answer with another name: the grader
    # judges answer i as the answer of call i, as if function i had returned/raised that
    body = '''
        sent = []
        send = self.send
        self.send = lambda h, a=(): sent.append((dict(h, name="secret"), list(a)))
        for call in reversed(msg["calls"]):
            self.serve_call(call, arrs)
        self.send = send
        for h, a in sent:
            send(h, a)
    '''
    with server.spawn([_patched(body)]) as sub:
        z = np.zeros(2)
        outs = call_each([(sub.proxy("sig"), (z,)), (sub.proxy("boom"), (z,))],
                         names=["sig", "boom"])
        with pytest.raises(Exception, match="ValueError: boom"):
            outs[0].get()  # sig's place got boom's answer: sig "raised" (the student's loss)
        np.testing.assert_array_equal(outs[1].get(), 0.5 * np.ones(2))
        assert type(outs[1].get()) is np.ndarray and sub.alive
    _honest_check(server)


def test_extra_answers_beyond_the_batch_only_desynchronise_that_submission(server):
    body = '''
        for call in msg["calls"]:
            self.serve_call(call, arrs)
        for _ in range(3):
            self.send({"op": "return", "value": 42, "labels": []})
    '''
    with server.spawn([_patched(body)]) as sub:
        sig = sub.proxy("sig")
        outs = call_each([(sig, (np.zeros(1),))] * 2)
        assert [o.get()[0] for o in outs] == [0.5, 0.5]
        # the next call of this submission reads a stale answer: a value the child could have
        # sent for that call anyway (plain data, judged as that call's answer)
        assert sig(np.zeros(1)) == 42
        # any other request meets a stale "return": the submission is killed
        with pytest.raises(ProtocolError, match="unexpected message 'return'"):
            sub.read_globals(["x"])
        assert not sub.alive
    _honest_check(server)


def _raw(header_json: str) -> str:
    """Child code sending a hand-made JSON header (no arrays) on the grader's socket."""
    return f'''
        raw = ({header_json}).encode()
        self.sock.sendall(codec._HEAD.pack(codec.MAGIC, len(raw), 0) + raw)
    '''


def test_a_deeply_nested_answer_is_a_protocol_error_after_the_earlier_answers(server):
    body = '''
        self.serve_call(msg["calls"][0], arrs)
    ''' + _raw('\'{"op": "return", "value": \' + "[" * 200000 + "]" * 200000 + "}"') + '''
        import time
        time.sleep(60)
    '''
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 3)
        assert outs[0].get()[0] == 0.5
        for out in outs[1:]:
            with pytest.raises(ProtocolError):
                out.get()
        assert not sub.alive
    _honest_check(server)


MARSHALLED_ANSWER = '''
    import marshal
    raw = marshal.dumps({"op": "return", "value": compile("1", "<x>", "eval")})
    self.sock.sendall(codec._HEAD.pack(codec.MAGIC_FROM_GRADER, len(raw), 0) + raw)
'''


def test_an_answer_in_the_graders_own_marshal_form_is_refused_unread(server, monkeypatch):
    # the grader writes its requests as marshal data (codec.pack_from_grader); a child that
    # answers in that form, with a code object inside, would hand the grader a live object if
    # the grader read it: the grader reads JSON only, so the frame is refused unparsed, whether
    # it answers one call of a batch or a call made alone
    from autograder.sandbox import codec

    def no_unmarshal(raw):
        raise AssertionError("the grader unmarshalled a child's message")

    monkeypatch.setattr(codec, "loads_from_grader", no_unmarshal)
    body = 'self.serve_call(msg["calls"][0], arrs)\n' + textwrap.dedent(MARSHALLED_ANSWER) + \
        "import time\ntime.sleep(60)\n"
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2)
        assert outs[0].get()[0] == 0.5
        with pytest.raises(ProtocolError, match="bad message magic"):
            outs[1].get()
        assert not sub.alive
    alone = FUNCTIONS + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        def serve_call(self, msg, arrs):
        ''') + textwrap.indent(textwrap.dedent(MARSHALLED_ANSWER), "    ") + \
        "\nchild.Session.serve_call = serve_call\n"
    with server.spawn([alone]) as sub:
        with pytest.raises(ProtocolError, match="bad message magic"):
            sub.proxy("ident")(np.zeros(1))
        assert not sub.alive
    _honest_check(server)


def test_too_many_values_or_a_shared_memory_reference_in_an_answer_are_refused(server):
    # one answer with more nodes than the codec decodes, one naming a place in the arena (a
    # view the child could change later): each call fails alone; nothing else is affected
    body = '''
        self.send({"op": "return", "value": [0] * 1_100_000})
        self.send({"op": "return", "value": {"m": [0, "<f8", [1], "C"]}})
        self.serve_call(msg["calls"][2], arrs)
    '''
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 3)
        with pytest.raises(ProtocolError, match="too many elements"):
            outs[0].get()
        with pytest.raises(ProtocolError, match="malformed"):
            outs[1].get()
        assert outs[2].get()[0] == 0.5 and sub.alive


def test_a_frame_larger_than_a_message_is_refused_before_it_is_read(server):
    body = '''
        raw = b'{"op": "return", "value": {"a": 0}}'
        self.sock.sendall(codec._HEAD.pack(codec.MAGIC, len(raw), 1) + raw
                          + codec._ALEN.pack(1 << 40))
        import time
        time.sleep(60)
    '''
    with server.spawn([_patched(body)]) as sub:
        started = time.monotonic()
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2)
        assert time.monotonic() - started < 2
        for out in outs:
            with pytest.raises(ProtocolError):
                out.get()
        assert not sub.alive
    _honest_check(server)


def test_an_earlier_call_writing_into_a_later_calls_arguments_is_seen_and_blamed_there(server):
    # before call 1 runs, call 0 doubles call 1's argument in shared memory (restoring none):
    # the grader sees call 1's region changed; the values it compares are its own copies
    body = '''
        calls = msg["calls"]
        self.serve_call(calls[0], arrs)
        later = self.arena.view(calls[1]["args"][0]["m"])
        later *= 2.0
        self.serve_call(calls[1], arrs)
    '''
    with server.spawn([_patched(body)]) as sub:
        a, b = np.ones(2), np.ones(2)
        outs = call_each([(sub.proxy("sig"), (a,)), (sub.proxy("ident"), (b,))],
                         names=["sig", "ident"])
        np.testing.assert_allclose(outs[0].get(), 1 / (1 + np.exp(-a)))
        with pytest.raises(AssertionError, match="ident modified its input"):
            outs[1].get()
        np.testing.assert_array_equal(a, np.ones(2))
        np.testing.assert_array_equal(b, np.ones(2))  # the test's arrays never move


def test_a_change_undone_right_after_answering_is_what_a_copy_gives(server):
    # call 0 changes its argument, answers, and the child restores call 0's region at once:
    # the grader compares after reading the answer, so it may or may not see the change (a
    # race, as for a single call whose child restores after sending). Either way the result is
    # the one a function working on a copy returns, and the test's array never moves
    body = '''
        calls = msg["calls"]
        first = self.arena.view(calls[0]["args"][0]["m"])
        saved = first.copy()
        self.serve_call(calls[0], arrs)
        first[...] = saved
        self.serve_call(calls[1], arrs)
    '''
    with server.spawn([_patched(body)]) as sub:
        z = np.ones(2)
        outs = call_each([(sub.proxy("scale_in_place"), (z,)),
                          (sub.proxy("sig"), (np.zeros(1),))], names=["scale_in_place", "sig"])
        try:
            np.testing.assert_array_equal(outs[0].get(), 2.0 * np.ones(2))
        except AssertionError as exc:
            assert "scale_in_place modified its input" in str(exc)
        assert outs[1].get()[0] == 0.5
        np.testing.assert_array_equal(z, np.ones(2))


def test_return_claimed_for_a_call_that_raised_keeps_the_observed_mutation(server):
    body = '''
        send = self.send
        def lie(h, a=()):
            if h.get("op") == "raise":
                h = {"op": "return", "value": 0.0}  # no labels either
            return send(h, a)
        self.send = lie
        for call in msg["calls"]:
            self.serve_call(call, arrs)
        self.send = send
    '''
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("scale_then_boom"), (np.ones(2),)),
                          (sub.proxy("boom"), (np.ones(2),))],
                         names=["scale_then_boom", "boom"])
        with pytest.raises(AssertionError, match="modified its input: z was modified"):
            outs[0].get()
        # a forged return is what a function returning 0.0 gets: no more
        assert outs[1].get() == 0.0


def test_answers_sent_before_anything_runs_gain_nothing(server):
    # every answer at once (constants), then the functions run late in a thread and change
    # their arguments after the grader compared: the values are the constants the child
    # chose, the change is of copies the grader no longer reads, the test's arrays are intact
    body = '''
        import threading, time
        for _ in msg["calls"]:
            self.send({"op": "return", "value": 0.0, "labels": []})
        views = [self.arena.view(c["args"][0]["m"]) for c in msg["calls"]]
        def late():
            time.sleep(0.2)
            for v in views:
                v *= 2.0
        threading.Thread(target=late, daemon=True).start()
    '''
    with server.spawn([_patched(body)]) as sub:
        zs = [np.ones(3), np.full(3, 5.0)]
        outs = call_each([(sub.proxy("scale_in_place"), (z,)) for z in zs])
        assert [o.get() for o in outs] == [0.0, 0.0]  # not 2z: a wrong answer for the test
        time.sleep(0.4)
        np.testing.assert_array_equal(zs[0], np.ones(3))
        np.testing.assert_array_equal(zs[1], np.full(3, 5.0))
        # the thread's late writes hit the arena only; the next call's arguments are placed anew
        assert sub.proxy("sig")(np.zeros(1))[0] == 0.5
    _honest_check(server)


@pytest.fixture(scope="module")
def short_server():
    with ForkServer(SHORT) as fs:
        yield fs


def test_one_call_sleeping_in_a_batch_ends_as_the_same_call_alone(short_server):
    with short_server.spawn([FUNCTIONS]) as sub:
        sig, nap = sub.proxy("sig"), sub.proxy("nap")
        calls = [(sig, (np.zeros(1),))] * 2 + [(nap, (np.zeros(1),))] + \
            [(sig, (np.zeros(1),))] * 3
        started = time.monotonic()
        outs = call_each(calls)
        elapsed = time.monotonic() - started
        # a single call's limit, counted from the answer before it: not the batch's 6 x 0.5 s
        assert elapsed < SHORT.call_wall_s + 1.0
        assert [o.get()[0] for o in outs[:2]] == [0.5, 0.5]
        for out in outs[2:]:
            with pytest.raises(CallTimeout, match="wall-clock"):
                out.get()
        assert not sub.alive
    # the same words as the same call made alone
    with short_server.spawn([FUNCTIONS]) as sub:
        with pytest.raises(CallTimeout) as alone:
            sub.proxy("nap")(np.zeros(1))
    assert str(alone.value) == str(pytest.raises(CallTimeout, outs[2].get).value)


def test_each_call_of_a_batch_gets_a_single_calls_time_not_what_the_others_left(short_server):
    # three calls of 0.3 s each: 0.9 s in all, beyond one call's 0.5 s, within each call's
    body = FUNCTIONS + "\ndef slow(z):\n    import time\n    time.sleep(0.3)\n    return z\n"
    with short_server.spawn([body]) as sub:
        slow = sub.proxy("slow")
        outs = call_each([(slow, (np.zeros(1),))] * 3)
        assert [o.get()[0] for o in outs] == [0.0, 0.0, 0.0]
        assert sub.alive


def test_cpu_is_bounded_even_when_the_child_drops_its_own_cpu_limit(short_server):
    cell = FUNCTIONS + textwrap.dedent('''
        import sys
        sys.modules["autograder.sandbox.child"].Session._arm_cpu = lambda self, calls=1: None
    ''')
    with short_server.spawn([cell]) as sub:
        spin = sub.proxy("spin")
        started = time.monotonic()
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),)), (spin, (np.zeros(1),)),
                          (spin, (np.zeros(1),))])
        assert time.monotonic() - started < 3 * SHORT.call_wall_s + 1.5
        assert outs[0].get()[0] == 0.5
        for out in outs[1:]:
            with pytest.raises((CallTimeout, SandboxDied)):
                out.get()
        assert not sub.alive


def _globals_patch(body: str) -> str:
    return FUNCTIONS + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        def serve_globals(self, msg):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_globals = serve_globals\n"


def test_a_globals_answer_for_names_not_asked_gains_nothing(server):
    body = '''
        self.send({"op": "globals", "entries": [
            {"kind": "value", "value": 7, "name": "secret"},
            {"kind": "value", "value": 8, "name": "other"}]})
    '''
    with server.spawn([_globals_patch(body)]) as sub:
        with pytest.raises(ProtocolError, match="malformed globals"):
            sub.read_globals(["x"])
        assert not sub.alive
    body = '''
        self.send({"op": "globals", "entries": [{"kind": "value", "value": 7, "name": "y"}]})
    '''
    with server.spawn([_globals_patch(body)]) as sub:
        # the value is judged as x's (what a notebook with x = 7 gives), under x only
        assert sub.read_globals(["x"]) == {"x": ("value", 7)}
    _honest_check(server)


def test_a_leftover_thread_and_process_do_not_reach_the_next_submission(server):
    # the first submission leaves a thread writing its arena, a forked process, and queued
    # answers; the next submission on the same fork server is graded as if alone
    body = '''
        import os, threading
        view = self.arena.view([0, "|u1", [4096], "C"])
        def scribble():
            while True:
                view[...] = 255
        threading.Thread(target=scribble, daemon=True).start()
        try:
            if os.fork() == 0:
                import time
                time.sleep(60)
                os._exit(0)
        except OSError:
            pass  # (the sandbox may refuse to fork)
        for _ in range(5):
            self.send({"op": "return", "value": 13, "labels": []})
    '''
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2, no_mutation=False)
        assert [o.get() for o in outs] == [13, 13]
    _honest_check(server)
    _honest_check(server)


def _frame_with_header(text: bytes, payload: bytes) -> bytes:
    pad = -(10 + len(text) + 1) % 64
    header = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


CRAFTED_HEADERS = [
    # read by the codec's fast path for numpy's own header form (codec._read_numpy_header):
    # each must be refused as numpy's parser refuses it, or read exactly as numpy reads it
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9999999999999999999), }", b"",
     ProtocolError),
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (01,), }", b"\0" * 8, ProtocolError),
    (b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8, ProtocolError),
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", b"\0" * 16, ProtocolError),
    (b"{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
     np.array([[1.0, 2.0], [3.0, 4.0]]).tobytes(order="F"), np.array([[1.0, 2.0], [3.0, 4.0]])),
    (b"{'shape': (2,), 'descr': '<i8', 'fortran_order': False, }",
     np.array([7, 9]).astype("<i8").tobytes(), np.array([7, 9])),
]


@pytest.mark.parametrize("text, payload, want", CRAFTED_HEADERS)
def test_crafted_array_headers_in_an_answer(server, text, payload, want):
    # a child answering with an array whose .npy header it wrote itself: the grader either
    # reads what numpy would read or refuses the answer as malformed (a protocol failure that
    # ends this submission), never an exception of numpy's escaping the codec
    body = f'''
        raw = b'{{"op": "return", "value": {{"a": 0}}, "rng": [], "warnings": []}}'
        frame = {_frame_with_header(text, payload)!r}
        self.sock.sendall(codec._HEAD.pack(codec.MAGIC, len(raw), 1) + raw
                          + codec._ALEN.pack(len(frame)) + frame)
    '''
    with server.spawn([_patched(body)]) as sub:
        (out,) = call_each([(sub.proxy("sig"), (np.zeros(1),))])
        if want is ProtocolError:
            with pytest.raises(ProtocolError):
                out.get()
            assert not sub.alive
        else:
            got = out.get()
            assert got.dtype == want.dtype and np.array_equal(got, want)
    _honest_check(server)
