"""The issue's attacks in a real batch: attackers sorted before honest students, every worker
protection in force. Honest students keep full marks, attackers gain nothing, nothing is
written outside the output folder, and the batch ends in bounded time."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from autograder.grade import grade_class
from autograder.sandbox import Limits
from tests.fixtures.grade_helpers import stored, write_notebook

Q1 = '''from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 2


@test_case(points=2, hidden=False)
def test_shuffle(shuffle_batches):
    import numpy as np

    gen = np.random.default_rng(3)
    batches = shuffle_batches(10, 4, gen)
    ref = np.random.default_rng(3)
    assert np.array_equal(np.concatenate(batches), ref.permutation(10)), "wrong batches"
    assert gen.bit_generator.state == ref.bit_generator.state, "not one permutation"
'''

Q2 = '''from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 2


@test_case(points=2, hidden=False)
def test_descend(descend):
    import numpy as np
    from autograder.checks import assert_no_mutation

    target = np.array([1.0, -2.0, 3.0])
    got = assert_no_mutation(descend, lambda t: 2 * (t - target), np.zeros(3), 5)
    expected = np.zeros(3)
    for _ in range(5):
        expected = expected - 0.1 * 2 * (expected - target)
    assert np.allclose(got, expected, rtol=1e-12, atol=0), "wrong descent"
'''

HONEST = '''import numpy as np

def shuffle_batches(n, batch_size, rng):
    p = rng.permutation(n)
    return [p[i:i + batch_size] for i in range(0, n, batch_size)]

def descend(grad_fn, theta, steps):
    for _ in range(steps):
        theta = theta - 0.1 * grad_fn(theta)
    return theta
'''

DESCEND_IN_PLACE = '''
def descend(grad_fn, theta, steps):
    for _ in range(steps):
        theta -= 0.1 * grad_fn(theta)
    import sys
    child = sys.modules.get("autograder.sandbox.child")
    if child is not None:   # try to erase what would tell on us
        child.Session._param_names = lambda self, fn, a, k: []
    return theta
'''


def attacks(targets: list[str]) -> dict[str, str]:
    write = "\n".join(
        f'    rng.spawn(1)[0].choice(["import os"], 1).astype("S").tofile({t!r})' for t in targets)
    return {
        "a1_file_write": HONEST.replace(
            "    p = rng.permutation(n)\n",
            f"    try:\n{write.replace('    rng', '        rng')}\n    except Exception:\n"
            "        pass\n    p = rng.permutation(n)\n"),
        "a2_segfault": HONEST.replace(
            "    p = rng.permutation(n)\n", "    rng.bit_generator.ctypes.next_double(0)\n"
            "    p = rng.permutation(n)\n"),
        "a3_segfault_again": HONEST.replace(
            "    p = rng.permutation(n)\n", "    rng.bit_generator.ctypes.next_uint64(0)\n"
            "    p = rng.permutation(n)\n"),
        "a4_stall": HONEST.replace(
            "    p = rng.permutation(n)\n", "    rng.spawn(1)[0].choice([10**4000 + 1], 5000).prod()\n"
            "    p = rng.permutation(n)\n"),
        "a5_memory": HONEST.replace(
            "    p = rng.permutation(n)\n", "    keep = rng.bytes(4 << 30)\n"
            "    p = rng.permutation(n)\n"),
        "a6_amplify": HONEST.replace(
            "    for _ in range(steps):\n        theta = theta - 0.1 * grad_fn(theta)\n",
            "    import numpy as np\n    grad_fn(np.zeros((2_000_000, 3, 1)))\n"
            "    for _ in range(steps):\n        theta = theta - 0.1 * grad_fn(theta)\n"),
        "a7_forged_mutation": HONEST + DESCEND_IN_PLACE,
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("boundary")
    bundle = root / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(Q1)
    (bundle / "tests" / "q2.py").write_text(Q2)
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "boundary", "total_points": 4.0,
        # the attacks must run for the boundary to be tested: the policy would refuse them first
        "config": {"imports": {"allow": ["os", "sys", "ctypes", "gc", "inspect", "builtins"]}},
        "questions": [{"name": "q1", "points": 2.0, "file": "tests/q1.py"},
                      {"name": "q2", "points": 2.0, "file": "tests/q2.py"}]}))
    out = root / "out"
    site = next(p for p in sys.path if p.endswith("site-packages"))
    targets = [os.path.join(site, "zz-autograder-pwned.pth"), str(bundle / "tests" / "q1.py"),
               str(out / "results.sqlite"), str(root / "pwned")]
    subs = root / "subs"
    for sid, code in attacks(targets).items():
        write_notebook(subs / f"{sid}.ipynb", [code])
    for i in range(3):
        write_notebook(subs / f"z{i}_honest.ipynb", [HONEST])
    before = {t: Path(t).read_bytes() if Path(t).exists() else None for t in targets}
    started = time.monotonic()
    summary = grade_class(subs, bundle, out, workers=2, progress=False,
                          limits=Limits(run_wall_s=10, call_wall_s=5, call_cpu_s=3))
    return summary, out, targets, before, time.monotonic() - started


def test_honest_students_keep_full_marks(batch):
    _, out, *_ = batch
    got = stored(out)
    for i in range(3):
        assert got[f"z{i}_honest"]["score"] == 4.0, got[f"z{i}_honest"]["message"]
        assert got[f"z{i}_honest"]["status"] == "graded"


def test_attackers_gain_nothing(batch):
    _, out, *_ = batch
    got = stored(out)
    for sid in attacks([]):
        sub = got[sid]
        cases = {c["question"]: c for c in sub["cases"]}  # one case per question here
        if sid == "a1_file_write":
            # the writes failed inside the child; the honest rest of the code is graded
            assert sub["score"] == 4.0
        elif sid == "a6_amplify":
            assert not cases["q2"]["passed"], cases
            assert "refused" in cases["q2"]["message"]
        elif sid == "a7_forged_mutation":
            assert not cases["q2"]["passed"]
            assert "modified its input" in cases["q2"]["message"]
        else:
            assert not cases["q1"]["passed"], (sid, cases)
        assert sub["score"] <= 4.0
        if sid != "a1_file_write":
            assert sub["score"] == 2.0, (sid, sub["message"])  # the other question only


def test_nothing_is_written_outside_the_output_folder(batch):
    _, _, targets, before, _ = batch
    for t in targets:
        now = Path(t).read_bytes() if Path(t).exists() else None
        if t.endswith("results.sqlite"):
            assert now is not None and not now.startswith(b"import os")
        else:
            assert now == before[t], t


def test_the_batch_ends_in_bounded_time(batch):
    summary, *_, elapsed = batch
    assert summary.graded_now == 10
    assert elapsed < 120  # a hang guard, not a speed target
