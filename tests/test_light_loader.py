"""The light exception-format loader (``autograder.lightcases``) against otter's own.

A grading worker loads test files without importing otter-grader (1.3 s of start-up). These
tests hold it to otter's ``ExceptionTestFile`` on every test file of the repository and on files
written for each of otter's point rules and errors.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from otter.test_files.exception_test import ExceptionTestFile

from autograder import lightcases
from autograder.testfiles import TestFileError, load_question

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(
    p for pattern in ("assignments/*/tests/*.py", "build/*/tests/*.py", "student_template/*/tests/*.py",
                      "examples/*/tests/*.py")
    for p in REPO.glob(pattern) if not p.name.startswith("__"))


def _otter(path: Path):
    parsed = ExceptionTestFile.from_file(str(path))
    return parsed.name, parsed.test_cases, parsed.all_or_nothing


def _light(path: Path):
    env = lightcases.exec_globals()
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), env)
    return lightcases.from_globals(env, str(path))


def _summary(loaded):
    name, cases, all_or_nothing = loaded
    return (name, all_or_nothing, [
        (tc.name, tc.hidden, tc.points, type(tc.points), tc.success_message, tc.failure_message,
         tc.body.test_func.__name__, tc.body.test_func.__code__.co_firstlineno) for tc in cases])


def _outcome(fn, path):
    try:
        return ("ok", _summary(fn(path)))
    except AssertionError as error:  # otter's assert, lightcases.InvalidPointType
        # the first line: pytest rewrites otter's assert and adds its own explanation below
        return ("AssertionError", str(error).split("\n")[0])
    except Exception as error:
        return (type(error).__name__, str(error))


def test_every_test_file_of_the_repository_loads_as_otter_loads_it():
    assert len(FILES) >= 20, "the assignments' test files were not found"
    checked = 0
    for path in FILES:
        if "OK_FORMAT = True" in path.read_text(encoding="utf-8"):
            continue
        assert _outcome(_light, path) == _outcome(_otter, path), path
        light, otter = load_question(path), load_question(path, loader="otter")
        assert [(c.name, c.points, c.hidden, c.question, c.params, c.failure_message,
                 c.success_message) for c in light.cases] == \
               [(c.name, c.points, c.hidden, c.question, c.params, c.failure_message,
                 c.success_message) for c in otter.cases], path
        assert (light.name, light.points, light.all_or_nothing) == \
               (otter.name, otter.points, otter.all_or_nothing), path
        checked += 1
    assert checked >= 20


HEADER = "from autograder.checks import test_case\n\nOK_FORMAT = False\n"
CASES = {  # a body per rule of otter's resolve_test_file_points, and the errors
    "total_shared": 'name = "q"\npoints = 5\n@test_case()\ndef a(f): pass\n@test_case(points=1)\n'
                    'def b(f): pass\n@test_case()\ndef c(f): pass\n',
    "list_points": 'name = "q"\npoints = [1, 2.5]\n@test_case()\ndef a(f): pass\n'
                   '@test_case(points=9)\ndef b(f): pass\n',
    "per_case": 'name = "q"\n@test_case(points=2)\ndef a(f): pass\n@test_case(points=0.5)\n'
                'def b(f): pass\n@test_case()\ndef c(f): pass\n',
    "no_points": 'name = "q"\n@test_case()\ndef a(f): pass\n@test_case(points=0)\ndef b(f): pass\n'
                 '@test_case()\ndef c(f): pass\n',
    "only_zeros": 'name = "q"\n@test_case(points=0)\ndef a(f): pass\n',
    "total_all_given": 'name = "q"\npoints = 3\n@test_case(points=1)\ndef a(f): pass\n',
    "default_names_hidden_messages": (
        'name = "q7"\nall_or_nothing = True\n@test_case(hidden=True, success_message="yes")\n'
        'def a(f): pass\n@test_case("named", 1, False, "ok", "no")\ndef b(f, env): pass\n'
        '@test_case(failure_message="check eps")\ndef c(): pass\n'),
    "same_case_twice": 'name = "q"\n@test_case()\ndef a(f): pass\nalias = a\n',
    "otter_import": 'from otter.test_files import test_case as tc\nname = "q"\n@tc(points=2)\n'
                    'def a(f): pass\n',
    "no_cases": 'name = "q"\npoints = 2\n',
    "int_name": 'name = 3\n@test_case()\ndef a(f): pass\n',
    "missing_name": '@test_case()\ndef a(f): pass\n',
    "bad_total_type": 'name = "q"\npoints = "4"\n@test_case()\ndef a(f): pass\n',
    "bad_case_points": 'name = "q"\n@test_case(points="1")\ndef a(f): pass\n',
    "bool_case_points": 'name = "q"\n@test_case(points=True)\ndef a(f): pass\n',
    "more_than_total": 'name = "q"\npoints = 1\n@test_case(points=2)\ndef a(f): pass\n',
    "list_length": 'name = "q"\npoints = [1, 2]\n@test_case()\ndef a(f): pass\n',
    "list_bad_entry": 'name = "q"\npoints = [1, None, "x"]\n@test_case()\ndef a(f): pass\n'
                      '@test_case()\ndef b(f): pass\n@test_case()\ndef c(f): pass\n',
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_each_points_rule_and_error_as_otter(tmp_path, key):
    path = tmp_path / "tests" / f"{key}.py"
    path.parent.mkdir()
    path.write_text(HEADER + CASES[key])
    assert _outcome(_light, path) == _outcome(_otter, path)


ERRORS = {
    "missing_name": "does not define 'name'",
    "bad_total_type": "Test spec points has invalid type: <class 'str'>",
    "bad_case_points": "a test case's points must be an int or a float (Invalid point type",
    "bool_case_points": "a test case's points must be an int or a float (Invalid point type",
    "more_than_total": "More points specified in test cases than allowed for test",
    "list_length": "different length than number of test cases",
    "no_cases": "defines no test case",
}


@pytest.mark.parametrize("key", sorted(ERRORS))
def test_errors_are_test_file_errors_naming_file_and_problem(tmp_path, key):
    path = tmp_path / "tests" / f"{key}.py"
    path.parent.mkdir()
    path.write_text(HEADER + CASES[key])
    messages = []
    for loader in ("light", "otter"):
        with pytest.raises(TestFileError) as info:
            load_question(path, loader=loader)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert str(path) in messages[0] and ERRORS[key] in messages[0]


def test_jupyter_keeps_otters_decorator():
    """grader.check: the files still import otter's subclass; loading here patched nothing."""
    from otter.test_files import test_case as otter_case

    assert load_question(REPO / "assignments" / "hw1_linear_regression" / "tests" / "q1.py").cases
    import autograder.checks

    assert issubclass(autograder.checks.test_case, otter_case)
    assert "test_case" not in vars(autograder.checks) or \
        issubclass(vars(autograder.checks)["test_case"], otter_case)


def test_a_grading_worker_does_not_import_otter():
    tests = next(iter(sorted(REPO.glob("assignments/*/tests"))))
    code = textwrap.dedent(f"""
        import sys
        import autograder.grade.worker
        from autograder.testfiles import load_questions
        assert load_questions({str(tests)!r})
        print(sorted(m for m in sys.modules if m.split(".")[0] == "otter"))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
