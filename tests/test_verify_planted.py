"""``autograder verify`` fails on each kind of problem planted in a scratch copy of hw4 (issue 11).

Each test copies hw4_optimizers (assignment, reference solutions, a freshly built student
template) into its own folder, plants ONE problem the way a TA might write it by mistake,
rebuilds the template as a TA would after editing tests, and runs the real verify (``run_verify``,
what the CLI calls: in-process checks, the batch-graded kill matrix, the terminal report and
``build/<hw>/verify.json``). It must say NOT ready, fail exactly the check that answers the
problem, and name the case, mutant or file to fix. The unmodified copy is the control: it is
ready to release, so every failure below is the planted problem's.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from autograder.release.case_lint import never_failing_checks
from autograder.release.console import run_verify
from autograder.release.core import build_assignment
from autograder.release.sources import PROJECT_ROOT
from autograder.release.verify import CASE_TIME_BUDGET_S, CHECKS_CAN_FAIL
from autograder.release.verify_mutants import MutationOptions
from autograder.testfiles import load_questions

HW = "hw4_optimizers"
#: One hand-written mutant per stub (sgd_linear_regression's cases are killed by those of the
#: steps it calls). Together they kill every case of hw4: the control test proves it with the
#: kill matrix. Grading 6 mutants instead of 27 keeps a verify run to seconds; the planted
#: problems do not depend on the choice (a dead case kills no mutant at all).
KEPT_MUTANTS = (
    "sgd_step__gradient_ascent",
    "minibatch_indices__no_shuffle",
    "momentum_step__ema_form",
    "adagrad_norm_step__eps_outside_root",
    "rmsprop_step__no_square_root",
    "adam_step__no_bias_correction",
)
#: No generated mutants: each planted problem is caught by the hand-written ones.
OPTIONS = MutationOptions(per_stub=0, budget_s=300.0, workers=2)
#: A row of the TA's report, never asserted on (no timed assertions in tests).
TIMING_ROW = f"every case under {CASE_TIME_BUDGET_S:g} s on the reference"

KILL_MATRIX_ROW = "every case kills a mutant (kill matrix)"
BATCH_SURVIVOR_ROW = "every hand-written mutant killed by the batch grader"
DETERMINISM_ROW = "deterministic (second run, same outcomes and messages)"
LEAK_ROW = "nothing hidden in the student copy"


def _build_template(root: Path) -> None:
    """``autograder build`` of the copy: its own committed ``student_template/``."""
    build_assignment(HW, repo_root=root, out_dir=root / "build",
                     template_dir=root / "student_template", make_zip=False)


@pytest.fixture(scope="module")
def base_copy(tmp_path_factory) -> Path:
    """hw4 with the kept mutants and its template, built once for the module."""
    root = tmp_path_factory.mktemp("hw4-copy")
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    shutil.copytree(PROJECT_ROOT / "assignments" / HW, root / "assignments" / HW, ignore=ignore)
    for mutant in (root / "assignments" / HW / "mutants").glob("*.py"):
        if mutant.stem not in KEPT_MUTANTS:
            mutant.unlink()
    # No solutions/__init__.py: the copy's reference is loaded by path, so the project's
    # ``solutions`` package stays the one imported in this process.
    (root / "solutions").mkdir()
    shutil.copy(PROJECT_ROOT / "solutions" / f"{HW}.py", root / "solutions" / f"{HW}.py")
    _build_template(root)
    return root


@dataclass
class Verified:
    code: int
    output: str
    checks: dict[str, tuple[bool, str]]  # name -> (ok, detail), from build/<hw>/verify.json

    @property
    def failed(self) -> set[str]:
        return {name for name, (ok, _) in self.checks.items() if not ok and name != TIMING_ROW}

    def detail(self, name: str) -> str:
        return self.checks[name][1]

    @property
    def ready(self) -> bool:
        return f"{HW}: ready to release" in self.output


def verify_copy(base: Path, tmp_path: Path, plant: Callable[[Path], None] | None, *,
                rebuild: bool = True) -> Verified:
    """Plant in a copy of ``base``, rebuild its template (``rebuild``), run verify."""
    root = tmp_path / "repo"
    shutil.copytree(base, root)
    if plant is not None:
        plant(root / "assignments" / HW)
        if rebuild:
            _build_template(root)
    out = io.StringIO()
    code = run_verify((HW,), repo_root=root, console=Console(file=out, width=2000),
                      mutation=OPTIONS)
    data = json.loads((root / "build" / HW / "verify.json").read_text(encoding="utf-8"))
    checks = {c["name"]: (c["ok"], c["detail"]) for c in data["checks"]}
    return Verified(code, out.getvalue(), checks)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old``: a plant that finds nothing to change must fail
    here, not pass as a test of an unmodified copy."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def assert_not_ready(result: Verified, row: str, *names: str, also: tuple[str, ...] = ()) -> None:
    """NOT ready; ``row`` (and the rows ``also``) fail, nothing else; ``row`` names ``names``."""
    assert result.code == 1, result.output
    assert f"{HW}: NOT ready" in result.output
    assert result.failed == {row, *also}, result.failed
    detail = result.detail(row)
    for name in names:
        assert name in detail, detail
    # the terminal says it too, one line per failed check (shown with `pytest -s`)
    for failed in (row, *also):
        print(f"FAIL {failed}: {result.detail(failed)}")
        assert f"{HW}: FAIL {failed}: {result.detail(failed)}" in result.output


def test_control_unmodified_copy_is_ready(base_copy, tmp_path):
    result = verify_copy(base_copy, tmp_path, plant=None)
    assert result.failed == set(), "\n".join(f"{n}: {result.detail(n)}" for n in result.failed)
    ok_timing = result.checks[TIMING_ROW][0]
    assert result.ready == ok_timing and result.code == (0 if ok_timing else 1), result.output
    for row in (KILL_MATRIX_ROW, CHECKS_CAN_FAIL, BATCH_SURVIVOR_ROW, DETERMINISM_ROW, LEAK_ROW,
                "blank template scores zero", "student_template is current"):
        assert result.checks[row][0], row
    assert result.detail(BATCH_SURVIVOR_ROW) == f"{len(KEPT_MUTANTS)}/{len(KEPT_MUTANTS)} killed"


def test_case_returning_before_its_assert_is_dead(base_copy, tmp_path):
    case = "momentum_step: trajectory and convergence"

    def plant(hw_dir: Path) -> None:
        edit(hw_dir / "tests" / "q2.py",
             "    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,\n"
             "                            name=\"momentum (lr=1, beta=0.3) on a quadratic\"",
             "    return\n"
             "    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,\n"
             "                            name=\"momentum (lr=1, beta=0.3) on a quadratic\"")

    result = verify_copy(base_copy, tmp_path, plant)
    assert_not_ready(result, KILL_MATRIX_ROW, f"q2/{case} kills none of {len(KEPT_MUTANTS)}",
                     "a `return` before its assert?", also=(CHECKS_CAN_FAIL,))
    assert f"q2/{case} (tests/q2.py line " in result.detail(CHECKS_CAN_FAIL)
    assert "`return` before line" in result.detail(CHECKS_CAN_FAIL)


def test_case_comparing_expected_with_itself_is_dead(base_copy, tmp_path):
    case = "adam_step: epsilon with tiny gradients"

    def plant(hw_dir: Path) -> None:
        edit(hw_dir / "tests" / "q5.py",
             "    assert_close(got, expected, rtol=1e-10, atol=1e-30,",
             "    assert_close(expected, expected, rtol=1e-10, atol=1e-30,")

    result = verify_copy(base_copy, tmp_path, plant)
    assert_not_ready(result, KILL_MATRIX_ROW, f"q5/{case} kills none of",
                     "the expected value compared with itself?", also=(CHECKS_CAN_FAIL,))
    assert (f"q5/{case} (tests/q5.py line " in result.detail(CHECKS_CAN_FAIL)
            and "assert_close(expected, expected, ...) compares a value with itself"
            in result.detail(CHECKS_CAN_FAIL))
    # only the vacuous case is dead: the other q5 cases still kill the Adam mutant
    assert result.detail(KILL_MATRIX_ROW).count("kills none of") == 1


def _reference_copy_of_sgd_step() -> str:
    """sgd_step and its helper exactly as solutions/ writes them, as a "mutant" module."""
    text = (PROJECT_ROOT / "solutions" / f"{HW}.py").read_text(encoding="utf-8")
    functions = {node.name: ast.get_source_segment(text, node) for node in ast.parse(text).body
                 if isinstance(node, ast.FunctionDef)}
    return (
        '"""sgd_step copied from the reference: a "mistake" that is in fact correct.\n\n'
        'fails: q1\nmessage: theta - lr * grad\n"""\nimport numpy as np\n\n\n'
        + functions["_f64"] + "\n\n\n" + functions["sgd_step"] + "\n"
    )


