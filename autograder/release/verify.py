"""``autograder verify <hw>``: the TA's proof that an assignment is ready to release.

Runs in-process with the runner: the reference, the blank template and the mutants are trusted
code. Builds into a temporary folder, so the committed ``student_template/`` is only read.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.release.case_lint import never_failing_checks
from autograder.release.core import build_assignment, compare_trees
from autograder.release.expected import expected_dir_unset, record_expected, reference_namespace
from autograder.release.leaks import find_leaks
from autograder.release.mutants import load_mutant, mutant_files, mutant_namespace
from autograder.release.notebook import student_code_cells
from autograder.release.sources import BuildError, assignment_source, load_solutions
from autograder.release.values import ULPS, value_differences
from autograder.runner import QuestionResult, run_question
from autograder.testfiles import Question, load_questions

#: A case must finish well under a second against a correct submission (docs/architecture.md).
CASE_TIME_BUDGET_S = 1.0
CHECKS_CAN_FAIL = "every check can fail (source: no `return` before it, no self-comparison)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class VerifyReport:
    hw: str
    checks: list[Check] = field(default_factory=list)
    #: The kill matrix and what it was made from (set when verify ran its mutation stage).
    mutation: Any = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> Check:
        check = Check(name, bool(ok), detail)
        self.checks.append(check)
        return check


def blank_namespace(notebook_path: Path) -> dict[str, Any]:
    """Run the template's own code cells (not the otter cells), as a student who filled nothing."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for source in student_code_cells(nb):
            try:
                exec(compile(source, str(notebook_path), "exec"), namespace)
            except Exception:  # a cell that calls a blank stub fails, as it would in Jupyter
                continue
    return namespace


def recording_differences(values: Mapping[str, Mapping[str, Any]], expected_dir: Path) -> list[str]:
    """Where a second recording differs from ``expected_dir/<question>.npz`` beyond rounding."""
    from autograder.checks import load_expected

    problems = []
    for question in sorted(values):
        path = expected_dir / f"{question}.npz"
        stored = load_expected(path) if path.is_file() else {}
        problems += [
            f"expected/{question}.npz {detail}"
            for detail in value_differences(dict(sorted(values[question].items())), stored, "values")
        ]
    return problems


