"""Every known bug (assignments/<hw>/mutants/*.py) fails the student-visible checks of the
questions its docstring lists, with a failure message that mentions the listed text.

The checks run the way ``grader.check`` runs them in Jupyter: otter's ``Checker`` on the
student template's test file, against the reference namespace with the mutant laid over it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from otter.execute import Checker
from otter.nbmeta_config import NBMetadataConfig

from autograder.release.expected import expected_dir_unset
from autograder.release.mutants import load_mutant, mutant_namespace
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions

MUTANTS = sorted((PROJECT_ROOT / "assignments").glob("*/mutants/*.py"))


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


def test_every_assignment_has_mutants():
    hws = {path.parent.parent.name for path in MUTANTS}
    present = {p.name for p in (PROJECT_ROOT / "assignments").iterdir() if p.is_dir()}
    assert present <= hws, f"no mutants for {sorted(present - hws)}"


@pytest.mark.parametrize("path", MUTANTS, ids=_id)
def test_mutant_fails_listed_questions_with_message(path):
    hw = path.parent.parent.name
    template = PROJECT_ROOT / "student_template" / hw
    assert template.is_dir(), f"run `autograder build {hw}`"
    mutant = load_mutant(path)
    assert mutant.fails, f"{path.name}: `fails:` lists no question"
    solutions = load_solutions(assignment_source(hw, repo_root=PROJECT_ROOT))
    env = mutant_namespace(dict(vars(solutions)), mutant)
    for question in mutant.fails:
        test_path = template / "tests" / f"{question}.py"
        assert test_path.is_file(), f"{path.name} lists {question}, which has no test file"
        with expected_dir_unset():
            result = Checker.check(str(test_path), NBMetadataConfig(), None, env)
        output = repr(result)
        assert not result.passed_all_public, f"{path.name}: every public case of {question} passes"
        assert mutant.message.casefold() in output.casefold(), (
            f"{path.name}: {question} fails but its output does not mention "
            f"{mutant.message!r}:\n{output}"
        )
