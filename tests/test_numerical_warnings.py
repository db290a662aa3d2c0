"""Numerical warnings count where the contract asks for warning-free results, on both paths.

A small bundle whose one case asks ``sig(z)`` to be warning-free at |z| = 1000 grades four
notebooks in the batch grader; the same check runs in-process (as ``grader.check`` runs it in
Jupyter) on the same functions. The naive sigmoid overflows in ``exp``: it fails, with the
warning named, whether or not the notebook switched warnings off (globally, or inside the
function); the stable form passes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from autograder.checks import assert_warning_free
from autograder.grade import grade_class
from tests.fixtures.grade_helpers import stored, write_notebook

Q1 = '''from autograder.checks import test_case

OK_FORMAT = False
name = "q1"
points = 1


@test_case(name="sig: no warning at |z| = 1000", points=1, hidden=False)
def test_stable(sig):
    import math

    import numpy as np

    from autograder.checks import assert_close, assert_warning_free

    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    got = assert_warning_free(sig, z, name="sig(z) at |z| = 1000",
                              stable_form="exp(-|z|), then 1/(1+e) or e/(1+e) by the sign of z")
    # the oracle: the logistic function in exact-enough scalar math, each side of 0
    exact = [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in z]
    assert_close(got, np.array(exact), rtol=1e-12, atol=1e-300, name="sig(z)")
'''

NAIVE = "import numpy as np\n\ndef sig(z):\n    return 1.0 / (1.0 + np.exp(-z))\n"
STABLE = (
    "import numpy as np\n\ndef sig(z):\n    e = np.exp(-np.abs(z))\n"
    "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n"
)
GLOBAL_HUSH = ("import numpy as np\nimport warnings\nnp.seterr(all='ignore')\n"
               "warnings.filterwarnings('ignore')\n\n" + NAIVE.split("\n", 2)[2])
LOCAL_HUSH = ("import numpy as np\n\ndef sig(z):\n    with np.errstate(over='ignore'):\n"
              "        return 1.0 / (1.0 + np.exp(-z))\n")
EXPECTED = {"naive": False, "stable": True, "global_hush": False, "local_hush": False}
SOURCES = {"naive": NAIVE, "stable": STABLE, "global_hush": GLOBAL_HUSH, "local_hush": LOCAL_HUSH}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("warnings")
    bundle = root / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(Q1)
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "warn", "total_points": 1.0,
        "questions": [{"name": "q1", "points": 1.0, "file": "tests/q1.py"}]}))
    for sid, source in SOURCES.items():
        write_notebook(root / "subs" / f"{sid}.ipynb", [source])
    grade_class(root / "subs", bundle, root / "out", progress=False, workers=1)
    return stored(root / "out")


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_batch_verdict(graded, sid):
    case = graded[sid]["cases"][0]
    assert bool(case["passed"]) is EXPECTED[sid], case["message"]
    if not EXPECTED[sid]:
        assert "stable form: exp(-|z|)" in case["message"]
        if sid == "local_hush":
            assert "switches numerical warnings off" in case["message"]
        else:
            assert "RuntimeWarning: overflow encountered in exp" in case["message"]


def _local(source: str):
    namespace: dict = {}
    exec(compile(source, "<student>", "exec"), namespace)
    return namespace["sig"]


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_in_process_verdict_and_words_match_the_batch(graded, sid):
    """What grader.check does in the student's kernel: the same verdict and the same words."""
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    before = np.geterr()
    try:
        sig = _local(SOURCES[sid])
        try:
            assert_warning_free(sig, z, name="sig(z) at |z| = 1000",
                                stable_form="exp(-|z|), then 1/(1+e) or e/(1+e) by the sign of z")
            message = None
        except AssertionError as exc:
            message = str(exc)
    finally:
        np.seterr(**before)
        import warnings
        warnings.resetwarnings()
    assert (message is None) is EXPECTED[sid]
    if message is not None:
        assert message in graded[sid]["cases"][0]["message"]