def test_correct_hand_written_mutant_survives(base_copy, tmp_path):
    mutant = "sgd_step__reference_copy"

    def plant(hw_dir: Path) -> None:
        (hw_dir / "mutants" / f"{mutant}.py").write_text(_reference_copy_of_sgd_step(),
                                                          encoding="utf-8")

    # a mutant returning what the reference returns adds no known mistake to the template, so
    # there is nothing to rebuild ("student_template is current" stays ok: asserted below)
    result = verify_copy(base_copy, tmp_path, plant, rebuild=False)
    assert result.code == 1 and f"{HW}: NOT ready" in result.output
    # the in-process check and the batch grader's kill matrix both name it
    assert result.failed == {f"mutant {mutant}", BATCH_SURVIVOR_ROW}, result.failed
    assert "q1: every public case passes" in result.detail(f"mutant {mutant}")
    assert "q1: loses no points" in result.detail(f"mutant {mutant}")
    assert f"{mutant} passes all 22 cases" in result.detail(BATCH_SURVIVOR_ROW)
    assert "add the test its docstring promises, or delete the mutant" in result.detail(
        BATCH_SURVIVOR_ROW)


def test_public_case_leaking_a_hidden_expected_value(base_copy, tmp_path):
    case = "momentum_step: one step, velocity' = beta v + grad"

    def plant(hw_dir: Path) -> None:
        # the public case records what the hidden case's first input (rng 21, shape (4,),
        # beta = 0) gives: the student's expected/q2.npz would carry the hidden answer
        edit(hw_dir / "tests" / "q2.py",
             '    ref = Reference("q2")\n    rng = np.random.default_rng(20)\n',
             '    ref = Reference("q2")\n'
             '    peek = np.random.default_rng(21)\n'
             '    hidden_inputs = [peek.normal(size=(4,)) for _ in range(3)]\n'
             '    ref.call("mom_peek", "momentum_step", *hidden_inputs, 0.05, 0.0)\n'
             '    rng = np.random.default_rng(20)\n')

    result = verify_copy(base_copy, tmp_path, plant)
    assert_not_ready(result, LEAK_ROW, "hidden expected in expected/q2.npz",
                     f"public key 'mom_peek' (recorded by case {case!r})",
                     "equals hidden q2 'mom_hidden_beta0'")
    assert result.detail(LEAK_ROW).count("mom_peek") == 1  # once, not once per array


