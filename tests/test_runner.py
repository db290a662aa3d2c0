"""The test-file loader and the case runner: points as otter resolves them, failures as records."""

from __future__ import annotations

import textwrap

import pytest
from otter.test_files.exception_test import ExceptionTestFile

from autograder.runner import MAX_MESSAGE_CHARS, run_question
from autograder.testfiles import load_question, load_questions, question_files

TEST_FILE = textwrap.dedent(
    '''
    from otter.test_files import test_case

    OK_FORMAT = False

    name = "q1"
    points = 6

    @test_case(points=1, hidden=False, failure_message="double must multiply by two")
    def test_public(double):
        assert double(2) == 4, f"double(2) gave {double(2)}"

    @test_case(hidden=True)
    def test_hidden_a(double):
        assert double(-3) == -6

    @test_case(hidden=True)
    def test_hidden_b(double, halve):
        assert halve(double(5)) == 5
    '''
)


@pytest.fixture
def question_path(tmp_path):
    path = tmp_path / "tests" / "q1.py"
    path.parent.mkdir()
    path.write_text(TEST_FILE)
    return path


def test_points_resolve_as_otter_resolves_them(question_path):
    question = load_question(question_path)
    otter_file = ExceptionTestFile.from_file(str(question_path))
    assert [case.points for case in question.cases] == [tc.points for tc in otter_file.test_cases]
    # 6 points: 1 pre-set, the other 5 shared by the two cases without points.
    assert [case.points for case in question.cases] == [1.0, 2.5, 2.5]
    assert question.points == 6.0
    assert [case.hidden for case in question.cases] == [False, True, True]
    assert question.cases[2].params == ("double", "halve")


def test_correct_namespace_scores_full_marks(question_path):
    question = load_question(question_path)
    result = run_question(question, {"double": lambda x: 2 * x, "halve": lambda x: x / 2})
    assert result.passed
    assert (result.score, result.max_score) == (6.0, 6.0)


def test_wrong_function_fails_with_its_messages(question_path):
    question = load_question(question_path)
    result = run_question(question, {"double": lambda x: x + 2, "halve": lambda x: x / 2})
    public = result.cases[0]
    assert public.passed  # 2 + 2 == 4: the public case alone cannot tell
    assert not result.cases[1].passed
    assert result.score == 1.0 + 0.0 + 0.0
    assert "AssertionError" in result.cases[1].message


def test_missing_name_and_exception_become_failed_cases(question_path):
    question = load_question(question_path)

    def broken(x):
        raise ValueError("shapes (3,) and (4,) not aligned")

    result = run_question(question, {"double": broken})
    assert result.score == 0.0
    assert "double must multiply by two" in result.cases[0].message
    assert "ValueError: shapes (3,) and (4,) not aligned" in result.cases[0].message
    assert "`halve` is not defined" in result.cases[2].message


def test_public_only_run_drops_hidden_cases_and_their_points(question_path):
    question = load_question(question_path)
    result = run_question(question, {"double": lambda x: 2 * x}, include_hidden=False)
    assert [case.case for case in result.cases] == [question.cases[0].name]
    assert (result.score, result.max_score) == (1.0, 1.0)


def test_student_controlled_messages_are_truncated(question_path):
    question = load_question(question_path)

    def flood(x):
        raise RuntimeError("A" * 100_000)

    result = run_question(question, {"double": flood, "halve": flood})
    assert all(len(case.message) <= MAX_MESSAGE_CHARS for case in result.cases)


def test_all_or_nothing_question(tmp_path):
    path = tmp_path / "q2.py"
    path.write_text(TEST_FILE.replace('name = "q1"', 'name = "q2"\nall_or_nothing = True'))
    question = load_question(path)
    result = run_question(question, {"double": lambda x: x + 2, "halve": lambda x: x / 2})
    assert result.score == 0.0 and result.max_score == 6.0


def test_question_files_sort_naturally(tmp_path):
    for n in (10, 2, 1):
        (tmp_path / f"q{n}.py").write_text(TEST_FILE.replace('"q1"', f'"q{n}"'))
    assert [p.stem for p in question_files(tmp_path)] == ["q1", "q2", "q10"]
    assert [q.name for q in load_questions(tmp_path)] == ["q1", "q2", "q10"]
