"""student_template/ is generated: a rebuild into a temporary folder gives the same bytes."""

from __future__ import annotations

import pytest

from autograder.release import ASSIGNMENTS, compare_trees
from autograder.release.notebook import stored_source_hash
from autograder.release.sources import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "student_template"


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_student_template_is_current(hw, fresh_build):
    result = fresh_build(hw)
    committed = COMMITTED / hw
    assert committed.is_dir(), f"{committed} is missing: run `autograder build {hw}`"
    problems = compare_trees(result.template_path, committed)
    assert problems == [], (
        f"student_template/{hw} is stale (run `autograder build {hw}`):\n" + "\n".join(problems)
    )
    assert stored_source_hash(committed / f"{hw}.ipynb") == result.source_hash
