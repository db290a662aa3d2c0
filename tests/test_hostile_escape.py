"""Hostile submissions that attack the grader, the files, the network and the process tree.

All run in one batch (through the CLI, under a subreaper that sees every process left behind)
together with a correct and a partly correct submission. Every hostile submission defines a wrong
``double`` (q1 is worth 0 for it) and a correct ``add_rows`` (q2 earns its 3 points when the
sandbox lets it be tested): its total must be exactly 3, never more.
"""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest

from tests.fixtures.grade_helpers import (
    ADD_ROWS_OK,
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    TINY_BUNDLE,
    correct_cells,
    grade_cli_under_reaper,
    make_workdir_root,
    results_json,
    stored,
    world_readable_copy,
    write_notebook,
)

WRONG_DOUBLE = "def double(x):\n    return x\n"
FULL_MARKS = json.dumps({"score": 6.0, "tests": [{"name": "q1", "score": 3, "max_score": 3},
                                                 {"name": "q2", "score": 3, "max_score": 3}]})


def hostile_cells(root, port):
    bundle, out, open_dir = root / "tiny_assignment", root / "out", root / "open"
    return {
        "patched_checks": [
            "import builtins, numpy as np, numpy.testing\n"
            "np.allclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None\n"
            "np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)\n"
            "builtins.AssertionError = type('Nothing', (Exception,), {})\n",
            "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda *a: 0\n",
            WRONG_DOUBLE,
        ],
        "magic_array": [
            "import numpy as np\n"
            "class Magic(np.ndarray):\n"
            "    def __eq__(self, other): return True\n"
            "    def __ne__(self, other): return False\n"
            "    def __array_ufunc__(self, *a, **k): return np.True_\n"
            "    def __array_function__(self, *a, **k): return np.True_\n"
            "    def __bool__(self): return True\n"
            "    @property\n"
            "    def shape(self): return (5,)\n"
            "def double(x):\n"
            "    return np.zeros_like(x).view(Magic)\n",
        ],
        "forged_results": [
            "import json, os\n"
            f"print({FULL_MARKS!r})\n"
            "print('q1 results: All test cases passed!')\n"
            f"targets = [{str(out / 'results' / 'forged_results.json')!r}, {str(out / 'grades.csv')!r},\n"
            f"           {str(out / 'forged.txt')!r}, {str(open_dir / 'forged.txt')!r},\n"
            f"           {str(bundle / 'tests' / 'q1.py')!r}, 'results/forged_results.json', 'grades.csv',\n"
            "           '/tmp/forged_by_student.txt', '../forged.txt']\n"
            "for path in targets:\n"
            "    try:\n"
            "        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)\n"
            "        with open(path, 'w') as f:\n"
            f"            f.write({FULL_MARKS!r})\n"
            "        print('WROTE', path)\n"
            "    except Exception as e:\n"
            "        print('refused', path, type(e).__name__)\n",
            WRONG_DOUBLE,
        ],
        "reads_bundle": [
            "import os\n"
            "leaked = []\n"
            f"for path in [{str(bundle / 'tests' / 'q1.py')!r}, {str(bundle / 'manifest.json')!r},\n"
            f"             {str(bundle / 'expected' / 'q1.npz')!r}, '/etc/shadow']:\n"
            "    try:\n"
            "        leaked.append(open(path, 'rb').read())\n"
            "    except Exception as e:\n"
            "        print('refused', path, type(e).__name__)\n"
            "try:\n"
            f"    leaked.append(os.listdir({str(bundle / 'tests')!r}))\n"
            "except Exception as e:\n"
            "    print('refused listdir', type(e).__name__)\n",
            # Any successful read (or listing) would earn q1's points.
            "def double(x):\n"
            "    return 2 * x if leaked else x\n",
        ],
        "exits_top": ["import sys\nsys.exit(0)", "import os\nos._exit(0)", WRONG_DOUBLE],
        "exits_in_stub": ["import os\ndef double(x):\n    os._exit(0)\n"],
        "sys_exit_in_stub": ["import sys\ndef double(x):\n    sys.exit(0)\n"],
        "kills_parent": [
            "import os, signal\nfor pid in (os.getppid(), 1):\n"
            "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(e)\n",
            "import os, signal\ntry:\n    os.killpg(0, signal.SIGKILL)\nexcept OSError as e:\n    print(e)\n",
            "import os, signal\n"
            "def double(x):\n"
            "    try:\n        os.kill(os.getppid(), signal.SIGKILL)\n    except OSError:\n        pass\n"
            "    return x\n",
        ],
        "fork_swarm": [
            "import os, time\n"
            "for _ in range(300):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(120)\n"
            "            os._exit(0)\n"
            "    except OSError as e:\n"
            "        print('fork refused', e)\n"
            "        break\n",
            WRONG_DOUBLE,
        ],
        "setsid_daemon": [
            "import os, time\n"
            "try:\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            for _ in range(600):\n"
            "                time.sleep(0.2)\n"
            "        os._exit(0)\n"
            "except OSError as e:\n"
            "    print('fork refused', e)\n",
            "import os, subprocess\n"
            "try:\n"
            "    subprocess.Popen(['sleep', '120'], start_new_session=True)\n"
            "except Exception as e:\n"
            "    print('exec refused', type(e).__name__)\n",
            WRONG_DOUBLE,
        ],
        "network": [
            "import socket\n"
            "for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM)):\n"
            "    try:\n"
            "        s = socket.socket(family, kind)\n"
            "        s.settimeout(1)\n"
            f"        s.connect(('127.0.0.1', {port}))\n"
            "        s.send(b'stolen')\n"
            "        print('CONNECTED')\n"
            "    except Exception as e:\n"
            "        print('refused', type(e).__name__, e)\n",
            "import socket\n"
            "def double(x):\n"
            "    try:\n"
            f"        socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    except Exception:\n"
            "        pass\n"
            "    return x\n",
        ],
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_escape")
    root = make_workdir_root()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", listener.getsockname()[1]))
    udp.setblocking(False)
    try:
        bundle = world_readable_copy(TINY_BUNDLE, root)
        (bundle / "expected").mkdir(mode=0o755)
        np.savez(bundle / "expected" / "q1.npz", secret=np.arange(3.0))
        (bundle / "expected" / "q1.npz").chmod(0o644)
        (root / "open").mkdir()
        (root / "open").chmod(0o777)  # writable by anyone: only the sandbox can stop a write
        out = root / "out"
        out.mkdir()
        out.chmod(0o777)
        q1_before = (bundle / "tests" / "q1.py").read_bytes()
        subs = tmp / "subs"
        cells = hostile_cells(root, listener.getsockname()[1])
        for sid, hostile in cells.items():
            write_notebook(subs / f"{sid}.ipynb", [*hostile, ADD_ROWS_OK])
        write_notebook(subs / "correct.ipynb", correct_cells())
        write_notebook(subs / "partial.ipynb", [DOUBLE_OK, ADD_ROWS_WRONG])
        report = grade_cli_under_reaper(subs, out, tmp / "report.json", bundle=bundle)
        connections = []
        try:
            connections.append(listener.accept())
        except BlockingIOError:
            pass
        try:
            connections.append(udp.recvfrom(100))
        except BlockingIOError:
            pass
        yield {
            "report": report, "out": out, "stored": stored(out), "ids": sorted(cells),
            "connections": connections, "root": root, "bundle": bundle,
            "q1_unchanged": (bundle / "tests" / "q1.py").read_bytes() == q1_before,
            "open_dir": sorted(p.name for p in (root / "open").iterdir()),
            "out_files": sorted(p.name for p in out.iterdir()),
            "tmp_forged": __import__("os").path.exists("/tmp/forged_by_student.txt"),
        }
    finally:
        listener.close()
        udp.close()
        shutil.rmtree(root, ignore_errors=True)


HOSTILE = sorted(hostile_cells(__import__("pathlib").Path("/x"), 1))


@pytest.mark.parametrize("sid", HOSTILE)
def test_score_not_inflated(batch, sid):
    sub = batch["stored"][sid]
    q1 = sum(c["score"] for c in sub["cases"] if c["question"] == "q1")
    assert q1 == 0, sub["message"]
    assert sub["score"] == 3, (sub["status"], sub["message"], [c["message"] for c in sub["cases"]])
    assert results_json(batch["out"], sid)["score"] == 3


def test_other_submissions_keep_their_scores(batch):
    assert batch["stored"]["correct"]["score"] == 6
    assert batch["stored"]["correct"]["status"] == "graded"
    assert batch["stored"]["partial"]["score"] == 3


def test_batch_finished_and_nothing_survived(batch):
    report = batch["report"]
    assert report["returncode"] == 0
    assert report["leftovers"] == []
    assert set(batch["stored"]) == set(batch["ids"]) | {"correct", "partial"}


def test_no_forged_file_and_no_tampering(batch):
    assert batch["q1_unchanged"]  # the hidden tests were not rewritten
    assert batch["open_dir"] == []  # not even a world-writable folder
    assert "forged.txt" not in batch["out_files"]
    assert not batch["tmp_forged"]
    forged = batch["stored"]["forged_results"]
    # Writing inside its own scratch folder is allowed and harmless; nothing else was written.
    written = [line.split(" ", 1)[1] for line in forged["output"].splitlines() if line.startswith("WROTE ")]
    assert sorted(written) == ["grades.csv", "results/forged_results.json"]
    assert '"score": 6.0' in forged["output"]  # it printed a forged score, to no effect
    assert results_json(batch["out"], "forged_results")["score"] == 3


def test_nothing_connected(batch):
    assert batch["connections"] == []
    assert "CONNECTED" not in batch["stored"]["network"]["output"]
