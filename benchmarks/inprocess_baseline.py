"""The limit the sandbox is measured against: one submission graded with no sandbox at all.

    python benchmarks/inprocess_baseline.py BUNDLE NOTEBOOK ASSIGNMENT REPEATS   # prints JSON
    python benchmarks/inprocess_baseline.py --serve BUNDLE NOTEBOOK ASSIGNMENT    # a grading per line

What any grader must do for a submission, done in one plain Python process, the way otter does
it in its kernel: parse the notebook, run its code cells (with the same input transformer and the
same stand-ins for matplotlib, tqdm and otter as the sandbox, so neither side draws pictures),
then run every case of the bundle's tests against the namespace the cells left. The difference
between ``Grader.grade`` on the same notebook and this is the price of the sandbox: the fork and
confinement, the round trips of every call, the import-policy analysis and the verdict plumbing.

It runs in its own process because the stand-ins replace modules in ``sys.modules``, which the
benchmark process (which draws the feedback pages with the real matplotlib) must not see. Each
repeat runs the cells again in a fresh namespace: a notebook's cells are part of every grading
(hw3's train_xor is real compute there). Times are wall and CPU (this process), medians.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grade_once(task: dict, assignment: str, questions: list, transformer,
               split: dict | None = None) -> tuple[float, float]:
    """(score, max score) of one in-process grading: parse, run the cells, run every case.

    With ``split`` (a dict), the CPU milliseconds of its parts are put there: ``parse``,
    ``cells``, ``student`` (inside the functions the tests call, outermost calls) and ``tests``
    (the rest of the cases: the tests' own work). The timing wrappers cost a little: a split
    grading is not one of the timed ones."""
    from autograder.grade.inputs import load_cells
    from autograder.runner import run_question
    from autograder.sandbox import shims

    clock = time.process_time
    t0 = clock()
    cells, _ = load_cells(task, assignment)
    t1 = clock()
    namespace: dict = {"__name__": "__main__"}
    shims.install(namespace)
    output = io.StringIO()  # what a kernel or the sandbox captures
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        for index, source in enumerate(cells):
            try:  # a failing cell does not stop the others, as in the kernel and the sandbox
                code = transformer.transform_cell(source)
                exec(compile(code, f"<code cell {index + 1}>", "exec"), namespace)
            except Exception:
                pass
    t2 = clock()
    inside = [0.0]
    if split is not None:
        _time_student_calls(namespace, questions, inside, clock)
    results = [run_question(question, namespace) for question in questions]
    if split is not None:
        t3 = clock()
        split.update(parse=(t1 - t0) * 1000, cells=(t2 - t1) * 1000, student=inside[0] * 1000,
                     tests=(t3 - t2 - inside[0]) * 1000)
    return sum(r.score for r in results), sum(r.max_score for r in results)


def _time_student_calls(namespace: dict, questions: list, inside: list, clock) -> None:
    """Wrap the functions the tests take so the CPU spent in them (outermost calls only: a
    student function calling another is counted once) adds up in ``inside[0]``."""
    import functools

    depth = [0]

    def timed(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                inside[0] += clock() - start
                depth[0] -= 1
        return call

    wanted = {p for q in questions for c in q.cases for p in c.params if p != "env"}
    for name in wanted:
        if callable(namespace.get(name)) and not isinstance(namespace[name], type):
            namespace[name] = timed(namespace[name])


def measure(bundle: Path, notebook: Path, assignment: str, repeats: int) -> dict:
    from IPython.core.inputtransformer2 import TransformerManager

    from autograder.grade.inputs import discover
    from autograder.testfiles import load_questions

    questions = load_questions(bundle / "tests")
    (ref,) = discover(str(notebook.parent), assignment).submissions  # alone in its folder
    task = ref.to_task()
    transformer = TransformerManager()
    score = grade_once(task, assignment, questions, transformer)  # warm-up (imports, caches)
    walls, cpus = [], []
    for _ in range(repeats):
        wall0, cpu0 = time.perf_counter(), _cpu_s()
        score = grade_once(task, assignment, questions, transformer)
        walls.append(time.perf_counter() - wall0)
        cpus.append(_cpu_s() - cpu0)
    return {"wall_ms": statistics.median(walls) * 1000, "cpu_ms": statistics.median(cpus) * 1000,
            "score": score[0], "max_score": score[1]}


def serve(bundle: Path, notebook: Path, assignment: str) -> None:
    """One grading per line read from stdin, its wall and CPU milliseconds (and the score) as
    one JSON line on stdout: the benchmark alternates these with sandboxed gradings, so both
    sides see the same machine (a busy neighbour moves both, not their difference)."""
    from IPython.core.inputtransformer2 import TransformerManager

    from autograder.grade.inputs import discover
    from autograder.testfiles import load_questions

    questions = load_questions(bundle / "tests")
    (ref,) = discover(str(notebook.parent), assignment).submissions
    task = ref.to_task()
    transformer = TransformerManager()
    grade_once(task, assignment, questions, transformer)  # warm-up (imports, caches)
    out = sys.stdout
    for line in sys.stdin:
        if line.strip() == "split":  # the parts of one (untimed) grading, CPU ms
            parts: dict = {}
            grade_once(task, assignment, questions, transformer, parts)
            out.write(json.dumps(parts) + "\n")
            out.flush()
            continue
        wall0, cpu0 = time.perf_counter(), _cpu_s()
        score = grade_once(task, assignment, questions, transformer)
        row = {"wall_ms": (time.perf_counter() - wall0) * 1000, "cpu_ms": (_cpu_s() - cpu0) * 1000,
               "score": score[0], "max_score": score[1]}
        out.write(json.dumps(row) + "\n")
        out.flush()


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        bundle_dir, notebook_path, hw, n = sys.argv[1:5]
        print(json.dumps(measure(Path(bundle_dir), Path(notebook_path), hw, int(n))))
