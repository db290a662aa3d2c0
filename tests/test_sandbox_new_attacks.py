"""Attacks on the three latest sandbox changes, written as a student who read the code would.

1. Cells that run cleanly are reported with ``ready`` (a failing cell at once), and the child
   marks the cell it starts in the arena's last 64 bytes, read by the grader only when the
   process died during the cells (``Submission._cells_before_death``), so that the worker leaves
   that cell out of a new attempt.
2. Batched calls (``checks.call_each`` -> ``sandbox/batch.py``) carry numpy Generators (each
   call's own; the test's Generator adopts the state the child's copy ended in) and take one
   ``no_mutation`` flag per call.
3. In a batch, each call has a single call's limits counted from the answer before it.

Each test tries to gain something (a better verdict, a misplaced blame, another submission's
grade, more time, a desynchronised protocol) and asserts the attacker gains nothing (written by
a reviewer helper; the 13 that first succeeded were fixed: ``os._exit(71)`` in a cell taken for
a set-up failure (now only before the child's ``started``) and a non-restartable worker then
starting an unprivileged fork server (it now ends); cell reports beyond the notebook's cells
and indices chosen by the child; Generators shared by two calls or inside containers; the
grading budget only checked when a batch starts).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.checks import call_each
from autograder.grade.inputs import sha256_file
from autograder.grade.worker import MAX_CELL_RETRIES, Grader
from autograder.sandbox import (
    CallTimeout,
    ForkServer,
    Limits,
    ProtocolError,
    SandboxDied,
    SandboxError,
    StudentError,
)
from autograder.sandbox.arena import PROGRESS, ChildArena, GraderArena
from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    DOUBLE_OK,
    TEST_LIMITS,
    TINY_BUNDLE,
    make_workdir_root,
    stored,
    write_notebook,
)

LIMITS = Limits(run_wall_s=20, call_wall_s=2, call_cpu_s=1)
SHORT = Limits(run_wall_s=20, call_wall_s=0.5, call_cpu_s=0.5)

FIND_ARENA = (
    "import gc\n"
    "arena = next(o for o in gc.get_objects() if type(o).__name__ == 'ChildArena')\n"
)
FIND_SESSION = (
    "import gc\n"
    "session = next(o for o in gc.get_objects() if type(o).__name__ == 'Session')\n"
)

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

    def draw(rng, k=2):
        return rng.normal(size=k)

    def draw_all(gens):
        items = gens.values() if isinstance(gens, dict) else gens
        return [float(g.normal()) for g in items]

    def die(z):
        import os
        os._exit(3)
''')


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


@pytest.fixture(scope="module")
def short_server():
    with ForkServer(SHORT) as fs:
        yield fs


def _outcomes(sub) -> list:
    return [(c.index, c.ok) for c in sub.cells]


def _honest_check(server) -> None:
    """A fresh, honest submission on the same fork server: exactly the honest outcomes."""
    with server.spawn(["a = 1", FUNCTIONS, "b = 2"]) as sub:
        assert sub.alive and sub.status == "ok"
        assert _outcomes(sub) == [(0, True), (1, True), (2, True)]
        z = np.linspace(-1.0, 1.0, 3)
        outs = call_each([(sub.proxy("sig"), (z,)), (sub.proxy("scale_in_place"), (z,))],
                         names=["sig", "scale_in_place"])
        np.testing.assert_allclose(outs[0].get(), 1 / (1 + np.exp(-z)))
        with pytest.raises(AssertionError, match="scale_in_place modified its input"):
            outs[1].get()
        assert sub.read_globals(["x"]) == {"x": ("value", 3)}


def _patched_calls(body: str, functions: str = FUNCTIONS) -> str:
    """A cell replacing the child's ``Session.serve_calls`` by ``body`` (self, msg, arrs)."""
    return functions + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        def serve_calls(self, msg, arrs):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_calls = serve_calls\n"


def _patched_send(body: str) -> str:
    """A cell wrapping the child's ``Session.send``: ``body`` may rewrite ``header``."""
    return textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        _original_send = child.Session.send
        def _send(self, header, arrays=()):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\n    return _original_send(self, header, arrays)\nchild.Session.send = _send\n"


