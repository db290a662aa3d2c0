"""One batch of the tiny assignment with every kind of bad submission, graded on 2 workers.

Each submission gets a status and message (or failed cases with clear messages) while the others
are graded normally; the outputs have the documented shapes; no process is left behind.
"""

from __future__ import annotations

import csv
import shutil
import zipfile

import pytest

from autograder.grade import grade_class
from autograder.sandbox import Limits
from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    TEST_LIMITS,
    TINY_BUNDLE,
    correct_cells,
    make_workdir_root,
    notebook_bytes,
    results_json,
    sandbox_processes,
    stored,
    write_notebook,
)

# id -> (cells or raw bytes, expected status, expected total, words the message must hold)
NOTEBOOKS = {
    "correct": (correct_cells(), "graded", 6, []),
    "partial": ([DOUBLE_OK, ADD_ROWS_WRONG], "graded", 3, []),
    "renamed_stub": (["def dbl(x):\n    return 2 * x", ADD_ROWS_OK], "graded", 3, ["double"]),
    "missing_stub": ([DOUBLE_OK], "graded", 3, ["add_rows"]),
    "syntax_error": (["def double(x)\n    return 2 * x", ADD_ROWS_OK], "graded", 3, ["SyntaxError"]),
    "raises": (["def double(x):\n    raise ValueError('not done yet')", ADD_ROWS_OK], "graded", 3, []),
    "returns_nan": (["import numpy as np\ndef double(x):\n    return x * np.nan", ADD_ROWS_OK], "graded", 3, []),
    "wrong_type": (["def double(x):\n    return [2 * v for v in x]", ADD_ROWS_OK], "graded", 3, []),
    "not_callable": (["double = 2.0", ADD_ROWS_OK], "graded", 3, []),
    "cell_timeout": ([DOUBLE_OK, "while True:\n    pass", ADD_ROWS_OK], "timeout", 6, ["code cell 2"]),
    "cell_memory": ([DOUBLE_OK, "import numpy as np\nbig = np.ones((10**6, 10**6))", ADD_ROWS_OK],
                    "memory", 6, ["memory"]),
    "killed_sandbox": (["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", DOUBLE_OK, ADD_ROWS_OK],
                       "sandbox_died", 6, ["code cell 1"]),
    "sys_exit": (["import sys\nsys.exit(0)", DOUBLE_OK, ADD_ROWS_OK], "graded", 6, ["SystemExit"]),
    "stub_loops": (["def double(x):\n    while True:\n        pass", ADD_ROWS_OK], "graded", 3, ["exceeded"]),
    # The first cell kills the process (left out on the second attempt); double kills it in every
    # test; add_rows is still graded on a restarted sandbox, without the first cell.
    "exits_top_and_in_stub": (["import os\nos._exit(0)", "import os\ndef double(x):\n    os._exit(1)", ADD_ROWS_OK],
                              "sandbox_died", 3, ["code cell 1", "double"]),
    "stub_exits": ([DOUBLE_OK, "import os\ndef add_rows(A):\n    os._exit(1)"], "sandbox_died", 3, ["add_rows"]),
    "hostile_cell": ([
        "import builtins, numpy as np\n"
        "np.allclose = lambda *a, **k: True\n"
        "builtins.abs = lambda *a: 0\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "def double(x):\n    return x",
        ADD_ROWS_OK,
    ], "graded", 3, []),
}
# id -> (file name, bytes, expected status, words)
RAW = {
    "bad_json": ("bad_json.ipynb", b'{"cells": [', "invalid_notebook", ["JSON"]),
    "not_notebook": ("not_notebook.ipynb", b'{"hello": "world"}', "invalid_notebook", ["not a Jupyter notebook"]),
    "empty_file": ("empty_file.ipynb", b"", "empty", ["empty"]),
}
CASE_WORDS = {  # id -> words some failing case message must hold
    "renamed_stub": "`double` is not defined",
    "not_callable": "`double` is a float in the submission, not a function",
    "raises": "ValueError: not done yet",
    "returns_nan": "non-finite",
    "wrong_type": "not an array",
    "partial": "add the rows",
    "stub_loops": "CallTimeout",
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    out = tmp_path_factory.mktemp("out")
    for sid, (cells, *_rest) in NOTEBOOKS.items():
        write_notebook(subs / f"{sid}.ipynb", cells)
    for name, data, *_rest in RAW.values():
        (subs / name).write_bytes(data)
    (subs / "as_script.py").write_text(DOUBLE_OK + "\n# %%\n" + ADD_ROWS_OK)
    write_notebook(subs / "in_folder" / "tiny.ipynb", correct_cells())
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:
        zf.writestr("hw/tiny.ipynb", notebook_bytes(correct_cells()))
    with zipfile.ZipFile(subs / "escaping.zip", "w") as zf:
        zf.writestr("tiny.ipynb", notebook_bytes(correct_cells()))
        zf.writestr("../../escaped.py", b"x = 1")
    (subs / "readme.md").write_text("not a submission")
    root = make_workdir_root()
    try:
        summary = grade_class(subs, TINY_BUNDLE, out, workers=2, limits=Limits(**TEST_LIMITS),
                              progress=False, workdir_root=root)
        leftovers = sandbox_processes(str(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return summary, out, leftovers


EXPECTED = {
    **{sid: (status, total, words) for sid, (_, status, total, words) in NOTEBOOKS.items()},
    **{sid: (status, 0, words) for sid, (_, _, status, words) in RAW.items()},
    "as_script": ("graded", 6, []),
    "in_folder": ("graded", 6, []),
    "zipped": ("graded", 6, []),
    "escaping": ("unsafe_zip", 0, ["escaping"]),
}


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_status_score_and_message(batch, sid):
    summary, out, _ = batch
    status, total, words = EXPECTED[sid]
    sub = stored(out)[sid]
    assert (sub["status"], sub["score"]) == (status, total), sub["message"]
    for word in words:
        assert word in sub["message"], sub["message"]
    assert summary.totals[sid] == total
    if sid in CASE_WORDS:
        assert any(CASE_WORDS[sid] in case["message"] for case in sub["cases"] if not case["passed"])
    if status in ("invalid_notebook", "empty", "unsafe_zip"):
        assert len(sub["cases"]) == 4
        assert all(not c["passed"] and c["message"] == sub["message"] for c in sub["cases"])


def test_batch_summary_and_exactly_once(batch):
    summary, out, _ = batch
    assert summary.graded_now == len(EXPECTED) and summary.unchanged == 0
    assert [s.path.name for s in summary.skipped] == ["readme.md"]
    assert sum(summary.by_status.values()) == len(EXPECTED)
    from tests.fixtures.grade_helpers import rows
    counts = dict(rows(out / "results.sqlite", "SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))
    assert counts == {sid: 1 for sid in EXPECTED}
    assert rows(out / "results.sqlite", "SELECT workers FROM runs") == [(2,)]
    assert {p.name for p in (out / "logs").iterdir()} >= {"worker-0.log", "worker-1.log"}


def test_grades_csv_shape(batch):
    summary, out, _ = batch
    with open(summary.csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["submission", "q1", "q2", "total", "max_total", "status", "message", "similarity"]
    by_id = {row["submission"]: row for row in table}
    assert set(by_id) == set(EXPECTED)
    assert by_id["partial"]["q1"] == "3" and by_id["partial"]["q2"] == "0"
    assert by_id["partial"]["total"] == "3" and by_id["partial"]["max_total"] == "6"
    for sid, row in by_id.items():
        assert float(row["q1"]) + float(row["q2"]) == float(row["total"]) == EXPECTED[sid][1]


def test_results_json_shape(batch):
    summary, out, _ = batch
    for sid, (status, total, _) in EXPECTED.items():
        data = results_json(out, sid)
        assert data["score"] == total
        assert isinstance(data["execution_time"], float)
        assert data["output"].startswith(f"<pre>status: {status}")
        assert data["stdout_visibility"] in ("hidden", "visible", "after_due_date", "after_published")
        assert [t["name"] for t in data["tests"]] == ["q1: q1 - 1", "q1: q1 - 2", "q2: q2 - 1", "q2: q2 - 2"]
        assert [t["visibility"] for t in data["tests"]] == ["visible", "after_published"] * 2
        assert [t["max_score"] for t in data["tests"]] == [1.0, 2.0, 1.0, 2.0]
        assert sum(t["score"] for t in data["tests"]) == total


def test_no_process_left(batch):
    _, _, leftovers = batch
    assert leftovers == []