def test_unseeded_random_case_is_not_deterministic(base_copy, tmp_path):
    case = "sgd_step: one step"

    def plant(hw_dir: Path) -> None:
        # first in the case, so the mutant's failure message shows the unseeded numbers
        edit(hw_dir / "tests" / "q1.py",
             '    ref = Reference("q1")\n    rng = np.random.default_rng(10)\n',
             '    ref = Reference("q1")\n'
             '    drawn = np.random.normal(size=3)\n'
             '    assert_close(sgd_step(drawn, drawn, 0.5), 0.5 * drawn, rtol=1e-12, atol=0.0,\n'
             '                 name="sgd_step(d, d, 0.5) on unseeded draws d", hint=SGD_HINT)\n'
             '    rng = np.random.default_rng(10)\n')

    result = verify_copy(base_copy, tmp_path, plant)
    assert_not_ready(result, DETERMINISM_ROW,
                     f"q1/{case} on the mutant sgd_step__gradient_ascent",
                     f"(fix: q1/{case} must give the same result every run: seed")
    # the reference passes it every time: its outcome, not the mutant, is stable
    assert "on the reference" not in result.detail(DETERMINISM_ROW)


def test_return_cutting_off_one_check_of_a_live_case(base_copy, tmp_path):
    """The issue's own example: hw4 q2's first case with ``return`` just before its
    ``assert_close``. Its ``assert_no_mutation`` still kills the in-place mutant, so the kill
    matrix keeps the case alive; the source row names the check cut off. (Read from the
    source, no verify run needed: the row's wiring is shown by the dead-case tests.)"""
    tests = tmp_path / "tests"
    shutil.copytree(base_copy / "assignments" / HW / "tests", tests)
    case = "momentum_step: one step, velocity' = beta v + grad"
    edit(tests / "q2.py",
         "    assert_close(got, expected, rtol=1e-12, atol=1e-15,\n"
         "                 name=\"momentum_step(theta, grad, velocity, lr=0.1, beta=0.9)\"",
         "    return\n"
         "    assert_close(got, expected, rtol=1e-12, atol=1e-15,\n"
         "                 name=\"momentum_step(theta, grad, velocity, lr=0.1, beta=0.9)\"")
    text = (tests / "q2.py").read_text(encoding="utf-8").splitlines()
    ret = text.index("    return") + 1
    assert never_failing_checks(load_questions(tests)) == [
        f"q2/{case} (tests/q2.py line {ret}): `return` before line {ret + 1}, which never runs "
        "(fix: delete the `return`)"
    ]
    assert never_failing_checks(load_questions(base_copy / "assignments" / HW / "tests")) == []
