"""autograder.checks is copied verbatim into student templates: numpy and the stdlib only."""

import ast
import subprocess
import sys
from pathlib import Path

import autograder.checks as checks

CHECKS = Path(checks.__file__).resolve().parent


def test_imports_are_numpy_stdlib_or_relative():
    base = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    for path in sorted(CHECKS.glob("*.py")):
        # cases.py is otter's own test_case decorator with the import policy: it needs otter,
        # which every place that loads test files has; nothing else in the package imports it
        allowed = base | {"otter"} if path.name == "cases.py" else base
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, (path.name, alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert node.module.split(".")[0] in allowed, (path.name, node.module)


def test_package_works_when_copied_alone(tmp_path):
    """Copy the files like the build does and import them next to an empty autograder package."""
    target = tmp_path / "autograder" / "checks"
    target.mkdir(parents=True)
    (tmp_path / "autograder" / "__init__.py").write_text("")
    for path in CHECKS.glob("*.py"):
        (target / path.name).write_bytes(path.read_bytes())
    code = (
        "import sys, numpy as np\n"
        "import autograder.checks as c\n"
        "assert c.__file__.startswith(sys.argv[1]), c.__file__\n"
        "c.assert_close(np.ones(2), np.ones(2))\n"
        "c.assert_gradient_fast(lambda x: float(x @ x), lambda x: 2 * x, np.ones(30))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'otter', 'IPython')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path, check=True,
                   env={"PYTHONPATH": str(tmp_path)})


def test_public_api_is_exported():
    names = """assert_close numerical_gradient check_gradient assert_gradient check_directional
    assert_directional check_sampled assert_sampled check_vjp assert_vjp assert_gradient_fast
    GradCheckResult run_steps Trajectory assert_trajectory_close assert_converges Problem quadratic
    rosenbrock linear_regression_data logistic_regression_data xor assert_no_mutation Reference
    recording MissingExpectedValue save_expected load_expected""".split()
    for name in names:
        assert name in checks.__all__ and hasattr(checks, name), name
    assert checks.problems.quadratic is checks.quadratic