# =============================================================================================
# 1. the progress mark and the deferred cell reports
# =============================================================================================


def test_placements_never_reach_the_progress_slot_and_the_mark_changes_no_verdict():
    arena = GraderArena(size=1 << 16)
    child = ChildArena(os.dup(arena.fd))
    try:
        size = arena.size
        # an argument filling the arena up to the slot fits; one byte more does not
        full = arena.place(np.zeros((size - PROGRESS) // 8))
        assert full is not None
        assert arena.place(np.zeros(1, dtype=np.uint8)) is None
        arena.start_call()
        assert arena.place(np.zeros(size - PROGRESS + 1, dtype=np.uint8)) is None
        arena.start_call()
        _, placement = arena.place(np.arange((size - PROGRESS) // 8, dtype=np.float64))
        for mark in (1, 0, -1, 2 ** 63 - 1, -(2 ** 63)):
            child.mark_cell(mark)
            assert arena.cell_running() == mark
            assert not arena.changed(placement)  # the slot is outside every placement
        # the child cannot be handed the slot as an argument either
        with pytest.raises(ValueError):
            child.view([size - PROGRESS, "<i8", [1], "C"])
        with pytest.raises(ValueError):
            child.view([size - PROGRESS - 8, "<i8", [2], "C"])
        # raw bytes anywhere in the slot (all 64 of them) leave the placement unchanged
        child.map[size - PROGRESS:size] = b"\xff" * PROGRESS
        assert not arena.changed(placement) and arena.cell_running() == -1
    finally:
        child.map.close()
        arena.close()


@pytest.mark.parametrize("mark", [99, -1, 1, 4, 2 ** 63 - 1])
def test_a_mark_without_a_death_is_never_read(server, mark):
    cells = ["a = 1", FIND_ARENA + f"arena.mark_cell({mark})", FUNCTIONS, "b = 2"]
    with server.spawn(cells) as sub:
        assert sub.alive and sub.status == "ok"
        assert _outcomes(sub) == [(0, True), (1, True), (2, True), (3, True)]
        assert sub.proxy("sig")(np.zeros(1))[0] == 0.5
        # a later death (during a call) does not make the grader re-read the mark
        with pytest.raises(SandboxDied):
            sub.proxy("die")(np.zeros(1))
        assert _outcomes(sub) == [(0, True), (1, True), (2, True), (3, True)]
    _honest_check(server)


def test_a_mark_written_during_a_call_changes_nothing(server):
    cell = FIND_ARENA + FUNCTIONS + textwrap.dedent('''
        def mark_and_die(k):
            arena.mark_cell(int(k))
            import os
            os._exit(3)

        def mark_and_return(k):
            arena.mark_cell(int(k))
            return k
    ''')
    with server.spawn(["a = 1", cell, "b = 2"]) as sub:
        before = _outcomes(sub)
        assert before == [(0, True), (1, True), (2, True)]
        outs = call_each([(sub.proxy("mark_and_return"), (1,)), (sub.proxy("sig"), (np.zeros(2),)),
                          (sub.proxy("mark_and_return"), (-7,))])
        assert [outs[0].get(), outs[2].get()] == [1, -7]
        np.testing.assert_array_equal(outs[1].get(), 0.5 * np.ones(2))
        with pytest.raises(SandboxDied):
            sub.proxy("mark_and_die")(1)
        assert _outcomes(sub) == before
    _honest_check(server)


@pytest.mark.parametrize("mark", [0, 4, -1, -(2 ** 63), 2 ** 63 - 1, 3, 2, 1])
def test_a_mark_before_a_death_places_it_only_in_one_of_the_submissions_own_cells(server, mark):
    # the third (last) cell dies; its mark claims anything: the cells counted as having run are
    # always fewer than the cells, so the cell the worker leaves out is one of the student's
    cells = ["a = 1", "b = 2", FIND_ARENA + f"arena.mark_cell({mark})\nimport os\nos._exit(3)"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        assert len(sub.cells) < len(cells)
        assert _outcomes(sub) == [(i, True) for i in range(len(sub.cells))]
        if mark == 3:  # the honest mark: the death is placed in the cell that died
            assert len(sub.cells) == 2
    finally:
        sub.close()
    _honest_check(server)


def test_a_mark_pointing_at_a_reported_failing_cell_is_ignored(server):
    # cell 1 fails (reported at once, with its error); cell 3 dies claiming cell 1 was running:
    # the error of cell 1 is kept and the blame stays after it
    cells = ["raise ValueError('first')", "a = 1",
             FIND_ARENA + "arena.mark_cell(1)\nimport os\nos._exit(3)", "b = 2"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        assert sub.cells[0].ok is False and "first" in sub.cells[0].error
        assert 1 <= len(sub.cells) < len(cells)
        assert all(c.ok for c in sub.cells[1:])
    finally:
        sub.close()


def test_a_forged_mark_before_a_hang_stays_among_the_own_cells(server):
    cells = ["a = 1", FIND_ARENA + "arena.mark_cell(3)\nwhile True:\n    pass", "b = 2"]
    started = time.monotonic()
    sub = server.spawn(cells, limits=Limits(run_wall_s=1, call_wall_s=2, call_cpu_s=1))
    try:
        assert time.monotonic() - started < 4
        assert not sub.alive and sub.status == "timeout"
        assert len(sub.cells) < len(cells) and all(c.ok for c in sub.cells)
    finally:
        sub.close()


def test_a_thread_scribbling_the_progress_slot_changes_no_verdict(server):
    # a thread started in a cell keeps writing absurd marks and junk into the arena's tail
    # (beyond anything a small call places): values, the no-mutation verdicts (single and
    # batched) and the cell outcomes are those of an honest submission
    cell = FIND_ARENA + textwrap.dedent('''
        import threading, time
        def scribble():
            n = 0
            while True:
                arena.mark_cell(-n if n % 2 else 10 ** 9 + n)
                arena.map[arena.size - 4096:arena.size - 64] = bytes([n % 256]) * 4032
                n += 1
                time.sleep(0.0005)
        threading.Thread(target=scribble, daemon=True).start()
    ''')
    with server.spawn(["a = 1", cell, FUNCTIONS]) as sub:
        assert _outcomes(sub) == [(0, True), (1, True), (2, True)]
        z = np.linspace(-1.0, 1.0, 4)
        np.testing.assert_allclose(sub.proxy("sig")(z), 1 / (1 + np.exp(-z)))
        outs = call_each([(sub.proxy("ident"), (z,)), (sub.proxy("scale_in_place"), (z,))],
                         names=["ident", "scale_in_place"])
        np.testing.assert_array_equal(outs[0].get(), z)
        with pytest.raises(AssertionError, match="scale_in_place modified its input"):
            outs[1].get()
        np.testing.assert_array_equal(z, np.linspace(-1.0, 1.0, 4))
        with pytest.raises(SandboxDied):
            sub.proxy("die")(z)
        assert _outcomes(sub) == [(0, True), (1, True), (2, True)]
    _honest_check(server)


def test_forged_ready_reports_are_bounded_in_number_and_size(server):
    # the child rewrites its "ready": a thousand and more reports, non-dicts, huge texts, ok=True with
    # an error: at most one outcome per cell is kept, the texts are truncated
    forge = '''
        if header.get("op") == "ready":
            junk = ["not a dict", 7, None, [1, 2]]
            big = {"op": "cell", "index": 0, "ok": False, "error": "E" * 10 ** 6,
                   "tb": "T" * 10 ** 6}
            claim = {"op": "cell", "index": 1, "ok": True, "error": "ValueError: hidden"}
            header = dict(header, cells=junk + [big] + [claim] * 1000)
    '''
    cells = [_patched_send(forge), FUNCTIONS, "b = 2"]
    with server.spawn(cells) as sub:
        # more reports than cells: a protocol violation, the submission is killed; what was
        # kept is at most one outcome per cell, numbered by the grader, texts truncated
        assert not sub.alive and "more cells than it has" in sub.reason
        assert len(sub.cells) <= len(cells)
        assert [c.index for c in sub.cells] == list(range(len(sub.cells)))
        for cell in sub.cells:
            assert len(cell.error or "") <= 500 and len(cell.traceback) <= 2000
            assert cell.ok is (cell.error is None)
    _honest_check(server)


def test_cell_reports_and_a_ready_with_cells_are_not_counted_twice(server):
    # the first cell sends a 'cell' report for every cell itself; the child then reports the
    # same cells again with 'ready'
    cells = [FIND_SESSION + "for i in range(3):\n"
             "    session.send({'op': 'cell', 'index': i, 'ok': True, 'error': None, 'tb': ''})",
             "a = 1", "b = 2"]
    with server.spawn(cells) as sub:
        # the same cells reported twice: more reports than cells, killed, nothing counted twice
        assert not sub.alive
        assert len(sub.cells) <= len(cells)
        assert [c.index for c in sub.cells] == list(range(len(sub.cells)))


def test_a_flood_of_cell_reports_is_bounded(server):
    flood = FIND_SESSION + textwrap.dedent('''
        import time
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            session.send({"op": "cell", "index": 0, "ok": False, "error": "E" * 500,
                          "tb": "T" * 2000})
    ''')
    with server.spawn([flood, "def f(x):\n    return x"]) as sub:
        assert len(sub.cells) <= 2, f"{len(sub.cells)} outcomes kept for 2 cells"


def test_forged_indices_in_ready_name_only_existing_cells(server):
    forge = '''
        if header.get("op") == "ready":
            header = dict(header, cells=[{"op": "cell", "index": 10 ** 12, "ok": False,
                                          "error": "ValueError: elsewhere"},
                                         {"op": "cell", "index": -5, "ok": True}])
    '''
    cells = [_patched_send(forge), "a = 1"]
    with server.spawn(cells) as sub:
        assert sub.alive
        assert all(0 <= c.index < len(cells) for c in sub.cells), \
            [c.index for c in sub.cells]


def test_an_early_forged_ready_only_desynchronises_that_submission(server):
    # the first cell sends a forged 'ready' (names of its choice) and the cells go on; the real
    # reports and 'ready' then wait in the socket: no later answer is taken for them, the next
    # request meets them and the submission is killed; the next submission is unaffected
    cell = FIND_SESSION + ("session.send({'op': 'ready', 'names': ['sig', 'x'], "
                           "'callables': ['sig'], 'notes': [], 'cells': []})\n")
    with server.spawn([cell, FUNCTIONS, "raise ValueError('late')"]) as sub:
        with pytest.raises(ProtocolError, match="unexpected message"):
            sub.read_globals(["x"])
        assert not sub.alive
    with server.spawn([cell, FUNCTIONS]) as sub:
        with pytest.raises((ProtocolError, SandboxDied)):
            sub.proxy("sig")(np.zeros(1))
        assert not sub.alive
    _honest_check(server)


# -- a student's exit code taken for a broken machine ------------------------------------------


@pytest.mark.parametrize("where", [1, 3])
def test_a_student_exit_code_is_not_taken_for_a_sandbox_set_up_failure(server, where):
    cells = ["a = 1", "b = 2", "c = 3"]
    cells[where - 1] = "import os\nos._exit(71)"
    try:
        sub = server.spawn(cells)
    except SandboxError as exc:  # "the sandbox could not be set up": a machine fault
        pytest.fail(f"the student's exit code was taken for a broken sandbox: {exc}")
    try:
        assert not sub.alive and sub.status == "died"
        assert len(sub.cells) == where - 1
    finally:
        sub.close()


def _grade(grader: Grader, path: Path) -> dict:
    return grader.grade({"id": path.stem, "file": str(path), "kind": "notebook",
                         "content_hash": sha256_file(path)})


def test_exit_71_in_a_cell_is_graded_like_any_other_exit(tmp_path):
    root = make_workdir_root()
    grader = Grader(TINY_BUNDLE, TEST_LIMITS, workdir_root=str(root), restartable=False)
    try:
        honest = _grade(grader, write_notebook(tmp_path / "exit3.ipynb",
                                               [DOUBLE_OK, "import os\nos._exit(3)", ADD_ROWS_OK]))
        assert (honest["status"], honest["score"]) == ("sandbox_died", 6.0)
        forged = _grade(grader, write_notebook(tmp_path / "exit71.ipynb",
                                               [DOUBLE_OK, "import os\nos._exit(71)", ADD_ROWS_OK]))
        assert (forged["status"], forged["score"]) == ("sandbox_died", 6.0), forged["message"][:300]
        assert grader.server_restarts == 0
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)


def test_exit_71_does_not_cost_the_next_submissions_their_grades(tmp_path):
    from autograder.grade import grade_class

    subs, out = tmp_path / "subs", tmp_path / "out"
    write_notebook(subs / "a_attacker.ipynb", [DOUBLE_OK, "import os\nos._exit(71)", ADD_ROWS_OK])
    write_notebook(subs / "b_victim.ipynb", [DOUBLE_OK, ADD_ROWS_OK])
    write_notebook(subs / "c_victim.ipynb", [DOUBLE_OK, ADD_ROWS_OK])
    root = make_workdir_root()
    try:
        grade_class(subs, TINY_BUNDLE, out, workers=1, limits=Limits(**TEST_LIMITS),
                    progress=False, workdir_root=root, feedback_pages=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    got = {sid: (s["status"], s["score"]) for sid, s in stored(out).items()}
    assert got["b_victim"] == ("graded", 6.0) and got["c_victim"] == ("graded", 6.0), got
    assert got["a_attacker"] == ("sandbox_died", 6.0), got


def test_exit_71_does_not_weaken_the_next_submissions_sandbox(tmp_path, monkeypatch):
    from autograder.grade import grade_class

    if os.geteuid() != 0:
        pytest.skip("needs a root grader (workers drop to their own uid)")
    subs, out = tmp_path / "subs", tmp_path / "out"
    probe = "import os\nprint('SANDBOX-UID', os.getuid())\n"
    write_notebook(subs / "a_attacker.ipynb", [DOUBLE_OK, "import os\nos._exit(71)", ADD_ROWS_OK])
    write_notebook(subs / "b_victim.ipynb", [probe, DOUBLE_OK, ADD_ROWS_OK])
    tmp_root = Path(tempfile.mkdtemp(prefix="ag-new-attacks-"))
    tmp_root.chmod(0o1777)
    monkeypatch.setenv("TMPDIR", str(tmp_root))
    try:
        grade_class(subs, TINY_BUNDLE, out, workers=1, limits=Limits(**TEST_LIMITS),
                    progress=False, feedback_pages=False)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    victim = stored(out)["b_victim"]
    uids = [int(line.split()[1]) for line in (victim["output"] or "").splitlines()
            if line.startswith("SANDBOX-UID")]
    assert victim["status"] == "graded" and uids, victim["message"][:300]
    assert uids[0] >= 60000, f"the victim's code ran as uid {uids[0]}"


def test_forged_marks_cost_only_the_attacker_and_retries_stay_bounded(tmp_path):
    # the last cell dies claiming cell 1 (or a cell beyond the last): the worker leaves out
    # one of the student's own cells per attempt, at most MAX_CELL_RETRIES times, and the score
    # is never above the one the honest placement gives
    root = make_workdir_root()
    grader = Grader(TINY_BUNDLE, TEST_LIMITS, workdir_root=str(root))
    spawned: list = []
    original = grader._spawn
    grader._spawn = lambda cells: (spawned.append(list(cells)), original(cells))[1]
    try:
        honest = _grade(grader, write_notebook(tmp_path / "honest.ipynb",
                                               [DOUBLE_OK, ADD_ROWS_OK, "import os\nos._exit(3)"]))
        for mark in (1, 99, -3):
            spawned.clear()
            killer = FIND_ARENA + f"arena.mark_cell({mark})\nimport os\nos._exit(3)"
            cells = [DOUBLE_OK, ADD_ROWS_OK, killer]
            result = _grade(grader, write_notebook(tmp_path / f"forged{mark}.ipynb", cells))
            assert len(spawned) <= MAX_CELL_RETRIES + 1
            assert result["score"] <= honest["score"]
            for attempt in spawned:  # only the student's cells are ever left out
                assert len(attempt) == len(cells)
                assert all(a in ("", c) for a, c in zip(attempt, cells))
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)


# =============================================================================================
# 2. Generators in batched calls, per-call no_mutation flags
# =============================================================================================


def test_forged_generator_answers_in_a_batch_move_only_their_own_call_s_generator(server):
    # answer 0: two states for one Generator; answer 1 (a call without Generator): a state;
    # answer 2: the initial state of call 4's Generator; answer 3: a state naming shared
    # memory; answer 4: "raise" carrying a state. Only call 2's Generator moves (to a valid
    # state the child chose: documented), every other Generator keeps its state
    body = '''
        import numpy as np
        calls = msg["calls"]
        send = self.send
        for i, call in enumerate(calls):
            def forge(header, arrays=(), i=i):
                header, arrays = dict(header), list(arrays)
                if header.get("op") == "return":
                    if i == 0:
                        header["rng"] = list(header["rng"]) * 2
                    elif i == 1:
                        header["rng"] = [codec.encode(np.random.PCG64(99).state, arrays)]
                    elif i == 2:
                        header["rng"] = [calls[4]["args"][0]["rng"][1]]
                    elif i == 3:
                        header["rng"] = [{"m": [0, "<u8", [4], "C"]}]
                    elif i == 4:
                        header = {"op": "raise", "error": "ValueError: no", "tb": "",
                                  "rng": [codec.encode(np.random.PCG64(7).state, arrays)]}
                return send(header, arrays)
            self.send = forge
            self.serve_call(call, arrs)
        self.send = send
    '''
    with server.spawn([_patched_calls(body)]) as sub:
        draw, sig = sub.proxy("draw"), sub.proxy("sig")
        gens = [np.random.default_rng(s) for s in (10, 11, 12, 13, 14)]
        before = [g.bit_generator.state for g in gens]
        calls = [(draw, (gens[0],)), (sig, (np.zeros(2),)), (draw, (gens[2],)),
                 (draw, (gens[3],)), (draw, (gens[4],))]
        outs = call_each(calls, no_mutation=False)
        with pytest.raises(ProtocolError, match="generator state"):
            outs[0].get()
        np.testing.assert_array_equal(outs[1].get(), 0.5 * np.ones(2))
        assert outs[2].get().shape == (2,)
        with pytest.raises(ProtocolError):
            outs[3].get()
        with pytest.raises(StudentError, match="ValueError: no"):
            outs[4].get()
        for i in (0, 1, 3, 4):
            assert gens[i].bit_generator.state == before[i], i
        assert gens[2].bit_generator.state == before[4]  # a valid state of the child's choice
        assert sub.alive
    _honest_check(server)


@pytest.mark.parametrize("nested", ["list", "dict", "tuple_in_kwargs"])
def test_one_generator_in_two_calls_through_containers_goes_one_by_one(server, nested):
    local: dict = {}
    exec(FUNCTIONS, local)

    def calls(ns, gen):
        wrap = {"list": lambda g: ([g, g],), "dict": lambda g: ({"a": g, "b": g},),
                "tuple_in_kwargs": lambda g: ((g,),)}[nested]
        return [(ns["draw"], (gen,)), (ns["draw_all"], wrap(gen))]

    expected = [repr(o.get()) for o in call_each(calls(local, np.random.default_rng(5)),
                                                 no_mutation=False)]
    with server.spawn([FUNCTIONS]) as sub:
        sent: list = []
        original = sub._send
        sub._send = lambda header, arrays, deadline: (sent.append(header["op"]),
                                                      original(header, arrays, deadline))[1]
        gen = np.random.default_rng(5)
        got = [repr(o.get()) for o in call_each(calls({n: sub.proxy(n) for n in
                                                       ("draw", "draw_all")}, gen),
                                                no_mutation=False)]
        assert sent == ["call", "call"]  # the second call depends on the first one's draws
        assert got == expected


@pytest.mark.parametrize("container", ["list", "dict"])
def test_a_generator_twice_in_one_call_ends_as_in_process(server, container):
    local: dict = {}
    exec(FUNCTIONS, local)

    def run(ns):
        gen = np.random.default_rng(8)
        arg = [gen, gen] if container == "list" else {"a": gen, "b": gen}
        outs = call_each([(ns["draw_all"], (arg,)), (ns["sig"], (np.zeros(1),))],
                         no_mutation=False)
        return [repr(o.get()) for o in outs], gen.bit_generator.state

    expected = run(local)
    with server.spawn([FUNCTIONS]) as sub:
        got = run({n: sub.proxy(n) for n in ("draw_all", "sig")})
    assert got[0] == expected[0]  # the two draws are sequential on both sides
    assert got[1] == expected[1]


def test_per_call_flags_on_one_generator_match_in_process(server):
    local: dict = {}
    exec(FUNCTIONS, local)

    def run(ns):
        gen = np.random.default_rng(3)
        outs = call_each([(ns["draw"], (gen,)), (ns["draw"], (gen,))],
                         no_mutation=[False, True])
        return [repr(o.get()) for o in outs], gen.bit_generator.state

    expected = run(local)
    with server.spawn([FUNCTIONS]) as sub:
        got = run({"draw": sub.proxy("draw")})
    assert got == expected


def test_two_generators_sharing_a_bit_generator_match_in_process(server):
    local: dict = {}
    exec(FUNCTIONS, local)

    def run(ns):
        gen = np.random.default_rng(4)
        alias = np.random.Generator(gen.bit_generator)
        outs = call_each([(ns["draw"], (gen,)), (ns["draw"], (alias,))], no_mutation=False)
        return [repr(o.get()) for o in outs], gen.bit_generator.state

    expected = run(local)
    with server.spawn([FUNCTIONS]) as sub:
        got = run({"draw": sub.proxy("draw")})
    assert got == expected


def test_checked_calls_with_generators_leave_the_test_s_generators_untouched(server):
    # a child that answers every checked call with a far-advanced (valid) state: the copies
    # adopt it, the test's Generators never move
    body = '''
        import numpy as np
        send = self.send
        def forge(header, arrays=()):
            header, arrays = dict(header), list(arrays)
            if header.get("op") == "return" and header.get("rng"):
                far = np.random.PCG64(1)
                far.advance(10 ** 9)
                header["rng"] = [codec.encode(far.state, arrays)]
            return send(header, arrays)
        self.send = forge
        for call in msg["calls"]:
            self.serve_call(call, arrs)
        self.send = send
    '''
    with server.spawn([_patched_calls(body)]) as sub:
        gens = [np.random.default_rng(s) for s in (1, 2)]
        before = [g.bit_generator.state for g in gens]
        outs = call_each([(sub.proxy("draw"), (gens[0],)), (sub.proxy("draw"), (gens[1],))])
        assert all(o.get().shape == (2,) for o in outs)
        assert [g.bit_generator.state for g in gens] == before


# =============================================================================================
# 3. each batched call has a single call's limits, counted from the answer before it
# =============================================================================================


SLOW = FUNCTIONS + textwrap.dedent('''
    def slow(z, t=0.35):
        import time
        time.sleep(t)
        return z
''')


def test_every_call_just_under_its_limit_keeps_the_request_within_n_calls(short_server):
    with short_server.spawn([SLOW]) as sub:
        slow = sub.proxy("slow")
        started = time.monotonic()
        outs = call_each([(slow, (float(i),)) for i in range(4)])
        elapsed = time.monotonic() - started
        assert [o.get() for o in outs] == [0.0, 1.0, 2.0, 3.0]
        assert elapsed < 4 * SHORT.call_wall_s + 0.5
        # the last call never answers: it ends at its own limit, within n calls in all
        started = time.monotonic()
        outs = call_each([(slow, (float(i),)) for i in range(3)] + [(slow, (0.0, 60.0))])
        elapsed = time.monotonic() - started
        assert [o.get() for o in outs[:3]] == [0.0, 1.0, 2.0]
        with pytest.raises(CallTimeout, match="wall-clock limit of 0.5 s"):
            outs[3].get()
        assert elapsed < 4 * SHORT.call_wall_s + 0.5
        assert not sub.alive


def test_answers_held_back_then_sent_at_once_do_not_buy_more_time(short_server):
    # the child runs every call, holds the answers back and sends them together: the first
    # call's limit is counted from the request, so holding back beyond it times the batch out
    body = '''
        sent = []
        send = self.send
        self.send = lambda h, a=(): sent.append((h, list(a)))
        for call in msg["calls"]:
            self.serve_call(call, arrs)
        self.send = send
        for h, a in sent:
            send(h, a)
    '''
    with short_server.spawn([_patched_calls(body, SLOW)]) as sub:
        slow = sub.proxy("slow")
        started = time.monotonic()
        outs = call_each([(slow, (float(i),)) for i in range(4)])
        assert time.monotonic() - started < SHORT.call_wall_s + 0.5
        for out in outs:
            with pytest.raises(CallTimeout):
                out.get()
        assert not sub.alive


def test_cpu_burnt_by_a_thread_between_answers_stays_within_the_calls_budgets(short_server):
    # threads keep burning CPU while the main thread answers each call just under its wall
    # limit, with the child's own CPU limit switched off: the grader counts the process's CPU
    # per call, so the batch ends within n calls' time and any failure is a time-out
    cell = SLOW + textwrap.dedent('''
        import sys, threading
        sys.modules["autograder.sandbox.child"].Session._arm_cpu = lambda self, calls=1: None
        def burn():
            while True:
                pass
        def start_burning(z):
            for _ in range(3):
                threading.Thread(target=burn, daemon=True).start()
            return z
    ''')
    with short_server.spawn([cell]) as sub:
        cpu_before = sub._cpu_seconds()
        started = time.monotonic()
        outs = call_each([(sub.proxy("start_burning"), (0.0,))] +
                         [(sub.proxy("slow"), (float(i), 0.45)) for i in range(6)])
        elapsed = time.monotonic() - started
        cpu_used = sub._cpu_seconds() - cpu_before if sub.alive else 0.0
        assert elapsed < 7 * SHORT.call_wall_s + 1.0
        assert outs[0].get() == 0.0
        for out in outs[1:]:
            error = _error(out)
            assert error is None or isinstance(error, (CallTimeout, SandboxDied)), error
        # (alive: every call stayed under its CPU budget plus the poll's slack)
        assert cpu_used < 7 * (SHORT.call_cpu_s + 0.5) + 0.5


def _error(outcome):
    try:
        outcome.get()
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        return exc
    return None


def _budget_bundle(tmp_path: Path, body: str) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(textwrap.dedent('''
        from otter.test_files import test_case

        OK_FORMAT = False

        name = "q1"
        points = 1


        @test_case(name="test_many", points=1)
        def test_many(slow):
        ''') + textwrap.indent(textwrap.dedent(body), "    "))
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "budget",
        "questions": [{"name": "q1", "points": 1.0, "file": "tests/q1.py"}],
        "config": {"imports": {"allow": ["time", "numpy"], "forbid": []}},
    }))
    return bundle


BUDGET_LIMITS = dict(run_wall_s=1.0, run_cpu_s=1.0, call_wall_s=0.5, call_cpu_s=0.5,
                     memory_mb=512)
SLOW_STUDENT = "import time\ndef slow(v):\n    time.sleep(0.4)\n    return v\n"


def _grade_slow(tmp_path: Path, body: str) -> tuple[dict, float]:
    bundle = _budget_bundle(tmp_path, body)
    root = make_workdir_root()
    grader = Grader(bundle, BUDGET_LIMITS, workdir_root=str(root))
    try:
        result = _grade(grader, write_notebook(tmp_path / "slow.ipynb", [SLOW_STUDENT]))
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    budget = BUDGET_LIMITS["run_wall_s"] + BUDGET_LIMITS["call_wall_s"] * 1
    return result, budget


def test_calls_one_by_one_stop_at_the_grading_budget(tmp_path):
    result, budget = _grade_slow(tmp_path, '''
        got = [slow(float(i)) for i in range(8)]
        assert got == [float(i) for i in range(8)]
    ''')
    case = result["questions"][0]["cases"][0]
    assert not case["passed"] and "budget" in case["message"]
    assert result["execution_time"] < budget + BUDGET_LIMITS["call_wall_s"] + 0.5


def test_a_batch_of_slow_calls_does_not_outrun_the_grading_budget(tmp_path):
    result, budget = _grade_slow(tmp_path, '''
        from autograder.checks import call_each
        outs = call_each([(slow, (float(i),)) for i in range(8)], no_mutation=False)
        assert [o.get() for o in outs] == [float(i) for i in range(8)]
    ''')
    case = result["questions"][0]["cases"][0]
    assert result["execution_time"] < budget + BUDGET_LIMITS["call_wall_s"] + 0.5, \
        (result["execution_time"], case["passed"])
