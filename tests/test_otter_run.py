"""otter-grader's own grading path: ``otter run`` with the generated autograder zip (no Docker).

The filled notebook (every stub replaced by the reference) earns every point, hidden cases
included; the blank template earns none.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.release import ASSIGNMENTS
from autograder.release.notebook import filled_notebook
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions

pytestmark = pytest.mark.slow

OTTER = Path(sys.executable).with_name("otter")


def _otter_run(zip_path: Path, notebook: Path, out: Path) -> dict:
    out.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k != "AUTOGRADER_EXPECTED_DIR"}
    proc = subprocess.run(
        [str(OTTER), "run", "-a", str(zip_path), "-o", str(out), "--no-logo", str(notebook)],
        capture_output=True, text=True, timeout=300, env=env, cwd=out,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def _scores(results: dict) -> dict[str, tuple[float, float]]:
    return {
        test["name"]: (test["score"], test["max_score"])
        for test in results["tests"]
        if "max_score" in test
    }


@pytest.mark.parametrize("variant", ["filled", "blank"])
@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_otter_run_grades_with_the_generated_zip(hw, variant, fresh_build, tmp_path):
    result = fresh_build(hw)
    notebook = tmp_path / "submission" / f"{hw}.ipynb"
    notebook.parent.mkdir()
    shutil.copyfile(result.template_path / f"{hw}.ipynb", notebook)
    if variant == "filled":
        solutions = load_solutions(assignment_source(hw, repo_root=PROJECT_ROOT))
        nb = filled_notebook(nbformat.read(str(notebook), as_version=4), solutions)
        nbformat.write(nb, str(notebook))
    scores = _scores(_otter_run(result.zip_path, notebook, tmp_path / "out"))
    assert set(scores) == {q.name for q in result.questions}
    for question in result.questions:
        score, possible = scores[question.name]
        assert possible == pytest.approx(question.points)
        if variant == "filled":
            assert score == pytest.approx(possible), f"{hw} {question.name}: {score}/{possible}"
        else:
            assert score == 0, f"{hw} {question.name}: blank stubs earned {score}"
