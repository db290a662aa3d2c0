"""The student's traceback the child sends: the frames of the cells only, from the first on.

The child starts the extraction at the first frame of a cell (its own frames before it are
source it cannot read in the sandbox); what it prints must be what filtering the whole
traceback prints: the cells' frames, their lines and Python's position carets, in order.
"""

from __future__ import annotations

import linecache
import traceback

import numpy as np

from autograder.sandbox.child import STUDENT_FILES, student_traceback

CELL = """\
import numpy as np

def inner(x):
    return np.linalg.inv(x) @ x

def outer(x):
    y = x + 0
    return inner(y)
"""


def _whole_traceback_filtered(exc: BaseException) -> str:
    """The oracle: every frame extracted, then the cells' kept (the child's former way)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(STUDENT_FILES)]
    name = type(exc).__name__
    return "".join(traceback.format_list(frames[-10:])) + f"{name}: {exc}"


def _raise_through_grader_frames(fn, *args):
    def dispatch():  # stands for the child's serve_call: a frame before the student's
        return fn(*args)
    return dispatch()


def test_the_cells_frames_as_the_whole_traceback_filtered():
    fname = "<code cell 4>"
    linecache.cache[fname] = (len(CELL), None, CELL.splitlines(True), fname)
    ns: dict = {}
    exec(compile(CELL, fname, "exec"), ns)
    try:
        _raise_through_grader_frames(ns["outer"], np.zeros((2, 2)))  # singular: numpy raises
    except np.linalg.LinAlgError as exc:
        got, want = student_traceback(exc), _whole_traceback_filtered(exc)
    assert got == want
    assert got.count('File "<code cell 4>"') == 2  # outer, then inner
    assert "return inner(y)" in got and "np.linalg.inv(x) @ x" in got
    assert "dispatch" not in got and "linalg.py" not in got  # neither side's own frames


def test_an_exception_raised_before_any_cell_frame():
    try:
        _raise_through_grader_frames(int, "not a number")
    except ValueError as exc:
        got = student_traceback(exc)
    assert got == "ValueError: invalid literal for int() with base 10: 'not a number'"
