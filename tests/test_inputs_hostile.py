"""Hostile submission bytes: deep nesting, huge files, odd file types (no sandbox needed).

Each must end in a clear status, in bounded time and memory, never in a crash of the worker.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.grade.inputs import (
    MAX_FILE_BYTES,
    MAX_JSON_DEPTH,
    SubmissionInputError,
    json_depth,
    load_cells,
    notebook_cells,
)
from tests.fixtures.grade_helpers import DOUBLE_OK, notebook_bytes


def _notebook_with(metadata="{}", source='"x = 1"') -> bytes:
    # Written out by hand: json.dumps itself cannot write the nesting these tests need.
    cell = '{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ' + source + "}"
    return ('{"cells": [' + cell + '], "metadata": ' + metadata + ', "nbformat": 4, "nbformat_minor": 5}').encode()


def _nested_dict(depth):
    return '{"a": ' * depth + "1" + "}" * depth


def _nested_list(depth):
    return "[" * depth + '"x = 1"' + "]" * depth


def _refused(data):
    with pytest.raises(SubmissionInputError) as info:
        notebook_cells(data, "a.ipynb")
    return info.value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deep_metadata_and_deep_source_are_invalid_notebooks(depth):
    for data in (_notebook_with(metadata=_nested_dict(depth)), _notebook_with(source=_nested_list(depth))):
        started = time.monotonic()
        error = _refused(data)
        assert time.monotonic() - started < 2
        assert error.status == "invalid_notebook"
        assert "nested too deeply" in error.message


def test_nesting_up_to_the_limit_is_graded_even_from_a_deep_stack():
    # Real notebooks nest plot specs and widget state a few dozen levels; the limit must leave
    # nbformat (several frames per level) clear of the recursion limit in a busy worker too.
    data = _notebook_with(metadata=_nested_dict(MAX_JSON_DEPTH - 2))

    def deep(n):
        return deep(n - 1) if n else notebook_cells(data, "a.ipynb")

    cells, note = deep(sys.getrecursionlimit() // 2)
    assert cells == ["x = 1"]
    assert note == ""  # nbformat's validation did not hit the recursion limit either


_MEASURE = """
import resource, sys, time
from autograder.grade.inputs import MAX_FILE_BYTES, SubmissionInputError, notebook_cells
data = b'{"cells": ' + b"[" * (MAX_FILE_BYTES - 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    notebook_cells(data, "a.ipynb")
except SubmissionInputError as error:
    print(error.message[:80])
print(time.monotonic() - started, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_deep_json_at_the_size_cap_costs_bounded_time_and_memory():
    import subprocess

    # A fresh process: ru_maxrss is a peak, earlier tests would hide the growth.
    out = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    message, numbers = out.splitlines()
    seconds, grown_mib = map(float, numbers.split())
    assert "nested too deeply" in message
    assert seconds < 5
    # The bytes, their text and a copy without escapes, plus 1 MiB chunks: no object per byte.
    assert grown_mib < 5 * MAX_FILE_BYTES / 2**20, grown_mib


@pytest.mark.parametrize("data", [
    b'"' + b'\\"' * 5_000_000,  # one unterminated string of escaped quotes
    b'"' * 10_000_000,  # many empty strings
    b'["[{", ' * 1_000_000 + b'"x"]',  # brackets inside strings
])
def test_depth_scan_is_linear_on_pathological_strings(data):
    started = time.monotonic()
    json_depth(data)
    assert time.monotonic() - started < 3


# Any JSON value: strings full of brackets, quotes and backslashes, in nested lists and dicts.
_TRICKY = st.text(alphabet='[]{}"\\\\ax\n\u00e9', max_size=8)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY, inner, max_size=4),
    max_leaves=40,
)


def _true_depth(value):
    if isinstance(value, list):
        return 1 + max(map(_true_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_true_depth, value.values()), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(_JSON, st.booleans())
def test_depth_scan_matches_the_parsed_depth(value, ascii_only):
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth(data) == _true_depth(value)


def test_fifo_swapped_in_does_not_hang_the_reader(tmp_path):
    fifo = tmp_path / "a.ipynb"
    os.mkfifo(fifo)
    task = {"id": "a", "kind": "notebook", "file": str(fifo), "path": str(fifo), "content_hash": "h"}
    started = time.monotonic()
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert time.monotonic() - started < 2
    assert info.value.status == "invalid_notebook" and "not a regular file" in info.value.message


def test_symlink_swapped_in_is_not_followed(tmp_path):
    (tmp_path / "secret.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
    link = tmp_path / "a.ipynb"
    link.symlink_to(tmp_path / "secret.ipynb")
    task = {"id": "a", "kind": "notebook", "file": str(link), "path": str(link), "content_hash": "h"}
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "error"


def test_huge_notebook_is_refused_before_reading(tmp_path):
    path = tmp_path / "a.ipynb"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing to read, only the size
    task = {"id": "a", "kind": "notebook", "file": str(path), "path": str(path), "content_hash": "h"}
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "invalid_notebook" and "limit" in info.value.message
