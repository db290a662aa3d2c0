"""The Gradescope zip that runs this grader, in a simulated Gradescope layout.

A temporary root stands for ``/autograder``: the zip is unpacked into ``source/``, a notebook
is put in ``submission/``, ``run_autograder`` runs (with this venv's Python instead of the one
``setup.sh`` would install) and ``results/results.json`` must follow Gradescope's specification,
carry the assignment's hidden visibility and say which sandbox protections are not in force.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema

from autograder.release.gradescope_zip import write_gradescope_zip
from autograder.release.sources import PROJECT_ROOT
from tests.fixtures.grade_helpers import make_workdir_root
from tests.test_gradescope_results import SCHEMA

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "otter_parity"


def _zip(tmp: Path) -> Path:
    return write_gradescope_zip(
        hw="parity", bundle_dir=FIXTURE, package_dir=PROJECT_ROOT / "autograder",
        pyproject=PROJECT_ROOT / "pyproject.toml", requirements=["numpy"],
        output_path=tmp / "parity-gradescope.zip")


def test_zip_is_deterministic_and_has_gradescopes_entry_points(tmp_path):
    first = _zip(tmp_path).read_bytes()
    assert _zip(tmp_path).read_bytes() == first
    with zipfile.ZipFile(tmp_path / "parity-gradescope.zip") as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "grader/pyproject.toml",
            "grader/autograder/gradescope_run.py", "bundle/parity/manifest.json",
            "bundle/parity/tests/q4.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any(n.endswith(".zip") or "__pycache__" in n for n in names)


def test_simulated_gradescope_run_writes_valid_results(tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(_zip(tmp_path)) as zf:
        zf.extractall(root / "source")
    run = root / "source" / "run_autograder"
    run.chmod(0o755)
    (root / "submission").mkdir()
    shutil.copyfile(FIXTURE / "submissions" / "partial.ipynb", root / "submission" / "hw.ipynb")
    workdirs = make_workdir_root()
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "AUTOGRADER_WORKDIR_ROOT": str(workdirs)}
    try:
        proc = subprocess.run([str(run)], env=env, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(workdirs, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    # the same outcome as the local batch grader and otter run give this notebook (3 of 10)
    assert data["score"] == 3.0
    assert data["extra_data"]["status"] == "graded"
    hidden = [t["visibility"] for t in data["tests"] if t["visibility"] != "visible"]
    assert hidden and set(hidden) == {"after_due_date"}  # the fixture's assignment config
    sandbox = data["extra_data"]["sandbox"]
    assert sandbox["protections"] and set(sandbox["missing"]) == {
        k for k, v in sandbox["protections"].items() if not v}
    if sandbox["missing"]:
        assert "not in force" in data["output"]
