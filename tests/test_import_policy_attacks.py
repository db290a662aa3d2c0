"""Attacks on the import policy in a real batch (hw2), by a student who has read this code.

Each attacker wants sigmoid_grad (or the numerical-gradient question) computed by torch or by
the grader's own finite differences. The import hook in the child is only a message, so every
attacker removes it first (through ``warnings.sys``, a module the policy allows). What holds:

- the file system: a refused package (torch) is found but cannot be opened in the sandbox, and
  autograder.checks is neither readable nor loaded there;
- the grader's analysis of the notebook's source, which refuses functions that use a refused
  module or build code at run time, before their cases run.

Every attacker ends with no more points than a student who left the attacked stubs blank.
"""

from __future__ import annotations

import inspect

import pytest

from autograder.grade import grade_class
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from tests.fixtures.grade_helpers import stored, write_notebook

HW = "hw2_layer_gradient"
UNHOOK = ("import warnings\n_sys = warnings.sys\n"
          "_sys.meta_path[:] = [f for f in _sys.meta_path if 'Policy' not in type(f).__name__]\n")

ATTACKS = {
    # torch through a name the analysis cannot read, the hook removed
    "a1_dunder_import": UNHOOK + (
        "def sigmoid_grad(z):\n"
        "    t = __import__('to' + 'rch')\n"
        "    x = t.tensor(z, requires_grad=True)\n"
        "    t.sigmoid(x).sum().backward()\n"
        "    return x.grad.numpy()\n"),
    # the function itself made at the top level from a dynamic import
    "a2_top_level_dynamic": UNHOOK + (
        "try:\n    sigmoid = getattr(__import__('torch'), 'sigmoid')\n"
        "except BaseException as e:\n    print('torch:', type(e).__name__, e)\n"),
    # the grader's finite differences, looked up where a grader process would hold them
    "a3_checks_from_sys_modules": UNHOOK + (
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    return _sys.modules['autograder.checks.gradcheck'].numerical_gradient(f, x, h)\n"),
    # code made from a string at the top level, which the analysis does not see as a function
    "a4_exec_string": UNHOOK + (
        "exec('def sigmoid_grad(z):\\n    import torch\\n    x = torch.tensor(z, requires_grad=True)"
        "\\n    torch.sigmoid(x).sum().backward()\\n    return x.grad.numpy()\\n')\n"),
    # plain imports, the hook removed: the file system says no
    "a5_plain_import": UNHOOK + (
        "from torch import sigmoid as _ts\n\n"
        "def sigmoid(z):\n    return _ts(z)\n"),
}
TARGETS = {"a1_dunder_import": "sigmoid_grad", "a2_top_level_dynamic": "sigmoid",
           "a3_checks_from_sys_modules": "numerical_gradient", "a4_exec_string": "sigmoid_grad",
           "a5_plain_import": "sigmoid"}


@pytest.fixture(scope="module")
def graded(fresh_build, tmp_path_factory):
    pytest.importorskip("torch")  # installed beside the grader, as on a real grading machine
    build = fresh_build(HW)
    root = tmp_path_factory.mktemp("policy-attacks")
    reference = inspect.getsource(load_solutions(assignment_source(HW, repo_root=PROJECT_ROOT)))
    write_notebook(root / "subs" / "honest.ipynb", [reference])
    for sid, attack in ATTACKS.items():
        target = TARGETS[sid]
        # the reference without the attacked stub: what a student who left it blank gets
        blank = reference + f"\n\ndef {target}(*args, **kwargs):\n    raise NotImplementedError\n"
        write_notebook(root / "subs" / f"{sid}.ipynb", [blank, attack])
        write_notebook(root / "subs" / f"{sid}_blank.ipynb", [blank])
    grade_class(root / "subs", build.bundle_path, root / "out", progress=False, workers=2)
    return stored(root / "out")


def test_honest_student_keeps_full_marks(graded):
    assert graded["honest"]["score"] == graded["honest"]["max_score"]


@pytest.mark.parametrize("sid", sorted(ATTACKS))
def test_attacker_gains_nothing(graded, sid):
    attacker, blank = graded[sid], graded[f"{sid}_blank"]
    assert attacker["score"] <= blank["score"] < attacker["max_score"], attacker["message"]
    failed = [c for c in attacker["cases"] if not c["passed"]]
    assert failed, attacker["message"]


def test_refused_packages_cannot_be_opened_even_without_the_hook(graded):
    # a2 printed why its import failed: the file system refused torch, not the hook
    output = graded["a2_top_level_dynamic"]["output"]
    assert "torch: PermissionError" in output or "torch: ModuleNotFoundError" in output, output


def test_the_analysis_names_the_dynamic_code(graded):
    messages = " ".join(c["message"] for c in graded["a1_dunder_import"]["cases"] if not c["passed"])
    assert "sigmoid_grad uses __import__" in messages
    messages = " ".join(c["message"] for c in graded["a5_plain_import"]["cases"] if not c["passed"])
    assert "sigmoid uses torch" in messages
