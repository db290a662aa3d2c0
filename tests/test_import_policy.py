"""The import policy: what the analysis finds, the same words on both paths, and attacks.

Expected verdicts come from the policy's definition (autodiff libraries and autograder.* are
refused everywhere; NumPy and the math-like standard library are allowed; the instructor's
forbid list refuses single functions), not from running the analysis on itself.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap

import pytest

from autograder.checks.cases import policy_problem
from autograder.checks.import_policy import (
    ImportPolicy,
    analyze_function,
    analyze_source,
    problem_message,
)

POLICY = ImportPolicy("hwX", forbid=("numpy.linalg.lstsq",))

NOTEBOOK = '''
import numpy as np
import numpy.linalg as la
import torch
from torch.autograd import grad as autograd_grad
from autograder.checks import numerical_gradient as ng
import math, functools, itertools

def via_torch(x):
    return torch.sigmoid(torch.as_tensor(x)).numpy()

def via_autograd(f, x):
    return autograd_grad(f(x), x)

def via_checks(f, x):
    return ng(f, x)

def calls_torch_helper(x):
    return via_torch(x) + 1

def local_import(x):
    import jax
    return jax.numpy.tanh(x)

def dunder_import(x):
    return __import__("tensorflow").sigmoid(x)

def dynamic(x):
    return eval("x + 1")

def lstsq_chain(X, y):
    return np.linalg.lstsq(X, y, rcond=None)[0]

def lstsq_alias(X, y):
    return la.lstsq(X, y, rcond=None)[0]

def honest(X, y):
    return np.linalg.solve(X.T @ X, X.T @ y) * math.sqrt(1.0)

def hushed(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))

def calls_hushed(z):
    return hushed(z)

lam = lambda x: torch.tanh(x)
'''

REFUSED = {
    "via_torch": "torch", "via_autograd": "torch", "via_checks": "autograder",
    "calls_torch_helper": "torch", "local_import": "jax", "dunder_import": "tensorflow",
    "lstsq_chain": "numpy.linalg.lstsq", "lstsq_alias": "numpy.linalg.lstsq", "lam": "torch",
}


@pytest.fixture(scope="module")
def report():
    return analyze_source([NOTEBOOK], POLICY)


@pytest.mark.parametrize("function,refused", sorted(REFUSED.items()))
def test_refused_uses_are_found(report, function, refused):
    message = report.message_for(function)
    assert message is not None and message.startswith(f"{function} uses {refused}"), message
    assert "The case is not run." in message


def test_allowed_code_passes_and_dynamic_code_is_refused(report):
    assert report.message_for("honest") is None
    assert report.message_for("hushed") is None  # switching warnings off is not an import issue
    assert "eval" in report.message_for("dynamic")
    assert report.functions["hushed"].suppresses_warnings
    assert report.functions["calls_hushed"].suppresses_warnings
    assert not report.functions["honest"].suppresses_warnings


def test_top_level_imports_are_reported_once_per_module(report):
    assert set(report.module_refusals) == {"torch", "autograder"}


def test_the_words_of_the_policy():
    assert "autodiff" in POLICY.refusal("torch.nn") and "never" in POLICY.refusal("jax")
    assert "forbids numpy.linalg.lstsq" in POLICY.refusal("numpy.linalg.lstsq")
    assert POLICY.refusal("numpy.linalg.solve") is None and POLICY.refusal("math") is None
    assert "not among the modules hwX allows" in POLICY.refusal("scipy.optimize")
    # an instructor's allow list cannot let an autodiff library or the grader's library in
    lenient = ImportPolicy("hwY", allow=("scipy", "torch", "autograder"))
    assert lenient.refusal("scipy.special") is None
    assert lenient.refusal("torch") is not None and lenient.refusal("autograder.checks")


def _module_from(tmp_path, name: str, source: str):
    """Load ``source`` as a real module (so inspect.getsource works, as it does in Jupyter)."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_jupyter_analysis_gives_the_batch_message(tmp_path, report):
    pytest.importorskip("torch")
    source = NOTEBOOK.replace("import jax\n", "import json as jax\n").replace(
        'return __import__("tensorflow")', 'return __import__("math")')
    module = _module_from(tmp_path, "student_nb_module", source)
    for function in ("via_torch", "via_autograd", "via_checks", "calls_torch_helper",
                     "lstsq_chain", "lstsq_alias", "dynamic"):
        live = problem_message(function, analyze_function(getattr(module, function), POLICY))
        assert live == report.message_for(function), (function, live)
    assert problem_message("honest", analyze_function(module.honest, POLICY)) is None
    assert analyze_function(module.calls_hushed, POLICY).suppresses_warnings


def test_function_without_source_is_still_judged():
    namespace: dict = {}
    exec(compile(textwrap.dedent('''
        import numpy as np
        def solve(X, y):
            return np.linalg.lstsq(X, y, rcond=None)[0]
        def ok(X, y):
            return np.linalg.solve(X, y)
    '''), "<no file>", "exec"), namespace)
    assert "numpy.linalg.lstsq" in problem_message(
        "solve", analyze_function(namespace["solve"], POLICY))
    assert problem_message("ok", analyze_function(namespace["ok"], POLICY)) is None


def test_test_case_wrapper_refuses_only_student_functions():
    def student(x):
        return inspect.getsource(x)  # inspect is not among the allowed modules
    assert "inspect" in policy_problem({"student": student}, POLICY)

    class Proxy:  # what the batch grader passes: the grader has already judged the source
        def __call__(self, *args):
            return 1
    assert policy_problem({"student": Proxy()}, POLICY) is None


def test_a_remembered_function_is_judged_again_under_other_imports():
    # the batch grader parses each distinct cell once, so the same function tree comes back
    # in every notebook of a class; what it uses depends on the other cells' imports
    from autograder.grade.import_check import analyze_cells

    fn_cell = "def loss(x):\n    return t.sum(x)\n"
    as_numpy = analyze_cells(["import numpy as t\n", fn_cell], POLICY)
    as_torch = analyze_cells(["import torch as t\n", fn_cell], POLICY)
    again = analyze_cells(["import numpy as t\n", fn_cell], POLICY)
    assert as_numpy.message_for("loss") is None and again.message_for("loss") is None
    assert (as_torch.message_for("loss") or "").startswith("loss uses torch")
    assert analyze_cells(["import torch as t\n", fn_cell], POLICY).message_for("loss") == \
        as_torch.message_for("loss")
