"""Nothing hidden reaches student_template/: reference code, hidden cases, hidden values."""

from __future__ import annotations

import pytest

from autograder.release import ASSIGNMENTS
from autograder.release.expected import record_expected
from autograder.release.leaks import find_leaks
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from autograder.testfiles import load_questions

COMMITTED = PROJECT_ROOT / "student_template"


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_no_hidden_material_in_student_template(hw):
    template = COMMITTED / hw
    assert template.is_dir(), f"{template} is missing: run `autograder build {hw}`"
    source = assignment_source(hw, repo_root=PROJECT_ROOT)
    solutions = load_solutions(source)
    questions = load_questions(source.tests_dir)
    assert any(q.hidden_cases for q in questions), f"{hw} has no hidden case at all"
    recorded = record_expected(questions, solutions, hw=hw)
    leaks = find_leaks(
        template,
        solutions=solutions,
        questions=questions,
        expected=recorded.values,
        hidden_only_keys=recorded.hidden_only_keys(),
    )
    assert leaks == [], "\n".join(map(str, leaks))
    # and the student copies of the tests hold public cases only
    for question in load_questions(template / "tests"):
        assert question.hidden_cases == (), f"{hw} {question.name} ships a hidden case"
