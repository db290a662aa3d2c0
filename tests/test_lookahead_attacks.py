"""Attacks on the cases run ahead (grade/lookahead.py, sandbox/merged.py), as a student who read
the code would write them (a reviewer helper).

The oracle is the grading without the lookahead (``Grader.run_ahead = False``: every case in its
turn, one request after the other): the same notebook graded both ways must get the same status,
score, notes and, case by case, the same verdict and message. Where a difference is legitimate
the test says why and asserts what must hold instead: never more points, never the grader's own
``error`` status, the rest of the batch graded. After every grading the grader's own process must
be as it was: no case left parked, its warnings filters, standard streams and NumPy error state
its own.

Six of these attacks succeeded when written, and were fixed: an honest slow function costing
earlier cases their points (the budget checked before resuming a case already answered); a
mutating function passing its no-mutation check (arrays that fit the arena alone but not after
the earlier cases' crossed unobserved); a call_each that cannot be one request reordering the
student's calls; replays costing O(m^2) calls; the wording of a no-mutation message depending on
a later case's crash (the names now come with each answer of the merged request); state a test
leaves set reaching later cases in turn (each case now runs in a copy of the context, with the
warnings filters it found, in both modes).
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import textwrap
import warnings
from pathlib import Path

import greenlet
import numpy as np
import pytest

from autograder.grade import lookahead
from autograder.grade.inputs import sha256_file
from autograder.grade.worker import Grader
from tests.fixtures.grade_helpers import make_workdir_root, write_notebook

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SHORT = dict(run_wall_s=5.0, run_cpu_s=5.0, call_wall_s=0.5, call_cpu_s=0.5, memory_mb=256)
QUICK = dict(SHORT, call_wall_s=0.3, call_cpu_s=0.3)  # where calls are meant to time out
IMPORTS = ("os", "numpy", "time", "sys", "signal", "gc")


# -- helpers ----------------------------------------------------------------------------------

def _verdicts(result: dict) -> dict:
    return {"status": result["status"], "score": result["score"], "message": result["message"],
            "cases": [(c["name"], c["passed"], c["message"])
                      for q in result["questions"] for c in q["cases"]]}


def _question(name: str, tests: str) -> tuple[str, int]:
    """An exception-format test file (every case of this module is worth one point)."""
    body = textwrap.dedent(tests)
    points = body.count("@test_case")
    return (f"from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = {name!r}\n"
            f"points = {points}\n\n" + body), points


def _bundle(root: Path, questions: dict[str, str], imports: tuple = IMPORTS) -> Path:
    """A bundle whose questions (``{name: exception-format tests}``) are graded in that order."""
    bundle = root / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    (bundle / "tests").mkdir(parents=True)
    entries = []
    for name, tests in questions.items():
        text, points = _question(name, tests)
        (bundle / "tests" / f"{name}.py").write_text(text)
        entries.append({"name": name, "points": float(points), "file": f"tests/{name}.py"})
    (bundle / "manifest.json").write_text(json.dumps({
        "assignment": "lookahead_attacks", "questions": entries,
        "config": {"imports": {"allow": list(imports), "forbid": []}},
    }))
    return bundle


def _grader_state() -> tuple:
    return (warnings.filters, list(warnings.filters), warnings.showwarning, sys.stdout,
            sys.stderr, np.geterr(), greenlet.getcurrent())


def _assert_grader_state(before: tuple) -> None:
    """The grader's own process is as it was (what a parked case could leave behind)."""
    after = _grader_state()
    assert after[0] is before[0] and after[1] == before[1], "warnings filters changed"
    assert after[2:5] == before[2:5], "warnings.showwarning or the standard streams changed"
    assert after[5] == before[5], f"NumPy's error state changed: {after[5]}"
    assert after[6] is before[6] and after[6].parent is None, "not back in the main greenlet"


def _assert_no_case_parked() -> None:
    gc.collect()
    parked = [o for o in gc.get_objects()
              if isinstance(o, lookahead._Case) and not o.dead and o.gr_frame is not None]
    assert not parked, f"{len(parked)} case(s) still parked after the grading"


def _grade_with(grader: Grader, notebook: Path, ahead: bool) -> dict:
    grader.run_ahead = ahead
    before = _grader_state()
    with np.errstate():  # (one case at a time, what a test leaves set stays in this context)
        result = grader.grade({"id": notebook.stem, "file": str(notebook), "kind": "notebook",
                               "content_hash": sha256_file(notebook)})
        inside = np.geterr()
    _assert_grader_state(before)
    if ahead:  # no case run ahead changes the grader's own NumPy error state
        assert inside == before[5], inside
    assert result["status"] != "error", result["message"][:2000]
    return result


def _both(bundle: Path, notebooks: list[Path], limits: dict = SHORT) -> list[tuple[dict, dict]]:
    """``[(result ahead, result in turn), ...]``, one Grader for all (as a worker holds one)."""
    root = make_workdir_root()
    grader = Grader(bundle, limits, workdir_root=str(root))
    try:
        out = [(_grade_with(grader, nb, True), _grade_with(grader, nb, False))
               for nb in notebooks]
    finally:
        grader.close()
        shutil.rmtree(root, ignore_errors=True)
    _assert_no_case_parked()
    return out


