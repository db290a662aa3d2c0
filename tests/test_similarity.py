"""Similarity flags: identical and near-identical submissions, with the template's code removed.

The submissions are hw1's real template with its stubs filled in: the reference solution, a
copy of it with every local renamed and the layout changed, and an honest second solution
written differently (loops, np.linalg.solve, other helpers), as two students would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from autograder.grade.inputs import notebook_cells
from autograder.report.similarity import find_similar, load_class_code, template_notebook

ROOT = Path(__file__).resolve().parents[1]
HW = "hw1_linear_regression"
TEMPLATE = ROOT / "student_template" / HW / f"{HW}.ipynb"

REFERENCE = {
    "design_matrix": '''
def design_matrix(X):
    """kept docstring"""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    return np.concatenate([X, np.ones((n, 1), dtype=np.float64)], axis=1)
''',
    "polynomial_design_matrix": '''
def polynomial_design_matrix(x, m):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    m = int(m)
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    powers = np.arange(m, -1, -1)
    return x[:, None] ** powers[None, :]
''',
    "normal_equation": '''
def normal_equation(X_D, Y):
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta, *_ = np.linalg.lstsq(X_D, Y, rcond=None)
    return np.asarray(theta, dtype=np.float64)
''',
    "squared_error": '''
def squared_error(X_D, Y, theta):
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    r = Y - X_D @ theta
    return float(np.sum(r * r))
''',
    "squared_error_grad": '''
def squared_error_grad(X_D, Y, theta):
    X_D = np.asarray(X_D, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    return 2.0 * (X_D.T @ (X_D @ theta - Y))
''',
    "gradient_descent": '''
def gradient_descent(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=np.float64, copy=True)
    steps = int(steps)
    out = np.empty((steps + 1, *theta.shape), dtype=np.float64)
    out[0] = theta
    for t in range(steps):
        g = np.asarray(grad_fn(theta.copy()), dtype=np.float64)
        theta = theta - lr * g
        out[t + 1] = theta
    return out
''',
}

# The reference with every local and argument renamed, comments added, lines rewrapped.
RENAMED = {
    "design_matrix": '''
def design_matrix(inputs):
    # my own work, honestly
    inputs = np.asarray(inputs,
                        dtype=np.float64)
    rows = inputs.shape[0]
    return np.concatenate([inputs, np.ones((rows, 1), dtype=np.float64)],
                          axis=1)
''',
    "polynomial_design_matrix": '''
def polynomial_design_matrix(values, degree):
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    degree = int(degree)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    exps = np.arange(degree, -1, -1)   # highest first
    return values[:, None] ** exps[None, :]
''',
    "normal_equation": '''
def normal_equation(A, b):
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w, *_ = np.linalg.lstsq(A, b, rcond=None)
    return np.asarray(w, dtype=np.float64)
''',
    "squared_error": '''
def squared_error(A, b, w):
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    resid = b - A @ w
    return float(np.sum(resid * resid))
''',
    "squared_error_grad": '''
def squared_error_grad(A, b, w):
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return 2.0 * (A.T @ (A @ w - b))
''',
    "gradient_descent": '''
def gradient_descent(gradient, start, rate, n_steps):
    current = np.array(start, dtype=np.float64, copy=True)
    n_steps = int(n_steps)
    history = np.empty((n_steps + 1, *current.shape), dtype=np.float64)
    history[0] = current
    for k in range(n_steps):
        step = np.asarray(gradient(current.copy()), dtype=np.float64)
        current = current - rate * step
        history[k + 1] = current
    return history
''',
}

# A second student's own, correct solution.
HONEST = {
    "design_matrix": '''
def design_matrix(X):
    X = np.array(X, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    ones = np.ones(len(X))
    return np.column_stack((X, ones))
''',
    "polynomial_design_matrix": '''
def polynomial_design_matrix(x, m):
    x = np.ravel(np.array(x, dtype=float))
    cols = []
    for power in range(int(m), -1, -1):
        cols.append(x ** power)
    return np.stack(cols, axis=1)
''',
    "normal_equation": '''
def normal_equation(X_D, Y):
    A = X_D.T @ X_D
    rhs = X_D.T @ Y
    return np.linalg.solve(A, rhs)
''',
    "squared_error": '''
def squared_error(X_D, Y, theta):
    diff = np.subtract(Y, np.dot(X_D, theta))
    total = 0.0
    for value in diff.ravel():
        total += value * value
    return float(total)
''',
    "squared_error_grad": '''
def squared_error_grad(X_D, Y, theta):
    gram = np.dot(X_D.T, X_D)
    return 2 * np.dot(gram, theta) - 2 * np.dot(X_D.T, Y)
''',
    "gradient_descent": '''
def gradient_descent(grad_fn, theta0, lr, steps):
    iterates = [np.copy(theta0).astype(float)]
    while len(iterates) <= steps:
        previous = iterates[-1]
        iterates.append(previous - lr * np.asarray(grad_fn(np.copy(previous))))
    return np.array(iterates)
''',
}


def template_cells() -> list[str]:
    cells, _ = notebook_cells(TEMPLATE.read_bytes())
    return cells


def filled(functions: dict[str, str]) -> list[str]:
    """The template's cells with each stub replaced by the given definition."""
    cells = []
    for cell in template_cells():
        for name, source in functions.items():
            if cell.startswith(f"def {name}("):
                cell = source.strip() + "\n"
        cells.append(cell)
    return cells


