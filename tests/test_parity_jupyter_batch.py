"""The same notebook gets the same verdict in Jupyter (``grader.check``) and in batch grading.

For every assignment: the reference, the blank template, every hand-written mutant of
``assignments/<hw>/mutants/`` and notebooks that break the import policy (a stub that uses torch,
one that uses the grader's own ``autograder.checks``, one that switches numerical warnings off,
the naive sigmoid for hw2) are graded twice:

- by ``autograder grade`` (the batch grader: sandbox, bundle, hidden cases and all), and
- in one real Jupyter kernel per assignment, running the student template's own ``grader.check``
  for every question after each variant's cells (a cell that clears the stubs comes first).

The public cases' pass/fail must be equal, case by case. A difference is a failure that names
the variant, the case and both messages.
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from autograder.grade import grade_class
from autograder.release import ASSIGNMENTS
from autograder.release.mutants import load_mutant, mutant_files
from autograder.release.notebook import check_cell_question, student_code_cells
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from tests.fixtures.grade_helpers import stored, write_notebook
from tests.test_jupyter_templates import KERNEL_NAME, kernel_specs  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

MARK = "PARITY-RESULT "


def _stubs(solutions) -> list[str]:
    return [name for name, value in vars(solutions).items()
            if inspect.isfunction(value) and value.__module__ == solutions.__name__
            and not name.startswith("_")]


def _wrap(stub: str, prelude: str, body: str) -> str:
    """A cell that replaces ``stub`` by a wrapper of the reference's, with ``body`` inside."""
    return (f"{prelude}\n_reference_{stub} = {stub}\n\n"
            f"def {stub}(*args, **kwargs):\n{body}"
            f"    return _reference_{stub}(*args, **kwargs)\n")


def variants(hw: str, template_nb) -> dict[str, list[str]]:
    source = assignment_source(hw, repo_root=PROJECT_ROOT)
    solutions = load_solutions(source)
    reference = inspect.getsource(solutions)
    out = {"reference": [reference], "blank": student_code_cells(template_nb)}
    for path in mutant_files(source.mutants_dir):
        out[f"mutant {path.stem}"] = [reference, path.read_text(encoding="utf-8")]
        load_mutant(path)  # a malformed mutant file fails here, not as a parity difference
    stub = _stubs(solutions)[0]
    out["torch"] = [reference, _wrap(stub, "import torch", "    torch.zeros(1)\n")]
    out["checks library"] = [reference, _wrap(
        stub, "from autograder.checks import assert_close as _close", "    _close(1.0, 1.0)\n")]
    out["warnings off"] = [reference, _wrap(
        stub, "import numpy as np", "    np.seterr(all='ignore')\n")]
    if hw == "hw2_layer_gradient":
        out["naive sigmoid"] = [reference, "import numpy as np\n\ndef sigmoid(z):\n"
                                "    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))\n"]
    return out


def _batch(hw: str, build, table: dict[str, list[str]], tmp: Path) -> dict[str, dict]:
    subs = tmp / "subs"
    ids = {}
    for i, (name, cells) in enumerate(table.items()):
        sid = f"v{i:03d}"
        ids[sid] = name
        write_notebook(subs / f"{sid}.ipynb", cells)
    grade_class(subs, build.bundle_path, tmp / "out", progress=False, workers=2)
    out = {}
    for sid, sub in stored(tmp / "out").items():
        out[ids[sid]] = {(c["question"], c["name"]): (bool(c["passed"]), c["message"])
                         for c in sub["cases"] if not c["hidden"]}
    return out


def _check_cell(questions: list[str], name: str) -> str:
    return (
        "import json as _json\n_res = []\n"
        f"for _q in {questions!r}:\n"
        "    _r = grader.check(_q)\n"
        "    for _c in _r.test_case_results:\n"
        "        _res.append([_q, _c.test_case.name, bool(_c.passed), str(_c.message or '')[:3000]])\n"
        f"print({MARK!r} + _json.dumps([{name!r}, _res]))\n"
    )