def _one(tmp_path: Path, questions: dict[str, str] | str, student: str, *,
         limits: dict = SHORT, imports: tuple = IMPORTS) -> tuple[dict, dict]:
    if isinstance(questions, str):
        questions = {"q1": questions}
    bundle = _bundle(tmp_path, questions, imports)
    notebook = write_notebook(tmp_path / "sub.ipynb", [textwrap.dedent(student)])
    ((ahead, in_turn),) = _both(bundle, [notebook], limits)
    return ahead, in_turn


def _assert_same(ahead: dict, in_turn: dict) -> None:
    a, b = _verdicts(ahead), _verdicts(in_turn)
    assert (a["status"], a["score"], a["message"]) == (b["status"], b["score"], b["message"])
    for mine, theirs in zip(a["cases"], b["cases"], strict=True):
        assert mine == theirs


def _assert_no_gain(ahead: dict, in_turn: dict) -> None:
    """Where the two may legitimately differ: running ahead never gives a point, or a passed
    case, that the grading in turn does not, and never the grader's own error."""
    assert ahead["status"] != "error" and in_turn["status"] != "error"
    assert ahead["score"] <= in_turn["score"], (_verdicts(ahead), _verdicts(in_turn))
    for mine, theirs in zip(_verdicts(ahead)["cases"], _verdicts(in_turn)["cases"], strict=True):
        assert theirs[1] or not mine[1], (mine, theirs)


