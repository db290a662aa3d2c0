"""Globals a test asks for, across the trust boundary, attacked; OK-format files; discovery.

Each case of the attack bundle asserts, in the trusted grader, that what it received is plain
data of exactly the built-in type (never the student's object), or the case fails with a message
naming the global and why.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from autograder.grade.inputs import sha256_file
from autograder.grade.worker import Grader
from autograder.runner import run_question
from autograder.testfiles import TestFileError as FileError
from autograder.testfiles import load_question, question_files
from tests.fixtures.grade_helpers import TEST_LIMITS, make_workdir_root, write_notebook

TESTS = textwrap.dedent('''
    from otter.test_files import test_case

    OK_FORMAT = False
    name = "q1"

    @test_case(name="test_dict", points=1)
    def test_dict(hostile_dict):
        assert type(hostile_dict) is dict and hostile_dict == {"a": 1}
        assert all(type(k) is str for k in hostile_dict)

    @test_case(name="test_deep", points=1)
    def test_deep(deep):
        assert deep is not None

    @test_case(name="test_objects", points=1)
    def test_objects(obj_array):
        assert obj_array is not None

    @test_case(name="test_shifty", points=1)
    def test_shifty(shifty):
        assert type(shifty) is list and all(type(v) is int for v in shifty)

    @test_case(name="test_np", points=1)
    def test_np(np):
        import numpy
        assert np is numpy

    @test_case(name="test_os", points=1)
    def test_os(os):
        assert os is None

    @test_case(name="test_int_subclass", points=1)
    def test_int_subclass(sneaky_int):
        assert type(sneaky_int) is int and sneaky_int == 3

    @test_case(name="test_generator", points=1)
    def test_generator(gen):
        assert gen is not None
''')

NOTEBOOK = [
    textwrap.dedent('''
        import types
        class Evil(dict):
            def __eq__(self, other):
                return True
            def __hash__(self):
                return 0
        hostile_dict = Evil(a=1)
        deep = []
        node = deep
        for _ in range(5000):
            node.append([])
            node = node[0]
        import numpy
        obj_array = numpy.array([object(), 1], dtype=object)
        class Shifty(list):
            calls = 0
            def __iter__(self):
                Shifty.calls += 1
                return iter([Shifty.calls] * Shifty.calls)
        shifty = Shifty([1])
        np = types.ModuleType("numpy")
        np.smuggled = lambda: 1
        import os
        class SneakyInt(int):
            def __eq__(self, other):
                return True
        sneaky_int = SneakyInt(3)
        gen = (i for i in range(3))
    '''),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("globals")
    bundle = tmp / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(TESTS)
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "globals", "questions": [{"name": "q1", "points": 8.0, "file": "tests/q1.py"}],
        "config": {"imports": {"allow": ["os", "types"], "forbid": []}},
    }))
    nb = write_notebook(tmp / "sub.ipynb", NOTEBOOK)
    root = make_workdir_root()
    grader = Grader(bundle, TEST_LIMITS, workdir_root=str(root))
    try:
        result = grader.grade({"id": "sub", "file": str(nb), "kind": "notebook",
                               "content_hash": sha256_file(nb)})
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    return {case["name"]: case for case in result["questions"][0]["cases"]}, result


def test_hostile_dict_arrives_as_a_plain_dict(graded):
    cases, result = graded
    assert result["status"] == "graded", result["message"]
    assert cases["test_dict"]["passed"], cases["test_dict"]["message"]


def test_int_subclass_arrives_as_int(graded):
    cases, _ = graded
    assert cases["test_int_subclass"]["passed"], cases["test_int_subclass"]["message"]


def test_value_that_changes_between_reads_is_one_plain_list(graded):
    cases, _ = graded
    assert cases["test_shifty"]["passed"], cases["test_shifty"]["message"]


@pytest.mark.parametrize("case, name, words", [
    ("test_deep", "deep", "nested deeper"),
    ("test_objects", "obj_array", "dtype object"),
    ("test_generator", "gen", "generator"),
])
def test_what_cannot_cross_fails_the_case_naming_the_global(graded, case, name, words):
    cases, _ = graded
    assert not cases[case]["passed"]
    message = cases[case]["message"]
    assert f"`{name}` cannot be given to the test" in message and words in message, message


def test_modules_are_the_graders_own_and_only_allowed_ones(graded):
    cases, _ = graded
    # the student's forged "numpy" module is replaced by the grader's numpy
    assert cases["test_np"]["passed"], cases["test_np"]["message"]
    # os is allowed to the student here, but no test is given it: the case fails, naming it
    assert not cases["test_os"]["passed"]
    assert "`os` cannot be given to the test" in cases["test_os"]["message"]


OK_FILE = textwrap.dedent('''
    OK_FORMAT = True
    test = {"name": "q9", "points": 3, "suites": [{"type": "doctest", "scored": True,
        "setup": "", "teardown": "", "cases": [
            {"code": ">>> double(2)\\n4", "hidden": False, "points": 1},
            {"code": ">>> y = double(5)\\n>>> y + offset\\n11"},
        ]}]}
''')


def test_ok_format_question_grades_with_otters_semantics(tmp_path):
    from otter.test_files.ok_test import OKTestFile

    path = tmp_path / "q9.py"
    path.write_text(OK_FILE)
    question = load_question(path)
    theirs = OKTestFile.from_file(str(path))
    assert [c.points for c in question.cases] == [tc.points for tc in theirs.test_cases] == [1, 2]
    assert [c.hidden for c in question.cases] == [False, True]  # otter: hidden unless said
    assert question.cases[1].params == ("double", "offset")  # y is the doctest's own
    good = run_question(question, {"double": lambda v: 2 * v, "offset": 1})
    assert (good.score, good.max_score) == (3.0, 3.0)
    bad = run_question(question, {"double": lambda v: 2 * v, "offset": 2})
    assert [c.passed for c in bad.cases] == [True, False] and bad.score == 1.0
    assert "Expected:\n    11\nGot:\n    12" in bad.cases[1].message


def test_discovery_is_otters_and_errors_name_the_file(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "q10.py").write_text(OK_FILE)
    (tests / "extra_check.py").write_text(OK_FILE)
    (tests / "q2.py").write_text(OK_FILE)
    (tests / "__init__.py").write_text("")
    assert [p.name for p in question_files(tests)] == ["extra_check.py", "q2.py", "q10.py"]
    broken = tests / "broken.py"
    broken.write_text("x = 1\n")
    with pytest.raises(FileError, match="broken.py: not an otter test file"):
        load_question(broken)
    broken.write_text("OK_FORMAT = True\ntest = {'name': 'q', 'suites': []}\n")
    with pytest.raises(FileError, match="broken.py: not an OK-format test otter supports"):
        load_question(broken)


def test_failure_message_keeps_otters_failing_line(tmp_path):
    path = tmp_path / "q1.py"
    path.write_text(TESTS)
    question = load_question(path)
    result = run_question(question, {"sneaky_int": 4})
    message = next(c for c in result.cases if c.case == "test_int_subclass").message
    line = next(i for i, text in enumerate(TESTS.split("\n"), 1) if "sneaky_int == 3" in text)
    assert f"Error at line {line} in test q1:\n  assert type(sneaky_int) is int" in message
