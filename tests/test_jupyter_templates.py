"""The student templates in a real Jupyter kernel (nbclient + ipykernel from this venv).

Each template is copied to a temporary folder and executed there, so the checks can only come
from what the template ships (its tests, expected values and vendored ``autograder.checks``).
Blank: every ``grader.check`` prints a readable failure. Filled with the reference functions:
every check passes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.build import ASSIGNMENTS
from autograder.build.notebook import check_cell_question, filled_notebook
from autograder.build.sources import PROJECT_ROOT, assignment_source, load_solutions

pytestmark = pytest.mark.slow

PROBE = "import sys, autograder.checks\nprint(sys.executable)\nprint(autograder.checks.__file__)"


def _execute(template: Path, workdir: Path, fill: bool, monkeypatch) -> tuple[list, list[str]]:
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
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
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
def test_blank_template_checks_fail_readably(hw, tmp_path, monkeypatch):
    template = PROJECT_ROOT / "student_template" / hw
    assert template.is_dir(), f"run `autograder build {hw}`"
    workdir = tmp_path / hw
    checks, probe = _execute(template, workdir, fill=False, monkeypatch=monkeypatch)
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
def test_filled_template_checks_pass(hw, tmp_path, monkeypatch):
    template = PROJECT_ROOT / "student_template" / hw
    assert template.is_dir(), f"run `autograder build {hw}`"
    workdir = tmp_path / hw
    checks, probe = _execute(template, workdir, fill=True, monkeypatch=monkeypatch)
    _assert_vendored(probe, workdir)
    assert checks, "no grader.check cell ran"
    for question, outputs in checks:
        text = _plain(outputs)
        assert [o.output_type for o in outputs] == ["execute_result"], outputs
        assert text.startswith(f"{question} results: All test cases passed!"), text
