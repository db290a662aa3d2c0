"""The cases run ahead to their first requests, sent together (grade/lookahead.py).

The measure of correctness is the grading without it (``Grader.run_ahead = False``: each case in
its turn, one request after the other): the same status, score, notes and, case by case, the
same verdict and message, on the demo class's correct, partial, mistaken and hostile notebooks
of every assignment, and on tests written to reach the lookahead's own paths (a case that asks
twice while a later case ends the process, cases that park inside process-wide state, requests
that cannot share a request, the grading budget running out in the middle).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from autograder.grade.inputs import discover
from autograder.grade.worker import Grader
from autograder.sandbox.submission import Submission
from tests.fixtures.grade_helpers import make_workdir_root, write_notebook

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ASSIGNMENTS = ["hw1_linear_regression", "hw2_layer_gradient", "hw3_backprop", "hw4_optimizers"]
# correct, partial, a mutation of an argument, a renamed function, an infinite loop and a
# process exit (both in the middle of the cases), an output flood
KINDS = ("correct.ipynb", "partial_first_half", "updates_in_place", "renamed", "mutates",
         "hostile_infinite_loop", "hostile_os_exit", "hostile_output_flood")
SHORT = dict(run_wall_s=20.0, run_cpu_s=20.0, call_wall_s=2.0, call_cpu_s=2.0, memory_mb=512)
REQUESTS = ("call", "calls", "loop")


def _verdicts(result: dict) -> dict:
    return {"status": result["status"], "score": result["score"], "message": result["message"],
            "cases": [(c["name"], c["passed"], c["message"])
                      for q in result["questions"] for c in q["cases"]]}


class _Counted:
    """The ops the grader sends to any sandbox while the block runs."""

    def __enter__(self) -> list:
        self.sent: list = []
        self._original = Submission._send
        sent, original = self.sent, self._original

        def send(sub, header, arrays, deadline):
            sent.append(header.get("op"))
            return original(sub, header, arrays, deadline)

        Submission._send = send
        return self.sent

    def __exit__(self, *exc) -> None:
        Submission._send = self._original


def _grade_both(bundle: Path, notebooks: list[Path], limits: dict = SHORT):
    """``{name: (verdicts ahead, verdicts in turn, requests ahead, requests in turn)}``."""
    root = make_workdir_root()
    grader = Grader(bundle, limits, workdir_root=str(root))
    out = {}
    try:
        for path in notebooks:
            task = _task(path, bundle.name)
            row = []
            for ahead in (True, False):
                grader.run_ahead = ahead
                with _Counted() as sent:
                    row.append(grader.grade(task))
                row.append(sent)
            out[path.stem] = (_verdicts(row[0]), _verdicts(row[2]), row[1], row[3])
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    return out


def _task(path: Path, assignment: str) -> dict:
    folder = path.parent / f"one-{path.stem}"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(path, folder / path.name)
    (ref,) = discover(str(folder), assignment).submissions
    return ref.to_task()


@pytest.mark.slow
@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_running_ahead_grades_the_demo_class_as_one_case_at_a_time(hw, fresh_build, tmp_path):
    bundle = fresh_build(hw).bundle_path
    names = sorted(p.name for p in (EXAMPLES / hw / "submissions").glob("*.ipynb")
                   if any(kind in p.name for kind in KINDS))
    assert len(names) >= 5, names
    notebooks = []
    for name in names:
        shutil.copyfile(EXAMPLES / hw / "submissions" / name, tmp_path / name)
        notebooks.append(tmp_path / name)
    graded = _grade_both(bundle, notebooks)
    n_cases = len(graded[notebooks[0].stem][0]["cases"])
    for name, (ahead, in_turn, sent_ahead, sent_in_turn) in graded.items():
        assert ahead == in_turn, name
        if name.endswith("_correct"):
            assert ahead["score"] > 0 and all(c[1] for c in ahead["cases"])
            # one request for the cells and one for every case's calls, against one per case
            assert [op for op in sent_ahead if op in REQUESTS] == ["calls"], sent_ahead
            assert len([op for op in sent_in_turn if op in REQUESTS]) == n_cases, sent_in_turn
    # the hostile ones did end their process during the cases (what the lookahead must undo)
    hostile = [v[0] for k, v in graded.items() if "infinite_loop" in k or "os_exit" in k]
    assert any("during test" in v["message"] for v in hostile), hostile


def _bundle(tmp_path: Path, tests: str, imports: tuple = ("os", "numpy", "time")) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "tests").mkdir(parents=True)
    (bundle / "tests" / "q1.py").write_text(
        "from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = 'q1'\n"
        "points = 4\n\n" + textwrap.dedent(tests))
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "lookahead",
        "questions": [{"name": "q1", "points": 4.0, "file": "tests/q1.py"}],
        "config": {"imports": {"allow": list(imports), "forbid": []}},
    }))
    return bundle


STUDENT = textwrap.dedent('''
    import os, time
    calls = []
    def f(x):
        calls.append(("f", x))
        return 2 * x
    def g(x):
        calls.append(("g", x))
        return x + 1
    def dies(x):
        if x == 0:
            os._exit(3)
        return x
    def history():
        return list(calls)
''')


def _one(tmp_path: Path, tests: str, student: str = STUDENT, limits: dict = SHORT):
    bundle = _bundle(tmp_path, tests)
    notebook = write_notebook(tmp_path / "sub.ipynb", [student])
    return _grade_both(bundle, [notebook], limits)["sub"]


def test_a_case_asking_twice_after_a_later_case_ended_the_process_is_run_again(tmp_path):
    ahead, in_turn, sent_ahead, _ = _one(tmp_path, '''
        @test_case(name="asks twice", points=1)
        def test_twice(f, g):
            assert f(3) == 6
            assert g(4) == 5        # a later request: the process ended in the next case

        @test_case(name="ends the process", points=1)
        def test_dies(dies):
            dies(0)

        @test_case(name="after the death", points=1)
        def test_after(f):
            assert f(5) == 10

        @test_case(name="state is the sandbox's own", points=1)
        def test_state(f, history):
            f(7)
            assert history() == [("f", 7)], history()
    ''')
    assert ahead == in_turn
    passed = [c[1] for c in ahead["cases"]]
    assert passed == [True, False, True, False], ahead
    assert "during test ends the process" in ahead["message"]
    # ahead: the first requests of all four together, then the first case again alone on a
    # fresh sandbox (its second request met the process the second case ended)
    assert sent_ahead.count("run") == 3, sent_ahead


def test_each_case_keeps_its_own_warnings_filters_output_and_context(tmp_path):
    ahead, in_turn, _, _ = _one(tmp_path, '''
        import contextvars, io, sys, warnings
        import numpy as np
        mark = contextvars.ContextVar("mark", default="unset")
        mark.set("module")  # in the grader's context, where the test file is loaded

        @test_case(name="parks inside its contexts", points=1)
        def test_inside(f):
            buffer = io.StringIO()
            token = mark.set("first")
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                with np.errstate(divide="raise"):
                    old = sys.stdout
                    sys.stdout = buffer
                    try:
                        assert f(1) == 2     # parked here, while the next case runs
                        print("mine")
                        assert mark.get() == "first"
                        assert np.geterr()["divide"] == "raise"
                        try:
                            warnings.warn("still an error here", UserWarning)
                        except UserWarning:
                            pass
                        else:
                            raise AssertionError("the filter was lost while parked")
                    finally:
                        sys.stdout = old
            mark.reset(token)
            assert buffer.getvalue() == "mine\\n"

        @test_case(name="sees none of them", points=1)
        def test_outside(g):
            assert mark.get() == "module"
            assert np.geterr()["divide"] == "warn"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                warnings.warn("only recorded", UserWarning)
            assert len(caught) == 1
            assert not isinstance(sys.stdout, io.StringIO)
            assert g(1) == 2
    ''')
    assert ahead == in_turn
    assert [c[1] for c in ahead["cases"]] == [True, True], ahead


def test_requests_that_cannot_share_a_request_are_made_one_by_one(tmp_path):
    ahead, in_turn, sent_ahead, _ = _one(tmp_path, '''
        import numpy as np
        shared = {}

        @test_case(name="a callback", points=1)
        def test_callback(apply):
            assert apply(lambda v: v * 3, 2) == 6

        @test_case(name="a generator for the next case too", points=1)
        def test_first(draw):
            shared["gen"] = np.random.default_rng(0)   # (set before its request: read ahead)
            assert draw(shared["gen"]) == np.random.default_rng(0).random()

        @test_case(name="the same generator, where the first case left it", points=1)
        def test_second(draw):
            expected = np.random.default_rng(0)
            expected.random()
            assert draw(shared["gen"]) == expected.random()
    ''', student="def apply(fn, x):\n    return fn(x)\ndef draw(gen):\n    return gen.random()\n")
    assert ahead == in_turn
    assert [c[1] for c in ahead["cases"]] == [True, True, True], ahead
    # the callback's case makes its call itself; the two sharing a generator cannot share a
    # request either: three requests, in the order of the cases
    assert len([op for op in sent_ahead if op in REQUESTS]) == 3, sent_ahead


def test_the_grading_budget_stops_the_cases_ahead_as_one_at_a_time(tmp_path):
    # budget: 1 s + 0.5 s per case = 2.5 s; the first case alone asks for 8 x 0.4 s
    limits = dict(run_wall_s=1.0, run_cpu_s=1.0, call_wall_s=0.5, call_cpu_s=0.5,
                  memory_mb=512)
    tests = "".join(f'''
        @test_case(name="slow {i}", points=1)
        def test_slow_{i}(slow):
            from autograder.checks import call_each
            outs = call_each([(slow, (float(k),)) for k in range(8)], no_mutation=False)
            assert [o.get() for o in outs] == [float(k) for k in range(8)]
    ''' for i in range(3))
    ahead, in_turn, _, _ = _one(tmp_path, tests, limits=limits, student=(
        "import time\ndef slow(v):\n    time.sleep(0.4)\n    return v\n"))
    assert ahead == in_turn
    first, *rest = ahead["cases"]
    assert not first[1] and "grading time budget" in first[2], first
    # (the budget ended the process in the first case: the rest are not run, for that reason)
    assert all(c[2].startswith("not run: ") and "grading time budget" in c[2] for c in rest), \
        rest