def run_all(
    questions: list[Question], namespace: Mapping[str, Any], *, include_hidden: bool = True
) -> list[QuestionResult]:
    # Wrong code prints (overflow warnings of a mutant, a blank cell's output): keep the
    # report readable. Warning filters are left alone, so tests that record warnings still do.
    sink = io.StringIO()
    with expected_dir_unset(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return [run_question(q, namespace, include_hidden=include_hidden) for q in questions]


def boundary_checked(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """``namespace`` with every function wrapped so that a call whose arguments could not cross
    the sandbox boundary fails as a test-authoring error: verify runs the reference in-process,
    but the batch grader would refuse such an argument (``sandbox.calls``)."""
    import functools
    import types

    from autograder.sandbox.calls import authoring_problem

    out = dict(namespace)
    for name, fn in namespace.items():
        if not isinstance(fn, types.FunctionType):
            continue

        @functools.wraps(fn)
        def wrapped(*args, _fn=fn, _name=name, **kwargs):
            why = authoring_problem(args, kwargs)
            if why:
                raise AssertionError(f"test-authoring error: the call of {_name} {why}")
            return _fn(*args, **kwargs)

        out[name] = wrapped
    return out


def differing_cases(first: list[QuestionResult], second: list[QuestionResult]) -> list[str]:
    """``question/case`` of each case whose outcome or message differs between two runs (in the
    first run's order): what a TA must seed, not only which submission showed it."""
    runs = [{(c.question, c.case): (c.passed, c.message) for r in rs for c in r.cases}
            for rs in (first, second)]
    keys = list(runs[0]) + [k for k in runs[1] if k not in runs[0]]
    return [f"{q}/{case}" for q, case in keys if runs[0].get((q, case)) != runs[1].get((q, case))]


def _score(results: list[QuestionResult]) -> tuple[float, float]:
    return sum(r.score for r in results), sum(r.max_score for r in results)


def check_mutant(
    mutant_path: Path, questions: list[Question], reference: Mapping[str, Any]
) -> tuple[bool, str, list[QuestionResult]]:
    """Do the mutant's listed questions fail publicly, with the listed message, and lose points?"""
    mutant = load_mutant(mutant_path)
    namespace = mutant_namespace(dict(reference), mutant)
    by_name = {q.name: q for q in questions}
    problems, notes, results = [], [], []
    for q_name in mutant.fails:
        if q_name not in by_name:
            problems.append(f"lists {q_name}, which has no test file")
            continue
        public = run_all([by_name[q_name]], namespace, include_hidden=False)[0]
        full = run_all([by_name[q_name]], namespace, include_hidden=True)[0]
        results.append(full)
        failed = [c for c in public.cases if not c.passed]
        text = "\n".join(c.message for c in failed)
        if not failed:
            problems.append(f"{q_name}: every public case passes")
        elif mutant.message.casefold() not in text.casefold():
            problems.append(
                f"{q_name}: fails, but no failure message mentions {mutant.message!r}; got: "
                + text[:300].replace("\n", " ")
            )
        if full.score >= full.max_score:
            problems.append(f"{q_name}: loses no points")
        notes.append(f"{q_name} {full.score:g}/{full.max_score:g}")
    return not problems, "; ".join(problems) or ", ".join(notes), results


def verify_assignment(
    hw: str,
    *,
    repo_root: str | Path,
    template_dir: str | Path | None = None,
    solutions_path: str | Path | None = None,
    checks_dir: str | Path | None = None,
    mutation: Any = None,
) -> VerifyReport:
    """The release checks of ``hw``. ``mutation`` (a ``verify_mutants.MutationOptions``) adds
    the batch-graded kill matrix (``autograder verify`` always passes one); ``None`` skips it."""
    repo_root = Path(repo_root).resolve()
    template_dir = Path(template_dir) if template_dir is not None else repo_root / "student_template"
    report = VerifyReport(hw)
    source = assignment_source(
        hw, repo_root=repo_root, solutions_path=solutions_path, checks_dir=checks_dir
    )
    with tempfile.TemporaryDirectory(prefix=f"verify-{hw}-") as tmp:
        tmp_path = Path(tmp)
        try:
            built = build_assignment(
                hw,
                repo_root=repo_root,
                out_dir=tmp_path / "build",
                template_dir=tmp_path / "template",
                solutions_path=solutions_path,
                checks_dir=checks_dir,
                make_zip=False,
            )
        except BuildError as error:
            report.add("build (reference passes its own tests)", False, str(error))
            return report
        report.add(
            "build (reference passes its own tests)",
            True,
            f"{len(built.questions)} questions, {built.total_points:g} points, "
            f"{sum(q.public_cases for q in built.questions)} public + "
            f"{sum(q.hidden_cases for q in built.questions)} hidden cases",
        )
        assert built.bundle_path is not None
        questions = load_questions(built.bundle_path / "tests")
        solutions = load_solutions(source)
        reference = reference_namespace(solutions)

        # 1. The reference earns every point, hidden cases included (replaying the bundle), and
        # every argument a test passes could cross the sandbox boundary of the batch grader.
        ref_results = run_all(questions, boundary_checked(reference))
        earned, possible = _score(ref_results)
        failing = [f"{c.question}/{c.case}" for r in ref_results for c in r.cases if not c.passed]
        report.add(
            "reference scores full marks",
            earned == possible and not failing,
            f"{earned:g}/{possible:g}" + (f"; failing: {', '.join(failing)}" if failing else ""),
        )
        slowest = max((c for r in ref_results for c in r.cases), key=lambda c: c.duration_s)
        report.add(
            f"every case under {CASE_TIME_BUDGET_S:g} s on the reference",
            slowest.duration_s < CASE_TIME_BUDGET_S,
            f"slowest {slowest.question}/{slowest.case}: {slowest.duration_s:.3f} s",
        )

        # 2. The blank template (stubs raising NotImplementedError) earns nothing.
        blank = blank_namespace(built.template_path / f"{hw}.ipynb")
        blank_results = run_all(questions, blank)
        earned, _ = _score(blank_results)
        passing = [f"{c.question}/{c.case}" for r in blank_results for c in r.cases if c.passed]
        report.add(
            "blank template scores zero",
            earned == 0 and not passing,
            f"{earned:g}/{possible:g}" + (f"; passing: {', '.join(passing)}" if passing else ""),
        )

        # 2b. No check that cannot fail, read from the source: the kill matrix judges whole
        # cases, and a case with one live check hides a dead one.
        never = never_failing_checks(load_questions(source.tests_dir))
        report.add(
            CHECKS_CAN_FAIL,
            not never,
            "; ".join(never[:5]) or "no `return` before a check, no value compared with itself",
        )

        # 3. Every mutant loses points on its listed questions, with the listed message.
        mutant_runs = []
        paths = mutant_files(source.mutants_dir)
        if not paths:
            report.add("mutants", False, f"no mutants in {source.mutants_dir}")
        for path in paths:
            try:
                ok, detail, results = check_mutant(path, questions, reference)
            except BuildError as error:
                ok, detail, results = False, str(error), []
            report.add(f"mutant {path.stem}", ok, detail)
            mutant_runs.append((path, results))

        # 3b. Every mutant through the batch grader: the kill matrix and its checks.
        if mutation is not None:
            from autograder.release.verify_mutants import run_mutation_stage

            report.mutation = run_mutation_stage(
                report, source, load_questions(source.tests_dir), built.bundle_path, mutation
            )

        # 4. Determinism: the same outcomes and messages on a second run, and a second recording
        # of the expected values means the same as the bundle's (floats within ULPS).
        recorded = record_expected(load_questions(source.tests_dir), solutions, hw=hw)
        unstable = []
        reruns = [("reference", run_all(questions, reference), ref_results),
                  ("blank template", run_all(questions, blank), blank_results)]
        reruns += [(f"mutant {path.stem}", check_mutant(path, questions, reference)[2], results)
                   for path, results in mutant_runs if results]
        unstable_cases: set[str] = set()
        for label, again, first in reruns:
            cases = differing_cases(first, again)
            if cases:
                unstable.append(f"{', '.join(cases)} on the {label}")
                unstable_cases.update(cases)
        unstable += recording_differences(recorded.values, built.bundle_path / "expected")
        report.add(
            "deterministic (second run, same outcomes and messages)",
            not unstable,
            "differs: " + "; ".join(unstable[:5])
            + (f" (fix: {', '.join(sorted(unstable_cases))} must give the same result every "
               "run: seed every random draw, e.g. np.random.default_rng(<seed>))"
               if unstable_cases else "")
            if unstable
            else f"reference, blank, mutants; expected values within {ULPS} ULPs",
        )

        # 5. Nothing hidden in the student copy, and the committed copy is current.
        committed = template_dir / hw
        shipped = committed if committed.is_dir() else built.template_path
        leaks = find_leaks(
            shipped,
            solutions=solutions,
            questions=load_questions(source.tests_dir),
            expected=recorded.values,
            hidden_only_keys=recorded.hidden_only_keys(),
            recorded_by={key: case for (_, case), keys in recorded.keys_by_case.items()
                         for key in keys},
        )
        report.add(
            "nothing hidden in the student copy",
            not leaks,
            "; ".join(map(str, leaks[:5])) or f"scanned {shipped}",
        )
        stale = compare_trees(built.template_path, committed)
        report.add(
            "student_template is current",
            not stale,
            "; ".join(stale[:5]) + (f" (run `autograder build {hw}`)" if stale else ""),
        )
    return report