def test_byte_identical_pair_is_flagged_identical():
    result = find_similar(
        [("alice", filled(REFERENCE)), ("bob", filled(REFERENCE)), ("carol", filled(HONEST))],
        template_cells(),
    )
    assert result["identical"] == [["alice", "bob"]]
    assert result["flags"]["alice"] == "identical to bob"
    assert result["flags"]["bob"] == "identical to alice"
    assert "carol" not in result["flags"]
    # An identical pair is not listed again as near-identical.
    assert not any({p["a"], p["b"]} == {"alice", "bob"} for p in result["near"])


def test_comments_and_layout_alone_still_identical():
    # Comments, blank lines and line breaks inside brackets do not change the AST.
    commented = dict(REFERENCE)
    commented["normal_equation"] = '''
def normal_equation(X_D, Y):
    # solve with least squares
    X_D = np.asarray(X_D,
                     dtype=np.float64)

    Y = np.asarray(Y, dtype=np.float64)  # targets
    theta, *_ = np.linalg.lstsq(X_D, Y, rcond=None)
    return np.asarray(theta, dtype=np.float64)
'''
    result = find_similar([("a", filled(REFERENCE)), ("b", filled(commented))], template_cells())
    assert result["identical"] == [["a", "b"]]


def test_renamed_and_reformatted_copy_is_near():
    result = find_similar([("orig", filled(REFERENCE)), ("copy", filled(RENAMED))],
                          template_cells())
    assert result["identical"] == []  # the names differ, so the trees do
    assert [(p["a"], p["b"]) for p in result["near"]] == [("copy", "orig")]
    assert result["near"][0]["similarity"] >= 0.9
    assert result["flags"]["copy"].startswith("similar to orig (")
    assert result["flags"]["copy"].endswith("%)")


def test_two_honest_solutions_are_not_flagged():
    result = find_similar([("ref", filled(REFERENCE)), ("honest", filled(HONEST))],
                          template_cells())
    assert result == {"identical": [], "near": [], "flags": {}}


def test_blank_templates_are_not_flagged():
    blank = template_cells()
    result = find_similar([("x", blank), ("y", list(blank)), ("z", blank + ["print(1)"])], blank)
    assert result == {"identical": [], "near": [], "flags": {}}


def test_template_code_does_not_count():
    # Two students who each filled one different stub share only the template (the untouched
    # stubs, their docstrings and the plotting cells): nothing to flag.
    only_q1 = filled({"design_matrix": REFERENCE["design_matrix"],
                      "polynomial_design_matrix": REFERENCE["polynomial_design_matrix"]})
    only_q3 = filled({"squared_error": HONEST["squared_error"],
                      "squared_error_grad": HONEST["squared_error_grad"]})
    result = find_similar([("q1", only_q1), ("q3", only_q3)], template_cells())
    assert result == {"identical": [], "near": [], "flags": {}}
    # Without the template removed, the same pair shares most of its text.
    unaware = find_similar([("q1", only_q1), ("q3", only_q3)], [], threshold=0.5)
    assert unaware["near"], "the template is what made them look alike"


def test_partial_copies_of_the_same_answer_are_identical():
    only_q1 = filled({"design_matrix": HONEST["design_matrix"],
                      "polynomial_design_matrix": HONEST["polynomial_design_matrix"]})
    result = find_similar([("p", only_q1), ("q", list(only_q1))], template_cells())
    assert result["identical"] == [["p", "q"]]


def test_three_way_group_and_unparsable_cell():
    broken = filled(HONEST) + ["def oops(:\n    pass\n"]
    result = find_similar(
        [(sid, filled(REFERENCE)) for sid in ("s1", "s2", "s3")] + [("s4", broken)],
        template_cells(),
    )
    assert result["identical"] == [["s1", "s2", "s3"]]
    assert result["flags"]["s2"] == "identical to s1 and 1 more"
    assert "s4" not in result["flags"]


