"""Parity with otter-grader: the same otter test files and notebooks give the same per-case
outcome and score under ``otter run`` (otter's own grading, a kernel per notebook) and under
this grader's batch path (sandboxed child, globals across the trust boundary).

The fixtures (tests/fixtures/otter_parity) are modeled on otter's documented examples: values,
arrays and ``np`` as case parameters, points on the file and on the cases, a name the notebook
does not define (None), all-or-nothing, a 0-point case, and an OK-format (doctest) question;
the submissions are a reference, a partial one, one missing names, and one whose globals are
objects that cannot cross (a class, a generator, a string array).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder.grade.inputs import sha256_file
from autograder.grade.worker import Grader
from tests.fixtures.grade_helpers import TEST_LIMITS, make_workdir_root

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "otter_parity"
SUBMISSIONS = sorted((FIXTURE / "submissions").glob("*.ipynb"))
OTTER = Path(sys.executable).with_name("otter")

pytestmark = pytest.mark.slow


def _otter_zip(tmp: Path) -> Path:
    from otter.generate import main as otter_generate
    from otter.utils import chdir

    staging = tmp / "otter-src"
    shutil.copytree(FIXTURE / "tests", staging / "tests")
    (staging / "requirements.txt").write_text("numpy\n")
    with chdir(staging):
        otter_generate(tests_dir="tests", output_path=str(tmp / "autograder.zip"),
                       requirements="requirements.txt", no_environment=True)
    return tmp / "autograder.zip"


def _otter_run(zip_path: Path, notebook: Path, out: Path) -> dict:
    out.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_EXPECTED_DIR"}
    proc = subprocess.run(
        [str(OTTER), "run", "-a", str(zip_path), "-o", str(out), "--no-logo", "-p",
         str(notebook)],
        capture_output=True, text=True, timeout=120, env=env, cwd=out,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def _otter_outcomes(zip_path: Path, notebook: Path, out: Path) -> dict:
    """question -> {"score", "max_score", "cases": [passed...]}: scores from otter's
    results.json, per-case verdicts from its pickled GradingResults (``otter run -p``)."""
    import pickle

    results = _otter_run(zip_path, notebook, out)
    with open(out / "results.pkl", "rb") as handle:
        graded = pickle.load(handle)  # written by otter in this test, from our fixtures
    outcomes = {}
    for test in results["tests"]:
        if "max_score" not in test:
            continue
        cases = [r.passed for r in graded.results[test["name"]].test_case_results]
        outcomes[test["name"]] = {"score": test["score"], "max_score": test["max_score"],
                                  "cases": cases}
    return outcomes


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    zip_path = _otter_zip(tmp)
    with ThreadPoolExecutor(max_workers=2) as pool:  # a kernel per notebook: 2 cores
        otter = dict(zip((p.stem for p in SUBMISSIONS), pool.map(
            lambda p: _otter_outcomes(zip_path, p, tmp / "otter" / p.stem), SUBMISSIONS)))
    root = make_workdir_root()
    grader = Grader(FIXTURE, TEST_LIMITS, workdir_root=str(root))
    try:
        ours = {p.stem: grader.grade({"id": p.stem, "file": str(p), "kind": "notebook",
                                      "content_hash": sha256_file(p)}) for p in SUBMISSIONS}
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    for sub in sorted(ours):  # the comparison table (shown with pytest -s)
        for q in ours[sub]["questions"]:
            t = otter[sub][q["name"]]
            print(f"{sub:10} {q['name']}  otter {_marks(t['cases'])} {t['score']:g}/"
                  f"{t['max_score']:g}  autograder {_marks([c['passed'] for c in q['cases']])} "
                  f"{q['score']:g}/{q['max_score']:g}")
    return otter, ours


def _marks(passed: list[bool]) -> str:
    return "".join("P" if p else "F" for p in passed)


@pytest.mark.parametrize("sub", [p.stem for p in SUBMISSIONS])
def test_otter_run_and_autograder_grade_agree(both, sub):
    otter, ours = both
    mine = ours[sub]
    assert mine["status"] == "graded", mine["message"]
    assert set(otter[sub]) == {q["name"] for q in mine["questions"]}
    for question in mine["questions"]:
        theirs = otter[sub][question["name"]]
        assert theirs["cases"] == [c["passed"] for c in question["cases"]], (
            question["name"], [c["message"] for c in question["cases"]])
        assert (question["score"], question["max_score"]) == (theirs["score"], theirs["max_score"])
    assert mine["score"] == sum(t["score"] for t in otter[sub].values())