def _correct_cells(hw: str) -> list[str]:
    nb = json.loads((EXAMPLES / hw / "submissions" / "s001_correct.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


# -- 1. a call that ends the process, wherever it is --------------------------------------------

KILLS = {
    "os_exit": "os._exit(7)",
    "sigkill": "os.kill(os.getpid(), signal.SIGKILL)",
    "sigsegv": "os.kill(os.getpid(), signal.SIGSEGV)",
    "infinite_loop": "while True:\n            pass",
    # (RLIMIT_AS refuses it at once: a MemoryError fails the call, the process goes on)
    "memory": "hoard = np.ones(1 << 40)",
    "output_flood": "while True:\n            print('x' * 100000)",
}


def _killer_student(kill: str) -> str:
    return f'''
import os, signal, time
import numpy as np

def f(x):
    return 2 * x

def killer(x):
    if x == 13:
        {KILLS[kill]}
    return 2 * x
'''


def _cases_around(position: int, n: int, asks_twice: bool) -> str:
    """``n`` cases; the one at ``position`` calls ``killer`` in the middle of a call_each
    batch (the second of three calls ends the process); the others ask once, or twice."""
    out = ""
    for i in range(n):
        if i == position:
            out += f'''
@test_case(name="c{i} ends the process mid-batch", points=1)
def test_{i}(killer):
    from autograder.checks import call_each
    outs = call_each([(killer, (1,)), (killer, (13,)), (killer, (2,))], no_mutation=False)
    assert [o.get() for o in outs] == [2, 26, 4]
'''
        elif asks_twice:
            out += f'''
@test_case(name="c{i} asks twice", points=1)
def test_{i}(f, killer):
    assert f({i}) == {2 * i}
    assert killer({i}) == {2 * i}
'''
        else:
            out += f'''
@test_case(name="c{i}", points=1)
def test_{i}(f):
    assert f({i}) == {2 * i}
'''
    return out


@pytest.mark.parametrize("kill", list(KILLS))
def test_a_call_ending_the_process_in_the_first_a_middle_or_the_last_case(kill, tmp_path):
    """Each case asks once; the call that ends the process is the second of a call_each batch,
    in the first, a middle and the last case. The earlier cases keep their points, the later
    ones run again on a fresh sandbox, exactly as one case at a time."""
    bundle = _bundle(tmp_path, {f"q{p}": _cases_around(p, 4, asks_twice=False)
                                for p in (0, 2, 3)})
    notebook = write_notebook(tmp_path / "sub.ipynb", [_killer_student(kill)])
    ((ahead, in_turn),) = _both(bundle, [notebook], QUICK)
    _assert_same(ahead, in_turn)
    # (a MemoryError fails the call only, the process goes on: the same verdicts)
    for question in ahead["questions"]:
        killer_at = int(question["name"][1:])
        assert [c["passed"] for c in question["cases"]] == [i != killer_at for i in range(4)]


@pytest.mark.parametrize("kill", ["os_exit", "infinite_loop", "output_flood"])
@pytest.mark.parametrize("position", [1, 3])
def test_a_case_asking_again_after_a_later_case_ended_the_process_is_judged_as_in_turn(
        kill, position, tmp_path):
    """The cases before the killer ask twice: their second request meets the process a later
    case's call ended (Replay), they run again alone on a fresh sandbox."""
    ahead, in_turn = _one(tmp_path, _cases_around(position, 4, asks_twice=True),
                          _killer_student(kill), limits=QUICK)
    _assert_same(ahead, in_turn)
    passed = [c[1] for c in _verdicts(ahead)["cases"]]
    assert passed == [i != position for i in range(4)]


# -- 2. stateful functions ----------------------------------------------------------------------

STATEFUL = '''
import os
calls = []

def f(x):
    calls.append(("f", x))
    return 2 * x

def third_call_lies(x):
    calls.append(("t", x))
    return 2 * x if len(calls) != 3 else 0

def after_g_only(x):
    # right only when the last call before it was g's, with g's argument
    right = bool(calls) and calls[-1] == ("g", x - 1)
    calls.append(("a", x))
    return 2 * x if right else -1

def g(x):
    calls.append(("g", x))
    return x + 1

def history():
    return [c[0] for c in calls]

def dies(x):
    os._exit(3)

def scale(values):
    values *= 2
    return values
'''


def test_stateful_functions_see_their_calls_in_the_order_they_see_them_in_turn(tmp_path):
    """A counter that lies on its third call, a function that is right only right after another
    function's call with a related argument, and the whole history, around a death, a respawn
    and a Replay: each case makes its requests in the order it makes them in turn."""
    ahead, in_turn = _one(tmp_path, '''
        @test_case(name="first", points=1)
        def test_first(f):
            assert f(1) == 2

        @test_case(name="g then after_g_only", points=1)
        def test_g(g):
            assert g(4) == 5

        @test_case(name="after g", points=1)
        def test_after(after_g_only):
            assert after_g_only(5) == 10

        @test_case(name="third call lies", points=1)
        def test_third(third_call_lies):
            assert third_call_lies(2) == 4

        @test_case(name="asks twice", points=1)
        def test_twice(f, third_call_lies):
            assert f(3) == 6
            assert third_call_lies(3) == 6

        @test_case(name="ends the process", points=1)
        def test_dies(dies):
            dies(0)

        @test_case(name="history on the fresh process", points=1)
        def test_history(f, history):
            assert f(1) == 2
            assert history() == ["f"], history()

        @test_case(name="changes its input (after the death: names asked)", points=1)
        def test_scale(scale):
            import numpy as np
            from autograder.checks import assert_no_mutation
            assert_no_mutation(scale, np.arange(3.0))
    ''', STATEFUL)
    _assert_same(ahead, in_turn)
    cases = _verdicts(ahead)["cases"]
    assert [c[1] for c in cases] == [True, True, True, True, True, False, True, False], cases
    assert "values was modified in place" in cases[-1][2], cases[-1]


def test_a_function_remembering_across_respawns_gets_nothing_from_a_replay(tmp_path):
    """A Replay runs a case's calls again on a fresh sandbox: a function that is right only the
    second time it is ever called (remembered in a file) would gain from it if anything of the
    dead sandbox reached the fresh one."""
    ahead, in_turn = _one(tmp_path, '''
        @test_case(name="asks twice", points=1)
        def test_twice(f, remember):
            assert f(1) == 2
            assert remember(1) == 2

        @test_case(name="remembers", points=1)
        def test_remembers(remember):
            assert remember(5) == 10

        @test_case(name="ends the process", points=1)
        def test_dies(dies):
            dies(0)
    ''', '''
        import os
        marks = sorted({os.path.join(d, ".seen") for d in (
            os.getcwd(), os.environ.get("HOME") or "/tmp", "/tmp", "/dev/shm", "/var/tmp")})

        def f(x):
            return 2 * x

        def remember(x):
            seen = any(os.path.exists(m) for m in marks)
            for m in marks:
                try:
                    with open(m, "a") as handle:
                        handle.write(str(x))
                except OSError:
                    pass
            return 2 * x if seen else -1

        def dies(x):
            os._exit(3)
    ''')
    _assert_same(ahead, in_turn)
    assert [c[1] for c in _verdicts(ahead)["cases"]] == [False, True, False]


def _cells_with_a_counter(hw: str, kill_at: int) -> list[str]:
    """The correct notebook, every function of which floods the output on the ``kill_at``-th
    call of the process (counted over all of them): a crash that moves with the order of calls."""
    return _correct_cells(hw) + [textwrap.dedent(f'''
        _count = [0]

        def _counted(fn):
            def counted(*args, **kwargs):
                _count[0] += 1
                if _count[0] == {kill_at}:
                    while True:
                        print("x" * 100000)
                return fn(*args, **kwargs)
            counted.__name__ = fn.__name__
            return counted

        for _name in [n for n, v in list(globals().items())
                      if callable(v) and getattr(v, "__module__", "") == "__main__"
                      and not n.startswith("_")]:
            globals()[_name] = _counted(globals()[_name])
    ''')]


@pytest.mark.parametrize("hw", ["hw1_linear_regression", "hw2_layer_gradient", "hw3_backprop",
                                "hw4_optimizers"])
def test_a_crash_on_the_nth_call_grades_a_bundled_assignment_as_in_turn(hw, tmp_path,
                                                                        fresh_build):
    """The bundled assignments' own cases: the process dies on the 6th call it serves (and on
    every fresh one's 6th), so where it dies depends on the order of the calls only."""
    notebook = write_notebook(tmp_path / "sub.ipynb", _cells_with_a_counter(hw, 6))
    ((ahead, in_turn),) = _both(fresh_build(hw).bundle_path, [notebook], SHORT)
    _assert_same(ahead, in_turn)
    assert ahead["status"] == "sandbox_died" and "output flood" in ahead["message"]
    assert 0 < ahead["score"] < ahead["max_score"]


@pytest.mark.parametrize("why", ["callback", "shared_generator"])
def test_a_call_each_made_one_by_one_keeps_its_calls_before_the_next_case_s(why, tmp_path):
    if why == "callback":
        # a student function that is right only when it runs before apply's calls: in turn
        # it runs after them and fails; ahead it ran first and passes (a point more)
        tests = '''
            from autograder.checks import call_each

            @test_case(name="callbacks", points=1)
            def test_callbacks(apply):
                outs = call_each([(apply, (lambda v: v * 3, 2)), (apply, (lambda v: v * 3, 4))],
                                 no_mutation=False)
                assert [o.get() for o in outs] == [6, 12]

            @test_case(name="runs after them", points=1)
            def test_after(g):
                assert g(5) == 10
        '''
        student = '''
            calls = []
            def apply(fn, x):
                calls.append("apply")
                return fn(x)
            def g(x):
                return 2 * x if not calls else -1
        '''
    else:
        # an honest student; the test file keeps one Generator for two cases (as
        # tests/test_grade_lookahead.py's one-by-one test does), the first draws twice
        tests = '''
            import numpy as np
            from autograder.checks import call_each
            shared = {}

            @test_case(name="two draws of one generator", points=1)
            def test_two(draw):
                shared["gen"] = np.random.default_rng(0)
                expected = np.random.default_rng(0).random(2)
                outs = call_each([(draw, (shared["gen"],)), (draw, (shared["gen"],))],
                                 no_mutation=False)
                assert [o.get() for o in outs] == list(expected)

            @test_case(name="the third draw", points=1)
            def test_third(draw):
                assert draw(shared["gen"]) == np.random.default_rng(0).random(3)[2]
        '''
        student = '''
            def draw(gen):
                return gen.random()
        '''
    ahead, in_turn = _one(tmp_path, tests, student)
    _assert_same(ahead, in_turn)


# -- 3. the child forging or desynchronising the merged answers ---------------------------------

FORGER = '''
import sys
import numpy as np
child = sys.modules["autograder.sandbox.child"]
codec = sys.modules["autograder.sandbox.codec"]
Session = child.Session

def _session():
    frame = sys._getframe(1)
    while frame is not None and not isinstance(frame.f_locals.get("self"), Session):
        frame = frame.f_back
    return frame.f_locals["self"]

def g(x):
    return 2 * x
'''

FORGED = {
    # one answer too many: every later answer is taken for the next request's, in both modes
    "extra_answer": 'Session.send(_session(), {"op": "return", "value": codec.encode(2 * x + 2, []),'
                    ' "rng": [], "warnings": []})',
    "loop_for_a_call": 'Session.send(_session(), {"op": "loop", "iterates": None})',
    "labels_unasked": 'Session.send(_session(), {"op": "labels", "labels": ["x"]})',
    "ready_again": 'Session.send(_session(), {"op": "ready", "globals": {}})',
    "malformed_bytes": '_session().sock.sendall(b"\\x00\\x00\\x00\\x05hello")',
    "deep_value": 'Session.send(_session(), {"op": "return", "value": [[[[[[[[[[[[[[[[[[[[[[[[[['
                  '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'
                  ']]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "rng": [], "warnings": []})',
    "unknown_tag": 'Session.send(_session(), {"op": "return", "value": {"zz": 1}, "rng": [],'
                   ' "warnings": []})',
    "callback_unoffered": 'Session.send(_session(), {"op": "callback", "handle": 1, "args": [],'
                          ' "kwargs": {"d": []}})',
}
FOUR_CASES = '''
    @test_case(name="c0", points=1)
    def test0(f):
        assert f(1) == 2

    @test_case(name="c1", points=1)
    def test1(f):
        assert f(2) == 4

    @test_case(name="c2", points=1)
    def test2(g):
        assert g(3) == 6

    @test_case(name="c3", points=1)
    def test3(g):
        assert g(4) == 8
'''


@pytest.mark.parametrize("forgery", list(FORGED))
def test_a_child_forging_or_desynchronising_answers_gets_what_it_gets_in_turn(forgery, tmp_path):
    student = FORGER + f"\ndef f(x):\n    {FORGED[forgery]}\n    return 2 * x\n"
    ahead, in_turn = _one(tmp_path, FOUR_CASES, student)
    if forgery != "callback_unoffered":
        _assert_same(ahead, in_turn)
        return
    # Legitimate difference: a single call serves the callbacks a child asks for (here it
    # refuses one the test did not pass and goes on, out of step with the child for the rest of
    # the submission: even g's cases fail in turn), while an entry of a merged request offers
    # none, so the same message is a forgery that ends the process: the cases after it run on a
    # fresh sandbox. Ahead, only the honest function's cases pass; never more than that.
    _assert_no_gain_beyond(ahead, {"c2", "c3"})
    assert not any(c[1] for c in _verdicts(in_turn)["cases"][:2])


def _assert_no_gain_beyond(result: dict, honest: set[str]) -> None:
    assert result["status"] != "error"
    passed = {c[0] for c in _verdicts(result)["cases"] if c[1]}
    assert passed <= honest, passed


ANSWERS_EARLY = '''
real_send = Session.send
drop = [0]

def send(self, header, arrays=()):
    if drop[0] and header.get("op") in ("return", "raise"):
        drop[0] -= 1  # the answer already sent by hand
        return None
    return real_send(self, header, arrays)

Session.send = send

def _answer(me, value):
    arrays = []
    real_send(me, {"op": "return", "value": codec.encode(value, arrays), "rng": [],
                   "warnings": []}, arrays)
    drop[0] += 1
'''
MUTATION_CASES = '''
    import numpy as np
    from autograder.checks import assert_no_mutation

    @test_case(name="c0", points=1)
    def test0(f):
        assert f(1) == 2

    @test_case(name="must not change its input", points=1)
    def test1(scale):
        got = assert_no_mutation(scale, np.arange(4.0))
        np.testing.assert_allclose(got, 2 * np.arange(4.0))

    @test_case(name="c2", points=1)
    def test2(f):
        assert f(3) == 6
'''


def test_answering_later_entries_before_they_run_gains_nothing_a_call_cannot_already(tmp_path):
    """In a merged request the child sees the later entries while it runs the first: it can
    answer them all before they run, so that scale's change of its input (made after the
    answer) is not seen. One case at a time, scale can do the same for itself (answer, then
    change its input): the merged request gives no more than that (a limit of the arena
    observation older than the lookahead: a change made after the answer is never seen)."""
    ahead_of_all = FORGER + ANSWERS_EARLY + '''
import time

def f(x):
    frame = sys._getframe(1)
    while frame is not None and "calls" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None and not drop[0]:
        me, later = frame.f_locals["self"], frame.f_locals["calls"][1:]
        _answer(me, 2 * x)
        for call in later:
            _answer(me, 2 * np.arange(4.0) if call.get("name") == "scale" else 6)
    return 2 * x

def scale(values):
    time.sleep(0.2)
    values *= 2
    return values
'''
    each_for_itself = FORGER + ANSWERS_EARLY + '''
import time

def f(x):
    return 2 * x

def scale(values):
    _answer(_session(), 2 * values)
    time.sleep(0.2)
    values *= 2
    return values
'''
    bundle = _bundle(tmp_path, {"q1": MUTATION_CASES})
    notebooks = [write_notebook(tmp_path / "ahead_of_all.ipynb", [ahead_of_all]),
                 write_notebook(tmp_path / "each_for_itself.ipynb", [each_for_itself])]
    (forged_ahead, forged_in_turn), (itself_ahead, itself_in_turn) = _both(bundle, notebooks)
    # one case at a time the forger cannot see scale's input: its change is seen
    assert [c[1] for c in _verdicts(forged_in_turn)["cases"]] == [True, False, True]
    # ahead it is not, but a call answering for itself hides it just as well in turn
    _assert_same(itself_ahead, itself_in_turn)
    assert _verdicts(forged_ahead)["cases"] == _verdicts(itself_in_turn)["cases"]
    assert forged_ahead["score"] <= itself_in_turn["score"]


# -- 4. Replay, budget ----------------------------------------------------------------------------

def test_replays_cost_no_more_than_one_case_at_a_time(tmp_path):
    # budget: 0.5 s + 0.15 s x 10 cases = 2 s; in turn the calls take 16 x 0.05 = 0.8 s. Ahead,
    # after each of the 8 Replays the cases after it ask again (and the process dies again).
    tests = "".join(f'''
        @test_case(name="asks twice {i}", points=1)
        def test_twice_{i}(slow):
            assert slow({i}) == {i}
            assert slow({i}) == {i}
    ''' for i in range(8)) + '''
        @test_case(name="ends the process", points=1)
        def test_dies(dies):
            dies(0)

        @test_case(name="after", points=1)
        def test_after(slow):
            assert slow(9) == 9
    '''
    ahead, in_turn = _one(tmp_path, tests, '''
        import os, time
        def slow(x):
            time.sleep(0.05)
            return x
        def dies(x):
            os._exit(3)
    ''', limits=dict(run_wall_s=0.5, run_cpu_s=0.5, call_wall_s=0.15, call_cpu_s=0.15,
                     memory_mb=256))
    assert in_turn["score"] == 9.0 and in_turn["status"] == "sandbox_died"
    _assert_same(ahead, in_turn)


BUDGET_LIMITS = dict(run_wall_s=0.5, run_cpu_s=0.5, call_wall_s=0.25, call_cpu_s=0.25,
                     memory_mb=256)
BUDGET_CASES = '''
    from autograder.checks import call_each

    @test_case(name="quick", points=1)
    def test_quick(slow):
        assert slow(0.01) == 0.01

    @test_case(name="quick too", points=1)
    def test_quick_too(slow):
        assert slow(0.01) == 0.01

    @test_case(name="a long batch", points=1)
    def test_batch(slow):
        outs = call_each([(slow, (0.22,)) for _ in range(12)], no_mutation=False)
        assert [o.get() for o in outs] == [0.22] * 12

    @test_case(name="after it", points=1)
    def test_after(slow):
        assert slow(0.01) == 0.01
'''
SLOW = "import time\ndef slow(v):\n    time.sleep(v)\n    return v\n"


def test_the_budget_running_out_in_the_merged_request_is_never_outrun(tmp_path):
    """budget: 0.5 s + 0.25 s x 4 cases = 1.5 s; the third case's batch asks for 12 x 0.22 s (an
    honest, slow function): the budget stops it between two of its calls. The case after it
    (a later entry of the same merged request) is not run, nothing outlasts the budget by more
    than one call, and running ahead never gives more."""
    ahead, in_turn = _one(tmp_path, BUDGET_CASES, SLOW, limits=BUDGET_LIMITS)
    _assert_no_gain(ahead, in_turn)
    for result in (ahead, in_turn):
        cases = _verdicts(result)["cases"]
        assert cases[0][1] and not cases[2][1] and "grading time budget" in cases[2][2], cases
        assert cases[3][2].startswith("not run: ") and "grading time budget" in cases[3][2]
        budget = BUDGET_LIMITS["run_wall_s"] + BUDGET_LIMITS["call_wall_s"] * 4
        assert result["execution_time"] < budget + BUDGET_LIMITS["call_wall_s"] + 0.5


def test_cases_answered_in_time_keep_their_verdicts_when_a_later_case_spends_the_budget(
        tmp_path):
    ahead, in_turn = _one(tmp_path, BUDGET_CASES, SLOW, limits=BUDGET_LIMITS)
    # in turn "quick too" ran at once and passed; ahead its answer came at once too
    assert [c[1] for c in _verdicts(in_turn)["cases"]] == [True, True, False, False]
    _assert_same(ahead, in_turn)


# -- 5. what the grader's own process holds while a case is parked ------------------------------

def test_a_case_parked_inside_redirected_output_or_recorded_warnings_keeps_them(tmp_path):
    ahead, in_turn = _one(tmp_path, '''
        import contextlib, contextvars, io, sys, warnings
        import numpy as np
        mark = contextvars.ContextVar("mark", default="unset")
        mark.set("module")  # in the grader's context, where the test file is loaded

        @test_case(name="parks inside redirect_stdout and a warnings record", points=1)
        def test_inside(f):
            token = mark.set("first")
            buffer = io.StringIO()
            with warnings.catch_warnings(record=True) as caught, \\
                    contextlib.redirect_stdout(buffer):
                warnings.simplefilter("always")
                assert f(1) == 2              # parked here while the next cases run
                print("mine")
                warnings.warn("mine", UserWarning)
            assert buffer.getvalue() == "mine\\n", buffer.getvalue()
            assert [str(w.message) for w in caught] == ["mine"], [str(w.message) for w in caught]
            assert mark.get() == "first", mark.get()
            mark.reset(token)

        @test_case(name="prints and warns while the first is parked", points=1)
        def test_noisy(f):
            print("not in the first case's buffer")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                np.float64(1.0) / np.float64(0.0)   # a RuntimeWarning of the grader's own
                warnings.warn("theirs", UserWarning)
            assert len(caught) == 2, [str(w.message) for w in caught]
            assert f(2) == 4

        @test_case(name="parks inside errstate and an error filter", points=1)
        def test_raise(f):
            with np.errstate(divide="raise"), warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                assert f(3) == 6
                try:
                    np.float64(1.0) / np.float64(0.0)
                except FloatingPointError:
                    pass
                else:
                    raise AssertionError("np.errstate lost while parked")
                try:
                    warnings.warn("an error here", UserWarning)
                except UserWarning:
                    pass
                else:
                    raise AssertionError("the warnings filter lost while parked")

        @test_case(name="sees none of it", points=1)
        def test_outside(f):
            assert mark.get() == "module", mark.get()
            assert not isinstance(sys.stdout, io.StringIO)
            assert np.geterr()["divide"] == "warn", np.geterr()
            with warnings.catch_warnings(record=True) as caught:
                warnings.warn("only recorded", UserWarning)
            assert f(4) == 8
    ''', "def f(x):\n    return 2 * x\n")
    _assert_same(ahead, in_turn)
    assert [c[1] for c in _verdicts(ahead)["cases"]] == [True, True, True, True], \
        _verdicts(ahead)


def test_state_a_case_leaves_set_reaches_the_later_cases_as_in_turn(tmp_path):
    ahead, in_turn = _one(tmp_path, '''
        import contextvars
        import numpy as np
        mark = contextvars.ContextVar("mark", default="unset")

        @test_case(name="sets and leaves", points=1)
        def test_sets(f):
            mark.set("first")
            np.seterr(divide="raise")
            assert f(1) == 2

        @test_case(name="reads", points=1)
        def test_reads(f):
            assert f(2) == 4
            assert mark.get() == "unset", mark.get()
            assert np.geterr()["divide"] == "warn", np.geterr()
    ''', "def f(x):\n    return 2 * x\n")
    _assert_same(ahead, in_turn)


# -- 6. requests that cannot be merged ------------------------------------------------------------

UNMERGEABLE = {
    # the request meets its own error where it is made, the others go on
    "argument_that_cannot_cross": ("""
        @test_case(name="an argument that cannot cross", points=1)
        def test_object(f):
            f(object())
    """, False),
    "plain_callback": ("""
        @test_case(name="a plain callback", points=1)
        def test_callback(apply):
            assert apply(lambda v: v * 3, 2) == 6
    """, True),
    "loop_with_a_callback_gradient": ("""
        @test_case(name="a step loop whose gradient is a callback", points=1)
        def test_loop(step):
            import numpy as np
            from autograder.checks import GRAD, THETA, StepCall, run_steps
            loop = StepCall(step, THETA, GRAD, returns=THETA)
            out = run_steps(loop, np.zeros(2), lambda t: t - 1.0, 3)
            assert np.allclose(out.iterates[-1], 1 - 0.5 ** 3)
    """, True),
    "beyond_one_request": ("""
        @test_case(name="999 calls, then more than one request holds", points=1)
        def test_many(f):
            from autograder.checks import call_each
            outs = call_each([(f, (i,)) for i in range(999)], no_mutation=False)
            assert [o.get() for o in outs] == [2 * i for i in range(999)]
    """, True),
}


@pytest.mark.parametrize("why", list(UNMERGEABLE))
def test_requests_that_cannot_be_merged_are_made_one_by_one_with_the_same_verdicts(why, tmp_path):
    """A request that cannot share one (first, so that nothing else decides it), a case whose
    request can (a call_each), one that changes its input, a death, a case after it."""
    tests, passes = UNMERGEABLE[why]
    ahead, in_turn = _one(tmp_path, tests + """
        @test_case(name="two calls", points=1)
        def test_two(f):
            from autograder.checks import call_each
            outs = call_each([(f, (1,)), (f, (2,))], no_mutation=False)
            assert [o.get() for o in outs] == [2, 4]

        @test_case(name="changes its input", points=1)
        def test_scale(scale):
            import numpy as np
            from autograder.checks import assert_no_mutation
            assert_no_mutation(scale, np.arange(3.0))

        @test_case(name="ends the process", points=1)
        def test_dies(dies):
            dies(0)

        @test_case(name="after", points=1)
        def test_after(f):
            assert f(5) == 10
    """, """
        import os
        def f(x):
            return 2 * x
        def apply(fn, x):
            return fn(x)
        def step(theta, grad):
            return theta - 0.5 * grad
        def scale(values):
            values *= 2
            return values
        def dies(x):
            os._exit(3)
    """)
    _assert_same(ahead, in_turn)
    cases = _verdicts(ahead)["cases"]
    assert [c[1] for c in cases] == [passes, True, False, False, True], cases
    if why == "argument_that_cannot_cross":
        assert "cannot send the arguments" in cases[0][2]


def test_more_cases_than_run_ahead_at_once(tmp_path):
    """More than MAX_AHEAD cases: the killer is in the second group, a case of the first group
    asks twice."""
    n = lookahead.MAX_AHEAD + 6
    tests = "".join(f'''
        @test_case(name="c{i}", points=1)
        def test_{i}(f, dies):
            assert f({i}) == {2 * i}
            {"dies(0)" if i == n - 3 else "assert f(1) == 2" if i == 2 else "pass"}
    ''' for i in range(n))
    ahead, in_turn = _one(tmp_path, tests, '''
        import os
        def f(x):
            return 2 * x
        def dies(x):
            os._exit(3)
    ''')
    _assert_same(ahead, in_turn)
    assert ahead["score"] == n - 1


def test_import_policy_refusals_and_doctests_between_the_cases(tmp_path):
    """A case the import policy refuses (not started), an OK-format question (run alone, in its
    turn), cases asking twice around them and a death in the last question."""
    bundle = _bundle(tmp_path, {
        "q1": '''
            @test_case(name="asks twice", points=1)
            def test_twice(f, g):
                assert f(1) == 2
                assert g(1) == 3

            @test_case(name="refused by the policy", points=1)
            def test_refused(uses_json):
                assert uses_json(1) == 1
        ''',
        "q3": '''
            @test_case(name="ends the process", points=1)
            def test_dies(dies):
                dies(0)

            @test_case(name="asks twice after", points=1)
            def test_after(f, g):
                assert f(1) == 2
                assert g(1) == 3
        '''})
    (bundle / "tests" / "q2.py").write_text(textwrap.dedent('''
        OK_FORMAT = True
        test = {"name": "q2", "points": 2, "suites": [{"type": "doctest", "scored": True,
            "setup": "", "teardown": "", "cases": [
                {"code": ">>> f(2)\\n4", "hidden": False, "points": 1},
                {"code": ">>> y = g(5)\\n>>> y + 1\\n8", "hidden": False, "points": 1},
            ]}]}
    '''))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["questions"].insert(1, {"name": "q2", "points": 2.0, "file": "tests/q2.py"})
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    notebook = write_notebook(tmp_path / "sub.ipynb", [textwrap.dedent('''
        import os
        def f(x):
            return 2 * x
        def g(x):
            return x + 2
        def dies(x):
            os._exit(3)
        def uses_json(x):
            import json
            return x
    ''')])
    ((ahead, in_turn),) = _both(bundle, [notebook])
    _assert_same(ahead, in_turn)
    assert [c[1] for c in _verdicts(ahead)["cases"]] == [True, False, True, True, False, True]


# -- 7. the arena and the parameter names, shared by the merged request ------------------------

def test_a_case_whose_arrays_fit_the_arena_alone_is_observed_as_alone(tmp_path):
    ahead, in_turn = _one(tmp_path, '''
        import numpy as np
        from autograder.checks import assert_no_mutation

        @test_case(name="a large input", points=1)
        def test_large(total):
            assert total(np.ones(30_000_000)) == 30_000_000.0   # 229 MiB of the 256 MiB arena

        @test_case(name="must not change its input", points=1)
        def test_scale(scale):
            got = assert_no_mutation(scale, np.arange(8_000_000.0))   # 61 MiB: fits alone
            assert got[1] == 2.0
    ''', '''
        def total(v):
            return float(v.sum())
        def scale(values):
            values *= 2
            return values
    ''', limits=dict(SHORT, call_wall_s=3.0, call_cpu_s=3.0, memory_mb=1024))
    assert [c[1] for c in _verdicts(in_turn)["cases"]] == [True, False]
    _assert_no_gain(ahead, in_turn)
    _assert_same(ahead, in_turn)


def test_a_mutation_message_does_not_depend_on_a_later_case_s_crash(tmp_path, fresh_build):
    """An honest student's two slips in the bundled hw1: design_matrix clears its input after
    use, polynomial_design_matrix never ends (the next case)."""
    notebook = write_notebook(tmp_path / "sub.ipynb", _correct_cells("hw1_linear_regression") + [
        textwrap.dedent('''
            def design_matrix(X):
                out = np.concatenate([np.asarray(X, dtype=np.float64), np.ones((len(X), 1))],
                                     axis=1)
                X[...] = 0.0
                return out

            def polynomial_design_matrix(x, m):
                while True:
                    pass
        ''')])
    ((ahead, in_turn),) = _both(fresh_build("hw1_linear_regression").bundle_path, [notebook],
                                QUICK)
    _assert_no_gain(ahead, in_turn)
    assert "X was modified in place" in _verdicts(in_turn)["cases"][0][2]
    _assert_same(ahead, in_turn)


# -- 8. greenlets in the sandbox -----------------------------------------------------------------

def test_greenlets_in_the_sandbox_reach_nothing_of_the_grader_s(tmp_path):
    """The student's process looks for the grader's greenlets (and its lookahead) to throw into,
    switches between greenlets of its own in the middle of the calls, and answers from another
    greenlet. (Where the sandbox cannot read greenlet, as when the virtual environment lies
    inside the package root, the cell falls back to generators: the answers are the same.)"""
    ahead, in_turn = _one(tmp_path, '''
        @test_case(name="c0", points=1)
        def test0(f):
            assert f(1) == 2

        @test_case(name="c1", points=1)
        def test1(g):
            assert g(2) == 4

        @test_case(name="c2", points=1)
        def test2(f):
            assert f(3) == 6

        @test_case(name="nothing of the grader's here", points=1)
        def test3(grader_things):
            assert grader_things() == [], grader_things()
    ''', '''
        import gc, sys
        try:
            import greenlet
        except Exception:
            greenlet = None
        kept = []

        def f(x):
            if greenlet is None:
                gen = (2 * v for v in [x])
                return next(gen)
            for other in gc.get_objects():
                if isinstance(other, greenlet.greenlet) and other is not greenlet.getcurrent():
                    try:
                        other.throw(greenlet.GreenletExit)
                    except BaseException:
                        pass
            me = greenlet.getcurrent()
            helper = greenlet.greenlet(lambda v: me.switch(2 * v))
            return helper.switch(x)

        def g(x):
            if greenlet is None:
                def parked():
                    yield 2 * x
                    yield -1
                gen = parked()
                kept.append(gen)   # left suspended in the child
                return next(gen)
            keeper = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch(2 * x))
            value = keeper.switch()
            kept.append(keeper)   # left parked in the child
            return value

        def grader_things():
            names = [m for m in sys.modules if m.startswith(("autograder.grade", "autograder.runner"))]
            if greenlet is not None:
                names += [type(o).__name__ for o in gc.get_objects()
                          if isinstance(o, greenlet.greenlet) and type(o) is not greenlet.greenlet]
            return sorted(names)
    ''', imports=(*IMPORTS, "greenlet"))
    _assert_same(ahead, in_turn)
    assert ahead["score"] == 4.0, _verdicts(ahead)
