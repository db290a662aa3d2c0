"""Cells transformed and compiled in the grader, once per distinct cell (sandbox/cellcode.py).

The child executes the grader's code object instead of running IPython's transformer and
``compile`` itself. What a submission sees must not change: the same cell outcomes, error
messages, tracebacks and values as when the child prepares its cells (checked on cells that
exercise the transformer: magics, shell escapes, prompts, indentation, syntax errors, PEP 563
annotations); cells the grader cannot prepare are left to the child; and nothing from a child can
change what the grader sends another submission.
"""

from __future__ import annotations

import marshal

import pytest

from autograder.sandbox import ForkServer, Limits, cellcode

CELLS = [
    "import numpy as np\nx = np.arange(3.0)\n",
    "%matplotlib inline\ny = x * 2\n",
    "!echo hello\nz = 3\n",
    "%%time\nw = 4\n",
    ">>> a = 5\n>>> b = a + 1\n",
    "    c = 7\n    d = c + 1\n",                       # leading indentation, removed by IPython
    "def f(v: NotDefinedAnywhere) -> int:\n    return v\nann = f.__annotations__['v']\n",
    "def g(n):\n    return 1 / n\n\ng(0)\n",            # raises: traceback into this cell
    "def broken(:\n    pass\n",                         # SyntaxError: left to the child
    "q = 1 +\n",                                        # SyntaxError too
    "k = 'after the errors'\n",
    "x" * 10 + " = 1\n" + "# " + "long " * (cellcode.MAX_CELL_CHARS // 5) + "\n",  # too long
]
NAMES = ["x", "y", "z", "w", "a", "b", "c", "d", "ann", "k", "xxxxxxxxxx"]


@pytest.fixture(scope="module")
def server():
    with ForkServer(Limits(call_wall_s=5, call_cpu_s=5)) as srv:
        yield srv


def _outcomes(server, cells):
    with server.spawn(cells) as sub:
        values = {n: repr(sub.read_global(n)) for n in NAMES}  # (arrays compared as text)
        return [(c.index, c.ok, c.error, c.traceback) for c in sub.cells], values


def test_same_outcomes_as_when_the_child_prepares_its_cells(server, monkeypatch):
    ready = [cellcode.prepared(i + 1, c) is not None for i, c in enumerate(CELLS)]
    assert ready == [True] * 8 + [False, False, True, False]  # the others: the child's job
    prepared = _outcomes(server, CELLS)
    monkeypatch.setattr(cellcode, "MAX_CELL_CHARS", -1)  # every cell left to the child
    by_child = _outcomes(server, CELLS)
    assert prepared == by_child
    outcomes, values = prepared
    assert [ok for _, ok, _, _ in outcomes] == [True] * 7 + [False, False, False, True, True]
    assert "ZeroDivisionError" in outcomes[7][2] and "<code cell 8>" in outcomes[7][3]
    assert "SyntaxError" in outcomes[8][2] and "SyntaxError" in outcomes[9][2]
    assert values["ann"] == repr(("value", "NotDefinedAnywhere"))  # the child's PEP 563 flags
    assert values["b"] == repr(("value", 6)) and values["d"] == repr(("value", 8))
    assert values["x"] == repr(("value", __import__("numpy").arange(3.0)))


def test_which_cells_the_grader_prepares():
    assert cellcode.prepared(1, "x = 1\n") is not None
    assert cellcode.prepared(1, "def broken(:\n") is None
    assert cellcode.prepared(1, "#" * (cellcode.MAX_CELL_CHARS + 1)) is None
    text, blob = cellcode.prepared(3, "%time v = 1\n")
    assert "run_line_magic" in text
    assert marshal.loads(blob).co_filename == "<code cell 3>"


def test_the_child_runs_the_graders_code_object(server, monkeypatch):
    # the grader's code object is what runs: what the child would compile from the source
    # text is not consulted (here the two differ on purpose)
    real = cellcode.prepared

    def swapped(number, source):
        if source == "x = 1\n":
            entry = real(number, "x = 2\n")
            return ("x = 1\n", entry[1])
        return real(number, source)

    monkeypatch.setattr(cellcode, "prepared", swapped)
    with server.spawn(["x = 1\n"]) as sub:
        assert sub.read_global("x") == ("value", 2)


def test_a_code_object_for_another_cell_number_is_not_run(server, monkeypatch):
    # a frame meant for another cell (its file name says so) falls back to the source
    real = cellcode.prepared
    monkeypatch.setattr(cellcode, "prepared",
                        lambda number, source: real(number + 1, "x = 2\n"))
    with server.spawn(["x = 1\n"]) as sub:
        assert sub.read_global("x") == ("value", 1)


HOSTILE = """
import gc, sys, types
# a student who read cellcode.py: try to reach the grader's cache or the code objects it sent
for obj in gc.get_objects():
    if isinstance(obj, types.CodeType) and obj.co_filename.startswith("<code cell"):
        pass  # the child's own copies: changing them changes nothing in the grader
sys.modules.pop("autograder.sandbox.cellcode", None)
x = 1
"""


def test_a_hostile_child_changes_nothing_for_the_next_submission(server):
    template = "import numpy as np\nvalue = np.float64(2.5)\n"
    with server.spawn([template, HOSTILE]) as sub:
        assert sub.read_global("x") == ("value", 1)
    before = dict(cellcode._cache)
    with server.spawn([template, "y = value * 2\n"]) as sub:
        assert sub.read_global("y") == ("value", 5.0)
    # the cache holds only what the grader compiled from each source, byte for byte
    for (number, source), (text, blob) in before.items():
        assert text == cellcode._transform(source)
        fresh = compile(text, f"<code cell {number}>", "exec", flags=cellcode.COMPILE_FLAGS,
                        dont_inherit=True)
        assert marshal.dumps(fresh) == blob


def test_code_travels_inline_then_as_frames_past_the_budget(server, monkeypatch):
    # the first cells' code objects travel in the message's structure, the rest (past
    # INLINE_CODE_BYTES) as uint8 frames; the child runs the grader's code objects either way
    cells = [f"v{i} = {i} * 3\n" for i in range(6)]
    arrays: list = []
    monkeypatch.setattr(cellcode, "INLINE_CODE_BYTES", 0)
    framed = cellcode.run_message(cells, arrays)
    assert [type(entry[1]) for entry in framed] == [int] * 6 and len(arrays) == 6
    one = len(cellcode.prepared(1, cells[0])[1])
    monkeypatch.setattr(cellcode, "INLINE_CODE_BYTES", 3 * one)
    arrays = []
    mixed = cellcode.run_message(cells, arrays)
    assert [type(entry[1]) for entry in mixed] == [bytes] * 3 + [int] * 3 and len(arrays) == 3
    assert all(marshal.loads(entry[1]).co_filename == f"<code cell {i + 1}>"
               for i, entry in enumerate(mixed[:3]))
    real = cellcode.prepared

    def swapped(number, source):  # the grader's code differs from the text on purpose
        return (source, real(number, source.replace("* 3", "* 5"))[1])

    monkeypatch.setattr(cellcode, "prepared", swapped)
    with server.spawn(cells) as sub:
        assert [sub.read_global(f"v{i}") for i in range(6)] == \
            [("value", i * 5) for i in range(6)]


def test_a_submission_s_cells_are_prepared_here_up_to_a_budget(server, monkeypatch):
    # compiling is the submission's work done in the grader: past MAX_PREPARED_CHARS of source
    # the cells are left to the child, which compiles them within its own limits
    cells = [f"w{i} = {i}\n" + "#" * 300 + "\n" for i in range(5)]
    monkeypatch.setattr(cellcode, "MAX_PREPARED_CHARS", 2 * len(cells[0]) + 10)
    compiled = cellcode.run_message(cells, [])
    assert [entry is not None for entry in compiled] == [True, True, False, False, False]
    with server.spawn(cells) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        assert [sub.read_global(f"w{i}") for i in range(5)] == [("value", i) for i in range(5)]


def test_the_cache_keeps_a_bounded_number_of_bytes(monkeypatch):
    monkeypatch.setattr(cellcode, "_cache", cellcode.OrderedDict())
    monkeypatch.setattr(cellcode, "_cache_bytes", 0)
    monkeypatch.setattr(cellcode, "CACHE_BYTES", 200_000)
    chain = "x = 0" + "<0" * 2000 + "\n"  # 4 kB of source, about 100 kB of code
    for number in range(1, 6):
        assert cellcode.prepared(number, chain) is not None
    held = sum(cellcode._entry_bytes(k, v) for k, v in cellcode._cache.items())
    assert held == cellcode._cache_bytes <= 200_000
    assert 1 <= len(cellcode._cache) < 5
    assert (5, chain) in cellcode._cache  # the most recent stays


def test_a_notebook_larger_than_a_json_structure_is_sent(server):
    # a cell of 17 MB (a notebook file may hold 20): the run message is the grader's own
    # marshal data, allowed up to codec.MAX_GRADER_STRUCTURE_BYTES (the child's answers stay
    # limited to codec.MAX_JSON_BYTES)
    from autograder.sandbox import codec

    big = "#" + "a" * (codec.MAX_JSON_BYTES + (1 << 20)) + "\nafter = 1\n"
    with server.spawn([big, "x = 2\n"]) as sub:
        assert [c.ok for c in sub.cells] == [True, True], sub.cells
        assert sub.read_global("after") == ("value", 1)
        assert sub.read_global("x") == ("value", 2)