def _kernel(hw: str, build, table: dict[str, list[str]], tmp: Path, specs, stubs) -> dict:
    work = tmp / "kernel"
    shutil.copytree(build.template_path, work, ignore=shutil.ignore_patterns("__pycache__"))
    template = nbformat.read(str(work / f"{hw}.ipynb"), as_version=4)
    init = next(c.source for c in template.cells
                if c.cell_type == "code" and "otter.Notebook(" in c.source)
    questions = sorted({q for c in template.cells if c.cell_type == "code"
                        and (q := check_cell_question(c.source))}, key=lambda q: int(q[1:]))
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(init))
    for name, cells in table.items():
        nb.cells.append(nbformat.v4.new_code_cell(
            f"for _n in {stubs!r}:\n    globals().pop(_n, None)"))
        nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
        nb.cells.append(nbformat.v4.new_code_cell(_check_cell(questions, name)))
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    NotebookClient(nb, km=km, timeout=300, allow_errors=True, shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(work)}}).execute()
    out: dict[str, dict] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith(MARK):
                    name, rows = json.loads(line[len(MARK):])
                    out[name] = {(q, c): (p, m) for q, c, p, m in rows}
    return out


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_jupyter_and_batch_agree_case_by_case(hw, fresh_build, tmp_path, monkeypatch,
                                             kernel_specs):  # noqa: F811
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    build = fresh_build(hw)
    template_nb = nbformat.read(str(build.template_path / f"{hw}.ipynb"), as_version=4)
    table = variants(hw, template_nb)
    stubs = _stubs(load_solutions(assignment_source(hw, repo_root=PROJECT_ROOT)))
    batch = _batch(hw, build, table, tmp_path)
    kernel = _kernel(hw, build, table, tmp_path, kernel_specs, stubs)
    differences = []
    for name in table:
        assert name in kernel, f"{name}: the kernel printed no results (see the notebook's errors)"
        assert set(kernel[name]) == set(batch[name]), (name, sorted(kernel[name]), sorted(batch[name]))
        for case, (passed, message) in sorted(kernel[name].items()):
            b_passed, b_message = batch[name][case]
            if passed != b_passed:
                differences.append(f"{name} {case}: grader.check {'passed' if passed else 'failed'}"
                                   f" ({message[:200]!r}), batch {'passed' if b_passed else 'failed'}"
                                   f" ({b_message[:200]!r})")
    assert not differences, "\n".join(differences)
    # the policy-breaking variants fail on both paths, with the same words
    for name in ("torch", "checks library"):
        refused = {case: m for case, (p, m) in batch[name].items() if not p}
        assert refused and all("The case is not run." in m for m in refused.values()), refused
        for case, message in refused.items():
            assert message in kernel[name][case][1], (name, case, message, kernel[name][case][1])
            # otter's "Error at line N" shows a line of the test file (the case's decorator),
            # not one of the checks library's
            assert "@test_case(" in kernel[name][case][1], kernel[name][case][1]
    if hw == "hw2_layer_gradient":  # the stability clause: the naive sigmoid fails it on both
        case = next(c for c in kernel["naive sigmoid"] if "no numerical warning" in c[1])
        for path in (kernel, batch):
            passed, message = path["naive sigmoid"][case]
            assert not passed and "RuntimeWarning: overflow encountered in exp" in message, message
            assert path["reference"][case][0]
    assert all(p for p, _ in kernel["reference"].values())
    assert not any(p for p, _ in kernel["blank"].values())


def test_kernel_interpreter_is_this_one():
    # the kernelspec runs this interpreter, so torch (a test dependency) is importable there:
    # the torch variant really imports it in Jupyter, and the policy is what refuses it
    assert "torch" in {d.name for d in Path(sys.prefix, "lib").glob("python*/site-packages/*")}