def test_two_hundred_submissions_in_seconds():
    # A class of 200: 100 honest-style variants and 100 renamed-style ones, all distinct.
    submissions = []
    for index in range(100):
        functions = {name: source.replace("theta", f"theta_{index}")
                     for name, source in HONEST.items()}
        submissions.append((f"h{index:03d}", filled(functions)))
        functions = {name: source.replace("current", f"current_{index}")
                     for name, source in RENAMED.items()}
        submissions.append((f"r{index:03d}", filled(functions)))
    start = time.perf_counter()
    result = find_similar(submissions, template_cells())
    elapsed = time.perf_counter() - start
    print(f"200 submissions: {elapsed:.2f} s, {len(result['near'])} near pairs")
    # Renamed locals are the same code to the token measure: every h pair and every r pair.
    assert len(result["near"]) == 2 * (100 * 99 // 2)
    assert result["identical"] == []


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.write_text(nbformat.writes(nb))


def test_load_class_code_reads_the_store_and_the_template(tmp_path, fresh_build):
    from autograder.grade.bundle import load_bundle
    from autograder.grade.store import Store

    # the session's build of hw1 (shared with the other tests that build it), so this runs in a
    # clean clone too; its folder holds no student_template/, so the template comes from the
    # package's checkout, as for a bundle built elsewhere
    bundle = load_bundle(fresh_build(HW).bundle_path)
    assert template_notebook(bundle.dir, HW) == TEMPLATE
    subs = tmp_path / "subs"
    subs.mkdir()
    write_notebook(subs / "ann.ipynb", filled(REFERENCE))
    write_notebook(subs / "ben.ipynb", filled(REFERENCE))
    (subs / "cat.py").write_text("# %%\n" + "\n# %%\n".join(filled(HONEST)))
    (subs / "dan").mkdir()
    write_notebook(subs / "dan" / f"{HW}.ipynb", filled(RENAMED))
    out = tmp_path / "out"
    with Store(out / "results.sqlite") as store:
        run = store.start_run(bundle.hash, 1, {})
        for sid, kind, path in (("ann", "notebook", subs / "ann.ipynb"),
                                ("ben", "notebook", subs / "ben.ipynb"),
                                ("cat", "script", subs / "cat.py"),
                                ("dan", "folder", subs / "dan"),
                                ("gone", "notebook", subs / "gone.ipynb")):
            store.record(run, {"id": sid, "kind": kind, "path": str(path),
                               "content_hash": "x", "bundle_hash": bundle.hash,
                               "status": "graded", "score": 0, "max_score": 19,
                               "questions": []})
    submissions, template = load_class_code(out, bundle)
    assert [sid for sid, _ in submissions] == ["ann", "ben", "cat", "dan"]
    assert template == template_cells()
    result = find_similar(submissions, template)
    assert result["identical"] == [["ann", "ben"]]
    assert {(p["a"], p["b"]) for p in result["near"]} >= {("ann", "dan"), ("ben", "dan")}
    assert "cat" not in result["flags"]
    json.dumps(result)  # plain data


def test_fast_pair_scores_equal_copydetects_compare_files():
    # The class-wide scorer must give copydetect's own compare_files figure for every pair,
    # and its bound must never drop a pair compare_files puts over the threshold.
    from autograder.report import similarity as sim

    mixes = [REFERENCE, RENAMED, HONEST,
             {**HONEST, "normal_equation": REFERENCE["normal_equation"]},
             {**RENAMED, "gradient_descent": HONEST["gradient_descent"]},
             {**HONEST, **{k: RENAMED[k] for k in ("squared_error", "squared_error_grad")}},
             {"design_matrix": HONEST["design_matrix"]}]
    template = sim._own_parts(template_cells())
    boilerplate = set(sim._fingerprint("\n".join(template.statements)).hashes)
    prints = [sim._without(sim._fingerprint(sim._own_code(sim._own_parts(filled(m)), template)),
                           boilerplate) for m in mixes]
    scorer = sim._PairScorer(prints)
    exact = {(a, b): sim._similarity(prints[a], prints[b])
             for a in range(len(prints)) for b in range(a + 1, len(prints))}
    assert len({round(v, 3) for v in exact.values()}) >= 5, exact  # not all 0 or 1
    for (a, b), value in exact.items():
        assert scorer.similarity(a, b) == pytest.approx(value, abs=1e-12), (a, b)
    for threshold in (0.05, 0.3, 0.5, 0.8, 0.95):
        wanted = {pair for pair, value in exact.items() if value >= threshold}
        assert wanted <= set(scorer.candidates(threshold)), threshold


def test_hostile_cells_cost_bounded_time_and_are_not_flagged():
    # A student controls the size and shape of the code: a 3 MB cell, an expression nested
    # past the parser's limits, a left-deep sum too deep for ast.unparse, null bytes.
    huge = "x = 1\n" * 500_000
    deep_parens = "y = " + "(" * 5000 + "1" + ")" * 5000
    deep_sum = "z = " + "+".join(["1"] * 30_000)
    hostile = filled(HONEST) + [huge, deep_parens, deep_sum, "a = 1\x00\n", "%%bash\nrm -rf /"]
    result = find_similar([("evil", hostile), ("twin", list(hostile)), ("ref", filled(REFERENCE))],
                          template_cells())
    # The readable part still compares; nothing of it is like the reference.
    assert result == {"identical": [["evil", "twin"]], "near": [],
                      "flags": {"evil": "identical to twin", "twin": "identical to evil"}}
