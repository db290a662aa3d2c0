"""One answer to "where is the bundle": build, grade and demo agree from any working directory."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.release.bundles import default_bundle_dir
from autograder.release.sources import PROJECT_ROOT
from tests.conftest import DEMO_HW, DEMO_ROOT, DEMO_SOLUTIONS

AUTOGRADER = [sys.executable, "-m", "autograder"]

CORRECT_SUBMISSION = '''
import numpy as np

def scale(x, a):
    return np.asarray(x, dtype=np.float64) * float(a)

def step(theta, grad, lr):
    return np.asarray(theta, dtype=np.float64) - lr * np.asarray(grad)
'''


def _run(args, cwd):
    return subprocess.run(
        [*AUTOGRADER, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_default_bundle_dir_is_the_repositorys_whatever_the_cwd(tmp_path):
    assert default_bundle_dir() == PROJECT_ROOT / "build"
    out = subprocess.run(
        [sys.executable, "-c",
         "from autograder.release.bundles import default_bundle_dir; print(default_bundle_dir())"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(out) == PROJECT_ROOT / "build"


def test_unknown_assignment_from_outside_the_repository_lists_the_known_ones(tmp_path):
    (tmp_path / "subs").mkdir()
    result = _run(["grade", "subs", "-a", "hw_nope", "--out", "out"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "unknown assignment 'hw_nope'" in result.stderr
    assert "hw1_linear_regression, hw2_layer_gradient, hw3_backprop, hw4_optimizers" in result.stderr
    assert str(PROJECT_ROOT / "assignments") in result.stderr
    assert not (tmp_path / "out").exists()


def test_build_then_grade_from_a_class_folder_outside_the_repository(tmp_path):
    # a course checkout of its own (the fixture assignment), and a class folder elsewhere
    repo = tmp_path / "course"
    shutil.copytree(DEMO_ROOT / "assignments", repo / "assignments")
    (repo / "solutions").mkdir()
    (repo / "solutions" / "__init__.py").write_text("")
    shutil.copyfile(DEMO_SOLUTIONS, repo / "solutions" / f"{DEMO_HW}.py")
    class_dir = tmp_path / "class"
    (class_dir / "submissions").mkdir(parents=True)
    (class_dir / "submissions" / "alice.py").write_text(CORRECT_SUBMISSION)

    built = _run(["build", DEMO_HW, "--repo-root", repo, "--no-zip"], cwd=class_dir)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (repo / "build" / DEMO_HW / "manifest.json").is_file()
    assert not (class_dir / "build").exists()
    printed = " ".join(built.stdout.split())
    assert f"bundles in {repo / 'build'}" in printed
    assert f"autograder grade SUBMISSIONS -a {DEMO_HW} --out OUT" in printed

    graded = _run(["grade", "submissions", "-a", DEMO_HW, "--repo-root", repo, "--out", "out",
                   "--quiet", "--workers", "1"], cwd=class_dir)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "warning" not in graded.stderr
    with open(class_dir / "out" / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["submission"] for row in rows] == ["alice"]
    assert rows[0]["status"] == "graded" and float(rows[0]["total"]) == 7, rows

    # a stale bundle is used as it is, with a warning naming the command that refreshes it
    tests = repo / "assignments" / DEMO_HW / "tests" / "q1.py"
    tests.write_text(tests.read_text() + "\n# edited after the build\n")
    graded = _run(["grade", "submissions", "-a", DEMO_HW, "--repo-root", repo, "--out", "out",
                   "--quiet", "--workers", "1"], cwd=class_dir)
    assert graded.returncode == 0, graded.stderr
    assert f"run `autograder build {DEMO_HW}`" in " ".join(graded.stderr.split())
