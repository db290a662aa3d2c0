"""Hostile submissions that exhaust resources: memory, CPU, wall time, output, disk.

One batch (through the CLI, under a subreaper) together with a correct and a partly correct
submission. Every hostile submission has a wrong or failing ``double`` and a correct
``add_rows`` in its last cell: its total must be exactly 3 (q2), never more, and the batch must
finish with every other submission graded normally and no process left.
"""

from __future__ import annotations

import pytest

from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    correct_cells,
    grade_cli_under_reaper,
    stored,
    write_notebook,
)

WRONG_DOUBLE = "def double(x):\n    return x\n"

HOSTILE = {
    # id -> (cells before the correct add_rows cell, acceptable statuses)
    "memory_python_top": (["x = [0] * (10**10)", WRONG_DOUBLE], {"memory"}),
    "memory_python_grow": (["chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))", WRONG_DOUBLE],
                           {"memory", "timeout"}),
    "memory_numpy_top": (["import numpy as np\nA = np.ones((10**6, 10**6))", WRONG_DOUBLE], {"memory"}),
    "memory_numpy_touch": (["import numpy as np\nA = np.zeros(2 * 10**9, dtype=np.uint8)\nA[::4096] = 1",
                            WRONG_DOUBLE], {"memory"}),
    "memory_in_stub": (["import numpy as np\ndef double(x):\n    return np.ones((10**6, 10**6))"], {"graded", "memory"}),
    "loop_top": ([WRONG_DOUBLE, "while True:\n    pass"], {"timeout"}),
    "sleep_top": ([WRONG_DOUBLE, "import time\ntime.sleep(3600)"], {"timeout"}),
    "loop_in_stub": (["def double(x):\n    while True:\n        pass"], {"graded"}),
    "sleep_in_stub": (["import time\ndef double(x):\n    time.sleep(3600)"], {"graded"}),
    "flood_top": ([WRONG_DOUBLE, "while True:\n    print('x' * 100000)"], {"sandbox_died"}),
    "flood_in_stub": (["import sys\ndef double(x):\n    while True:\n        sys.stdout.write('y' * 100000)"],
                      {"sandbox_died"}),
    "fill_disk": ([
        "import os\nblock = b'0' * 2**20\n"
        "for name in ('big.bin', '/tmp/big.bin', os.path.expanduser('~/big2.bin')):\n"
        "    try:\n"
        "        with open(name, 'wb') as f:\n"
        "            for _ in range(4096):\n"
        "                f.write(block)\n"
        "    except OSError as e:\n"
        "        print('refused', name, e.errno)\n",
        WRONG_DOUBLE,
    ], {"graded"}),
    "thread_bomb": ([
        "import threading, time\n"
        "for _ in range(10000):\n"
        "    try:\n"
        "        threading.Thread(target=time.sleep, args=(120,), daemon=True).start()\n"
        "    except RuntimeError as e:\n"
        "        print('thread refused', e)\n"
        "        break\n",
        WRONG_DOUBLE,
    ], {"graded", "sandbox_died", "memory", "timeout"}),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_resources")
    subs, out = tmp / "subs", tmp / "out"
    for sid, (cells, _) in HOSTILE.items():
        write_notebook(subs / f"{sid}.ipynb", [*cells, ADD_ROWS_OK])
    write_notebook(subs / "correct.ipynb", correct_cells())
    write_notebook(subs / "partial.ipynb", [DOUBLE_OK, ADD_ROWS_WRONG])
    report = grade_cli_under_reaper(subs, out, tmp / "report.json")
    return {"report": report, "out": out, "stored": stored(out)}


@pytest.mark.parametrize("sid", sorted(HOSTILE))
def test_score_not_inflated_and_status(batch, sid):
    sub = batch["stored"][sid]
    detail = (sub["status"], sub["message"], [c["message"][:200] for c in sub["cases"]])
    assert sum(c["score"] for c in sub["cases"] if c["question"] == "q1") == 0, detail
    assert sub["score"] == 3, detail
    assert sub["status"] in HOSTILE[sid][1], detail
    assert len(sub["output"]) <= 20_000


def test_other_submissions_keep_their_scores(batch):
    assert (batch["stored"]["correct"]["status"], batch["stored"]["correct"]["score"]) == ("graded", 6)
    assert batch["stored"]["partial"]["score"] == 3


def test_batch_finished_and_nothing_survived(batch):
    assert batch["report"]["returncode"] == 0
    assert batch["report"]["leftovers"] == []
    assert set(batch["stored"]) == set(HOSTILE) | {"correct", "partial"}


def test_disk_writes_were_capped(batch):
    output = batch["stored"]["fill_disk"]["output"]
    assert "refused big.bin 27" in output  # EFBIG: the file-size limit stopped it
