"""Every hand-written mutant, graded by the real batch grader, gets a message that names its mistake.

One ``grade_class`` run per assignment over all of its mutants (the reference cell first, the
mutant's cell laid over it, as a student's notebook would redefine a function). For each mutant,
some failing public case of a question its docstring lists must carry the docstring's
``message:`` text: the words a student reads in the feedback and in ``results.json``. The case
names a student sees must say what they check (not otter's default ``q1 - 1``).
"""

from __future__ import annotations

import inspect
import re

import pytest

from autograder.grade import grade_class
from autograder.release import ASSIGNMENTS
from autograder.release.mutants import load_mutant, mutant_files
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from tests.fixtures.grade_helpers import results_json, stored, write_notebook

pytestmark = pytest.mark.slow

_DEFAULT_NAME = re.compile(r"^q\d+ - \d+$")


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_every_mutant_message_names_its_mistake(hw, fresh_build, tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    build = fresh_build(hw)
    source = assignment_source(hw, repo_root=PROJECT_ROOT)
    reference = inspect.getsource(load_solutions(source))
    mutants = {}
    for i, path in enumerate(mutant_files(source.mutants_dir)):
        sid = f"m{i:03d}"
        mutants[sid] = load_mutant(path)
        write_notebook(tmp_path / "subs" / f"{sid}.ipynb",
                       [reference, path.read_text(encoding="utf-8")])
    assert mutants, f"{hw} has no mutants"
    grade_class(tmp_path / "subs", build.bundle_path, tmp_path / "out", progress=False, workers=2)
    results = stored(tmp_path / "out")
    problems = []
    for sid, mutant in mutants.items():
        cases = results[sid]["cases"]
        unnamed = sorted({c["name"] for c in cases if _DEFAULT_NAME.match(c["name"])})
        if unnamed:
            problems.append(f"{mutant.name}: cases without a name that says what they check: {unnamed}")
        failed = [c for c in cases if not c["passed"] and not c["hidden"]
                  and c["question"] in mutant.fails]
        if not failed:
            problems.append(f"{mutant.name}: no public case of {mutant.fails} fails")
            continue
        text = "\n".join(c["message"] for c in failed)
        if mutant.message.casefold() not in text.casefold():
            problems.append(f"{mutant.name}: no failure message mentions {mutant.message!r}; "
                            f"got: {text[:400]!r}")
    assert not problems, "\n".join(problems)
    # diagnosis by known mistakes (recorded at build): most mutants are named as such; the rest
    # are in-place changes, random-generator misuse, trajectories and overflows, which other
    # checks name (measured at the time of writing: hw1 11/16, hw2 17/24, hw3 18/21, hw4 20/27)
    named = [sid for sid in mutants if any("known mistake: your result is what" in c["message"]
                                           for c in results[sid]["cases"] if not c["passed"])]
    assert len(named) >= 0.6 * len(mutants), (
        f"{hw}: only {len(named)} of {len(mutants)} mutants get a known-mistake diagnosis")
    # the names reach results.json as they are (Gradescope shows them to the student)
    sid = next(iter(mutants))
    shown = {t["name"] for t in results_json(tmp_path / "out", sid)["tests"]}
    names = {c["name"] for c in results[sid]["cases"]}
    assert all(any(n in s for s in shown) for n in names), (sorted(shown), sorted(names))
