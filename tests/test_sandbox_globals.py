"""All the globals a submission's tests ask for, read in one round trip, and attacked.

``Submission.read_globals`` asks the child once for every name; the answers must be exactly what
``read_global`` gives name by name, and a child that forges the batched answer (wrong length,
one array frame for two values, an unknown kind, endless encoding, a message too large) gains
nothing: it is killed or refused, and the grader holds only plain data.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import numpy as np
import pytest

from autograder.grade.inputs import sha256_file
from autograder.grade.worker import Grader
from autograder.sandbox import CallTimeout, ForkServer, Limits, ProtocolError
from tests.fixtures.grade_helpers import TEST_LIMITS, make_workdir_root, write_notebook

LIMITS = Limits(run_wall_s=20, call_wall_s=3, call_cpu_s=1)

CELL = textwrap.dedent('''
    import math
    import numpy as np
    x = 3
    arr = np.arange(6.0).reshape(2, 3)
    data = {"w": np.ones(2), "n": [1, 2.5, None, "s"], "t": (1, 2)}
    def f(v):
        return 2 * v
    class Thing:
        pass
    thing = Thing()
    gen = (i for i in range(3))
    deep = []
    node = deep
    for _ in range(500):
        node.append([])
        node = node[0]
''')
NAMES = ["x", "arr", "data", "f", "math", "np", "Thing", "thing", "gen", "deep", "missing"]


def _patch(body: str) -> str:
    """A cell that replaces the child's globals answer with ``body`` (a student who read
    autograder/sandbox/child.py can change anything in their own process)."""
    return textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        def serve_globals(self, msg):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_globals = serve_globals\n"


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def test_one_round_trip_gives_what_reading_one_by_one_gives(server):
    with server.spawn([CELL]) as sub:
        sent = []
        original = sub._send
        sub._send = lambda header, arrays, deadline: (sent.append(header["op"]),
                                                      original(header, arrays, deadline))[1]
        batched = sub.read_globals(NAMES)
        assert sent == ["globals"]
        one_by_one = {name: sub.read_global(name) for name in NAMES}
    assert list(batched) == NAMES
    for name in NAMES:
        assert batched[name][0] == one_by_one[name][0], name
        assert _same(batched[name][1], one_by_one[name][1]), name
    assert batched["x"] == ("value", 3)
    assert batched["f"] == ("callable", None) and batched["Thing"][0] == "refused"
    assert batched["math"] == ("module", "math") and batched["missing"] == ("undefined", None)
    assert batched["thing"][0] == batched["gen"][0] == batched["deep"][0] == "refused"
    assert "Thing" in batched["thing"][1] and "generator" in batched["gen"][1]


def test_values_too_large_for_one_message_are_read_one_by_one(server):
    # the child's own limit made small: each array fits alone (168 bytes), two do not; the
    # child says so and the grader reads each global alone, as before
    cell = ("import sys\nimport numpy as np\n"
            "sys.modules['autograder.sandbox.codec'].MAX_MESSAGE_BYTES = 200\n"
            "w = np.ones(5)\nv = np.zeros(5)\nsmall = 1.5\n")
    with server.spawn([cell]) as sub:
        sent = []
        original = sub._send
        sub._send = lambda header, arrays, deadline: (sent.append(header["op"]),
                                                      original(header, arrays, deadline))[1]
        got = sub.read_globals(["w", "v", "small"])
        assert sent == ["globals", "global", "global", "global"]
        assert sub.alive
    assert got["small"] == ("value", 1.5)
    assert got["w"][0] == "value" and np.array_equal(got["w"][1], np.ones(5))
    assert got["v"][0] == "value" and np.array_equal(got["v"][1], np.zeros(5))


@pytest.mark.parametrize("body, words", [
    ('self.send({"op": "globals", "entries": [{"kind": "value", "value": 1}]})', "malformed"),
    ('self.send({"op": "globals", "entries": "everything"})', "malformed"),
    ('self.send({"op": "globals", "entries": [{"kind": "handle", "obj": 1}] * '
     'len(msg["names"])})', "unexpected answer"),
    ('self.send({"op": "global", "kind": "value", "value": 1})', "unexpected message"),
])
def test_a_forged_answer_kills_the_submission(server, body, words):
    with server.spawn([CELL, _patch(body)]) as sub:
        with pytest.raises(ProtocolError, match=words):
            sub.read_globals(["x", "arr"])
        assert not sub.alive


def test_one_array_frame_cannot_serve_two_values(server):
    # two globals pointing at the same frame would be one object in the grader
    body = '''
        arrays = []
        tree = codec.encode(child.np.arange(3.0), arrays)
        self.send({"op": "globals", "entries": [{"kind": "value", "value": tree}] * 2}, arrays)
    '''
    with server.spawn([CELL, _patch(body)]) as sub:
        got = sub.read_globals(["arr", "x"])
    assert got["arr"][0] == "value" and np.array_equal(got["arr"][1], np.arange(3.0))
    assert got["x"][0] == "refused" and "malformed" in got["x"][1]


def test_endless_encoding_is_stopped_with_the_limits_of_its_names(server):
    cell = CELL + textwrap.dedent('''
        class Endless(list):
            def __iter__(self):
                while True:
                    pass
        endless = Endless([1])
    ''')
    with server.spawn([cell]) as sub:
        with pytest.raises(CallTimeout):
            sub.read_globals(["x", "endless"])
        assert not sub.alive


_WITHOUT_READY_GLOBALS = textwrap.dedent('''
    import sys
    _child = sys.modules["autograder.sandbox.child"]
    _send = _child.Session.send
    def _plain_ready(self, header, arrays=()):
        if header.get("op") == "ready":
            header, arrays = {k: v for k, v in header.items() if k != "globals"}, ()
        return _send(self, header, arrays)
    _child.Session.send = _plain_ready
''')
_FORGED_READY_GLOBALS = textwrap.dedent('''
    import sys
    _child = sys.modules["autograder.sandbox.child"]
    _send = _child.Session.send
    def _forged_ready(self, header, arrays=()):
        if header.get("op") == "ready" and "globals" in header:
            header = dict(header, globals=dict(header["globals"],
                                               entries=[{"kind": "callable"}] * 99))
        return _send(self, header, arrays)
    _child.Session.send = _forged_ready
''')


@pytest.mark.parametrize("forgery", ["request", "ready"])
def test_a_grader_whose_batched_read_fails_fails_only_that_submission(tmp_path, forgery):
    tests = textwrap.dedent('''
        from otter.test_files import test_case
        OK_FORMAT = False
        name = "q1"

        @test_case(name="test_f", points=1)
        def test_f(f, x):
            assert f(2) == 4 and x == 3
    ''')
    bundle = tmp_path / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(tests)
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "globals", "questions": [{"name": "q1", "points": 1.0, "file": "tests/q1.py"}],
    }))
    honest = write_notebook(tmp_path / "honest.ipynb", ["def f(v):\n    return 2 * v\nx = 3\n"])
    # the answer forged in the globals request (the answer with "ready" dropped) or with ready
    cells = ["def f(v):\n    return 2 * v\nx = 3\n"] + (
        [_WITHOUT_READY_GLOBALS,
         _patch('self.send({"op": "globals", "entries": [{"kind": "callable"}] * 99})')]
        if forgery == "request" else [_FORGED_READY_GLOBALS])
    forged = write_notebook(tmp_path / "forged.ipynb", cells)
    root = make_workdir_root()
    grader = Grader(bundle, TEST_LIMITS, workdir_root=str(root))
    try:
        results = {p.stem: grader.grade({"id": p.stem, "file": str(p), "kind": "notebook",
                                         "content_hash": sha256_file(p)})
                   for p in (honest, forged, honest)}
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    assert results["honest"]["score"] == 1.0
    forged_case = results["forged"]["questions"][0]["cases"][0]
    assert results["forged"]["score"] == 0.0 and not forged_case["passed"]
    assert "malformed globals" in forged_case["message"]  # the case names why, nothing more
