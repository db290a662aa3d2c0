"""What the checks attach for the feedback pages: the right data, bounded, only when collected,
and carried through the real batch grader into the store."""

from __future__ import annotations

import inspect
import json
import sqlite3

import numpy as np
import pytest

from autograder.checks import (
    assert_close,
    assert_converges,
    assert_gradient,
    assert_trajectory_close,
    problems,
    run_steps,
)
from autograder.checks import attachments as att
from autograder.grade import grade_class
from autograder.grade.store import Store
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions
from tests.fixtures.grade_helpers import stored, write_notebook


def _collect(fn):
    with att.collecting() as found:
        with pytest.raises(AssertionError):
            fn()
    return found


def test_nothing_is_attached_outside_collecting():
    # grader.check in Jupyter: no collector, nothing kept (and the verdict is the same)
    with pytest.raises(AssertionError):
        assert_close(np.ones(3), np.zeros(3))
    assert not att.active()
    att.attach("curve", title="x")  # a no-op, not an error


def test_wrong_array_attaches_expected_and_got_side_by_side():
    expected = np.arange(6.0).reshape(2, 3)
    got = expected.copy()
    got[1, 2] += 1.0
    [found] = _collect(lambda: assert_close(got, expected, name="W"))
    assert found["kind"] == "arrays" and found["title"] == "W"
    assert found["expected"] == expected.tolist() and found["got"] == got.tolist()
    assert found["mismatch"] == [[False, False, False], [False, False, True]]
    assert found["shape_got"] == [2, 3] == found["shape_expected"]
    json.dumps(found, allow_nan=False)  # plain JSON


def test_leaves_of_a_container_are_attached_by_name_and_nan_is_null():
    expected = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    got = {"W": np.zeros((2, 2)), "b": np.array([np.nan, 0.0])}
    [found] = _collect(lambda: assert_close(got, expected, name="grads"))
    assert found["title"] == "grads['b']" and found["got"] == [None, 0.0]


def test_large_wrong_array_becomes_a_bounded_error_map_keeping_the_worst_entry():
    expected = np.ones((200, 300))
    got = expected.copy()
    got[137, 251] = 5.0  # relative error 4
    [found] = _collect(lambda: assert_close(got, expected, name="big"))
    assert found["kind"] == "heatmap"
    rows = found["rel_error"]
    assert len(rows) <= att.MAX_MAP_SIDE and all(len(r) <= att.MAX_MAP_SIDE for r in rows)
    assert max(v for r in rows for v in r if v is not None) == pytest.approx(4.0)


def test_wrong_gradient_attaches_the_relative_error_per_entry():
    A = np.diag([1.0, 2.0, 3.0])

    def f(x):
        return 0.5 * x @ A @ x

    def bad_grad(x):
        g = A @ x
        g[2] *= 2.0  # wrong in the last entry only: relative error 1 there
        return g

    x = np.array([0.5, -1.0, 2.0])
    [found] = _collect(lambda: assert_gradient(f, bad_grad, x, name="dL/dx"))
    assert found["kind"] == "heatmap" and found["rtol"] == 1e-5
    [row] = found["rel_error"]
    assert row[2] == pytest.approx(1.0, rel=1e-6)
    assert row[0] < 1e-6 and row[1] < 1e-6


def test_trajectory_curve_marks_the_first_diverging_step():
    problem = problems.quadratic(dim=3, seed=1)

    def good(th, g, s):
        return th - 0.1 * g, s

    def late_bug(th, g, s):  # correct for 4 steps, then a wrong step size
        s = s + 1
        return th - (0.1 if s <= 4 else 0.3) * g, s

    ref = run_steps(good, problem.start(), problem.grad, 20)
    traj = run_steps(late_bug, problem.start(), problem.grad, 20, state=0)
    [curve, *_] = _collect(lambda: assert_trajectory_close(traj, ref, rtol=1e-10, name="sgd",
                                                           loss_fn=problem.loss))
    assert curve["kind"] == "curve" and curve["first_diverging"] == 5
    assert curve["ylabel"] == "loss"
    assert curve["expected"] == pytest.approx([problem.loss(t) for t in ref.iterates])
    assert curve["got"][:5] == pytest.approx(curve["expected"][:5])


