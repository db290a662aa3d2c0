"""The student templates in a real Jupyter kernel (nbclient + ipykernel from this venv).

Each template is copied to a temporary folder and executed there, so the checks can only come
from what the template ships (its tests, expected values and vendored ``autograder.checks``).
Blank: every ``grader.check`` prints a readable failure. Filled with the reference functions:
every check passes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from autograder.release import ASSIGNMENTS
from autograder.release.notebook import check_cell_question, filled_notebook
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions

pytestmark = pytest.mark.slow

KERNEL_NAME = "autograder-test-venv"
PROBE = "import sys, autograder.checks\nprint(sys.executable)\nprint(autograder.checks.__file__)"


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory):
    """A kernelspec that runs this interpreter (the venv's python), whatever else is installed."""
    from jupyter_client.kernelspec import KernelSpecManager

    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / KERNEL_NAME
    spec_dir.mkdir()
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autograder tests", "language": "python",
    }))
    return KernelSpecManager(kernel_dirs=[str(root)])


def _execute(template: Path, workdir: Path, fill: bool, monkeypatch, kernel_specs
             ) -> tuple[list, list[str]]:
    """Run a copy of the template; returns (check cells with their outputs, probe lines)."""
    hw = template.name
    shutil.copytree(template, workdir, ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.read(str(workdir / f"{hw}.ipynb"), as_version=4)
    if fill:
        solutions = load_solutions(assignment_source(hw, repo_root=PROJECT_ROOT))
        nb = filled_notebook(nb, solutions)
        nbformat.write(nb, str(workdir / f"{hw}.ipynb"))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    client = NotebookClient(
        nb, km=km, timeout=120, allow_errors=True, shutdown_kernel="immediate",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    checks = [
        (check_cell_question(cell.source), cell.outputs)
        for cell in nb.cells
        if cell.cell_type == "code" and check_cell_question(cell.source)
    ]
    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    return checks, probe.split()


def _plain(outputs) -> str:
    return "".join(
        o.get("data", {}).get("text/plain", "") if o.output_type == "execute_result"
        else o.get("text", "") for o in outputs
    )


def _assert_vendored(probe: list[str], workdir: Path) -> None:
    assert len(probe) == 2, probe
    executable, checks_file = probe
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(checks_file).resolve().is_relative_to(workdir.resolve()), (
        f"the kernel imported autograder.checks from {checks_file}, not the template's copy"
    )


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_blank_template_checks_fail_readably(hw, tmp_path, monkeypatch, kernel_specs):
    template = PROJECT_ROOT / "student_template" / hw
    assert template.is_dir(), f"run `autograder build {hw}`"
    workdir = tmp_path / hw
    checks, probe = _execute(template, workdir, fill=False, monkeypatch=monkeypatch,
                            kernel_specs=kernel_specs)
    _assert_vendored(probe, workdir)
    assert checks, "no grader.check cell ran"
    for question, outputs in checks:
        assert [o.output_type for o in outputs] == ["execute_result"], (
            f"{question}: the check cell raised instead of reporting: {outputs}"
        )
        text = _plain(outputs)
        assert text.startswith(f"{question} results:"), text
        assert "Test case failed" in text and "All test cases passed" not in text
        assert "Traceback" not in text
        assert "NotImplementedError" in text, text  # the stub's own message, readable
        assert "MissingExpectedValue" not in text and "ModuleNotFoundError" not in text, text


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_filled_template_checks_pass(hw, tmp_path, monkeypatch, kernel_specs):
    template = PROJECT_ROOT / "student_template" / hw
    assert template.is_dir(), f"run `autograder build {hw}`"
    workdir = tmp_path / hw
    checks, probe = _execute(template, workdir, fill=True, monkeypatch=monkeypatch,
                            kernel_specs=kernel_specs)
    _assert_vendored(probe, workdir)
    assert checks, "no grader.check cell ran"
    for question, outputs in checks:
        text = _plain(outputs)
        assert [o.output_type for o in outputs] == ["execute_result"], outputs
        assert text.startswith(f"{question} results: All test cases passed!"), text
