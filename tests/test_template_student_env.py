"""A student's two commands give a notebook that runs in its own kernel, with plots.

A fresh virtual environment (no system site packages) gets only the template's
requirements.txt, as the template README says; the filled notebook then runs (1) with nbclient
and a kernelspec whose argv is that environment's python, and (2) with that environment's own
``jupyter nbconvert --execute``, which must find its ``python3`` kernel by itself. One assignment
(hw1: two plots, four questions) keeps this the one slow install of the suite; pip installs
from its configured index and cache.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder.release.notebook import check_cell_question, filled_notebook
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from tests.fixtures.student_env import HW

pytestmark = pytest.mark.slow

PROBE = (
    "import sys, matplotlib, autograder.checks\n"
    "print(sys.prefix)\nprint(matplotlib.get_backend())\nprint(autograder.checks.__file__)"
)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def student(student_install):
    """(folder, venv, env): the template copied, and the README's first command run in it
    (started in the background at the end of the collection: tests/fixtures/student_env.py)."""
    folder, env = student_install.folder, student_install.env
    readme = (folder / "README.md").read_text()
    first = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    assert first in readme and f".venv/bin/jupyter lab {HW}.ipynb" in readme
    # the README's command, with this interpreter as python3 (the base of the project's venv)
    student_install.wait()
    venv = student_install.venv
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    return folder, venv, env


def _filled(folder: Path, name: str) -> Path:
    nb = nbformat.read(str(folder / f"{HW}.ipynb"), as_version=4)
    nb = filled_notebook(nb, load_solutions(assignment_source(HW, repo_root=PROJECT_ROOT)))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    path = folder / name
    nbformat.write(nb, str(path))
    return path


def _assert_ran_in(nb, folder: Path, venv: Path) -> None:
    checks = [(check_cell_question(c.source), c.outputs) for c in nb.cells
              if c.cell_type == "code" and check_cell_question(c.source)]
    assert len(checks) == 4, checks
    for question, outputs in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
        assert text.startswith(f"{question} results: All test cases passed!"), (question, outputs)
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "stream")
    assert "plot skipped" not in streams, streams
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the notebook's plots did not render"
    prefix, backend, checks_file = "".join(
        o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream").split()
    assert Path(prefix).resolve() == venv.resolve(), f"ran in {prefix}, not the student's venv"
    assert "inline" in backend.lower(), backend
    assert Path(checks_file).resolve().is_relative_to(folder.resolve()), checks_file


def test_requirements_install_jupyter_kernel_and_plotting(student):
    folder, venv, env = student
    names = [line.split("=")[0].split(">")[0].split("<")[0]
             for line in (folder / "requirements.txt").read_text().split()]
    assert names == ["numpy", "otter-grader", "matplotlib", "ipykernel", "jupyterlab"]
    for tool in ("jupyter", "jupyter-lab", "python"):
        assert (venv / "bin" / tool).is_file(), tool
    listed = subprocess.run([str(venv / "bin" / "jupyter"), "kernelspec", "list", "--json"],
                            env=env, capture_output=True, text=True, check=True).stdout
    spec = json.loads(listed)["kernelspecs"]["python3"]
    assert Path(spec["resource_dir"]).resolve().is_relative_to(venv.resolve()), spec
    size_mb = _du(venv) / 2**20
    assert size_mb < 1024, f"the student environment takes {size_mb:.0f} MB"


def test_notebook_runs_in_the_venvs_own_kernel_with_plots(student, tmp_path):
    """nbclient with a kernelspec whose argv is the student venv's python."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    folder, venv, env = student
    spec_dir = tmp_path / "kernels" / "student-venv"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "student venv", "language": "python", "env": env,
    }))
    path = _filled(folder, "filled_nbclient.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    km = KernelManager(kernel_name="student-venv",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]))
    NotebookClient(nb, km=km, timeout=120, allow_errors=False, shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(folder)}}).execute()
    _assert_ran_in(nb, folder, venv)


def test_the_venvs_own_jupyter_finds_its_kernel(student):
    """What `jupyter lab` does on opening the notebook: the kernel named in its metadata
    (python3) comes from the student's venv, not from whatever else the machine has."""
    folder, venv, env = student
    path = _filled(folder, "filled_nbconvert.ipynb")
    subprocess.run(
        [str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=120", path.name, "--output", "executed.ipynb"],
        cwd=folder, env=env, check=True, capture_output=True, timeout=300,
    )
    nb = nbformat.read(str(folder / "executed.ipynb"), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    _assert_ran_in(nb, folder, venv)
