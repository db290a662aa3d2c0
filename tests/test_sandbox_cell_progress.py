"""Cells without a message each: the cell being run is marked in the arena, and attacked.

A cell that runs without error is reported with ``ready``; a failing cell is reported at once
(with the reports before it); the child marks the number of the cell it starts in the arena's
last bytes, where the grader reads it when the process dies. The grader must still place a death
in its cell, keep the error of an earlier failing cell, and not be led anywhere outside the
submission's own cells by a forged mark.
"""

from __future__ import annotations

import pytest

from autograder.sandbox import ForkServer, Limits
from autograder.sandbox import submission as submission_module

LIMITS = Limits(run_wall_s=20, call_wall_s=2, call_cpu_s=1)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


@pytest.fixture
def received(monkeypatch):
    """The ops of the messages the grader reads from the children."""
    ops: list = []
    original = submission_module.Submission._recv

    def counting(self, *args, **kwargs):
        msg, arrs = original(self, *args, **kwargs)
        ops.append(msg.get("op"))
        return msg, arrs

    monkeypatch.setattr(submission_module.Submission, "_recv", counting)
    return ops


def _outcomes(sub) -> list:
    return [(c.index, c.ok, (c.error or "").split(":")[0]) for c in sub.cells]


def test_cells_that_run_cost_no_message_each(server, received):
    with server.spawn(["a = 1", "b = 2", "def f(x):\n    return x + a + b", "c = 3"]) as sub:
        assert sub.alive and sub.status == "ok"
        assert _outcomes(sub) == [(0, True, ""), (1, True, ""), (2, True, ""), (3, True, "")]
        assert received == ["started", "ready"]
        assert sub.proxy("f")(1) == 4


def test_a_death_is_placed_in_the_cell_that_died(server, received):
    cells = ["a = 1", "b = 2", "import os\nos._exit(3)", "def f(x):\n    return x"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        assert _outcomes(sub) == [(0, True, ""), (1, True, "")]  # died in the third cell
        assert "cell" not in received
    finally:
        sub.close()


def test_an_earlier_failing_cell_keeps_its_error_when_a_later_one_dies(server, received):
    cells = ["a = 1", "raise ValueError('cell two')", "b = 2", "import os\nos._exit(3)"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        assert _outcomes(sub) == [(0, True, ""), (1, False, "ValueError"), (2, True, "")]
        assert "cell two" in sub.cells[1].error
        assert received.count("cell") == 2  # the failing cell and the report before it
    finally:
        sub.close()


def test_a_time_out_in_a_cell_is_placed_there(server):
    sub = server.spawn(["a = 1", "while True:\n    pass", "b = 2"], limits=Limits(run_wall_s=1))
    try:
        assert not sub.alive
        assert _outcomes(sub) == [(0, True, "")]
    finally:
        sub.close()


FIND_ARENA = (
    "import gc\n"
    "arena = next(o for o in gc.get_objects() if type(o).__name__ == 'ChildArena')\n"
)


@pytest.mark.parametrize("mark, expected_done", [
    (99, 0),        # beyond the last cell: ignored (nothing reported before it either)
    (-5, 0),        # before any cell: ignored
    (1, 0),         # an earlier cell: only moves the blame among the student's own cells
    (2 ** 62, 0),   # absurd: ignored
])
def test_a_forged_mark_stays_among_the_submissions_own_cells(server, mark, expected_done):
    cells = ["a = 1", FIND_ARENA + f"arena.mark_cell({mark})\nimport os\nos._exit(3)", "b = 2"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        assert len(sub.cells) == expected_done <= len(cells)
        assert all(c.ok for c in sub.cells)
    finally:
        sub.close()
    # the next submission on the same fork server starts from its own, clean arena
    with server.spawn(["x = 1", "y = 2"]) as nxt:
        assert nxt.alive and _outcomes(nxt) == [(0, True, ""), (1, True, "")]


def test_a_forged_mark_cannot_make_the_grader_place_more_cells_than_ran(server):
    # the mark says the last cell was running although the process died in the first
    cells = [FIND_ARENA + "arena.mark_cell(3)\nimport os\nos._exit(3)", "b = 2", "c = 3"]
    sub = server.spawn(cells)
    try:
        assert not sub.alive
        # counted as if cells 1-2 ran: the blame moves to the student's cell 3 (their own loss:
        # cell 1 is graded again and dies again), never outside the notebook
        assert len(sub.cells) == 2 and all(c.ok for c in sub.cells)
    finally:
        sub.close()