def test_convergence_curve_carries_its_threshold_and_passing_runs_attach_too():
    problem = problems.quadratic(dim=3, seed=2)
    with att.collecting() as found:
        assert_converges(lambda th, g, s: (th - 0.5 * g, s), problem, steps=1000, tol=1e-6)
    [curve] = found
    assert curve["tol"] == 1e-6 and curve["ylabel"] == "loss - f*"
    # 1001 iterates thinned to at most MAX_CURVE_POINTS, first and last kept, steps named
    assert len(curve["got"]) == len(curve["got_steps"]) <= att.MAX_CURVE_POINTS
    assert curve["got_steps"][0] == 0 and curve["got_steps"][-1] == 1000
    assert curve["got"][0] == pytest.approx(problem.loss(problem.start()) - problem.f_star)


def test_attachments_per_case_are_bounded():
    with att.collecting() as found:
        for _ in range(20):
            with pytest.raises(AssertionError):
                assert_close(np.ones(2), np.zeros(2))
    assert len(found) == att.MAX_ATTACHMENTS


def test_store_of_an_older_version_gains_the_column_and_keeps_its_rows(tmp_path):
    db = tmp_path / "results.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE cases (submission TEXT NOT NULL, ord INTEGER NOT NULL, question TEXT NOT NULL,"
        " name TEXT NOT NULL, hidden INTEGER NOT NULL, passed INTEGER NOT NULL, points REAL NOT NULL,"
        " score REAL NOT NULL, message TEXT NOT NULL, duration_s REAL NOT NULL,"
        " PRIMARY KEY (submission, question, name));"
        "INSERT INTO cases VALUES ('s1', 0, 'q1', 'c', 0, 1, 1.0, 1.0, 'passed', 0.1);")
    con.commit()
    con.close()
    with Store(db) as store:
        [case] = store.cases("s1")
    assert case["attachments"] == [] and case["message"] == "passed"


@pytest.mark.slow
def test_batch_grading_stores_the_pictures_data_of_a_wrong_momentum(fresh_build, tmp_path,
                                                                     monkeypatch):
    monkeypatch.delenv("AUTOGRADER_EXPECTED_DIR", raising=False)
    hw = "hw4_optimizers"
    build = fresh_build(hw)
    reference = inspect.getsource(load_solutions(assignment_source(hw, repo_root=PROJECT_ROOT)))
    ema = ("def momentum_step(theta, grad, velocity, lr, beta):\n"
           "    velocity = beta * velocity + (1 - beta) * grad\n"
           "    return theta - lr * velocity, velocity\n")
    write_notebook(tmp_path / "subs" / "ok.ipynb", [reference])
    write_notebook(tmp_path / "subs" / "ema.ipynb", [reference, ema])
    grade_class(tmp_path / "subs", build.bundle_path, tmp_path / "out", progress=False, workers=2)
    results = stored(tmp_path / "out")
    by_name = {c["name"]: c for c in results["ema"]["cases"]}
    traj = by_name["momentum_step: trajectory and convergence"]
    assert not traj["passed"]
    curves = [a for a in json.loads(traj["attachments"]) if a["kind"] == "curve"]
    assert curves and curves[0]["first_diverging"] == 1
    # the reference's run is the expected curve: the same as the correct submission's own run
    ok = {c["name"]: c for c in results["ok"]["cases"]}
    ok_curve = next(a for a in json.loads(ok[traj["name"]]["attachments"]) if a["kind"] == "curve")
    assert ok_curve["got"] == pytest.approx(curves[0]["expected"])
    assert ok_curve["first_diverging"] is None
