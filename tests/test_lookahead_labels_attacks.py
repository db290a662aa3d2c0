"""Attacks on the parameter names that now come inside the answers of the cases' merged request
(``batch.perform_batch(labels=True)``, ``child.Session.serve_call``) and on the requests that
cannot join it and are made by their own case (``merged.perform``'s ``alone``,
``batch``'s ``ended["unbatchable"]``), as a student who read the code would write them (a
reviewer helper).

The oracle is the same as tests/test_lookahead_attacks.py's: the same notebook graded with
``Grader.run_ahead`` True and False gets the same status, score and per-case verdicts. The names
only word a no-mutation message: whatever the child says about them, a function that changes
its input still fails its case, one that does not still passes, and a message names an argument
only by an identifier of at most 50 characters or ``argN``. The grading never ends in the
grader's own ``error`` status (``_both`` asserts it).

Seven of these (four weaknesses) succeeded when written and are fixed: calls made after the
grading budget was spent (a request made alone, or merged again after earlier cases' work); a
labels request that ended the process charged to the wrong case; the names worked out with
student code (a callable's ``__signature__``) in every merged call; a labels request for more
than 1,000 arguments killing an honest submission in turn.
"""

from __future__ import annotations

import gc
import re

import pytest

from tests.fixtures.grade_helpers import write_notebook
from tests.test_lookahead_attacks import (
    FORGER,
    IMPORTS,
    QUICK,
    SHORT,
    _assert_same,
    _both,
    _bundle,
    _one,
    _verdicts,
)

# -- helpers ----------------------------------------------------------------------------------

_NAMED = re.compile(r"(\S+) was modified in place")


def _passed(result: dict) -> list[bool]:
    return [c[1] for c in _verdicts(result)["cases"]]


def _assert_same_verdicts(ahead: dict, in_turn: dict) -> None:
    """What the names may not change (they may change a message's wording)."""
    a, b = _verdicts(ahead), _verdicts(in_turn)
    assert (a["status"], a["score"]) == (b["status"], b["score"]), (a, b)
    assert [c[:2] for c in a["cases"]] == [c[:2] for c in b["cases"]], (a["cases"], b["cases"])


def _assert_names_are_words(result: dict) -> None:
    """Every argument a no-mutation message names is an identifier of at most 50 characters
    (or argN): nothing else the child sent reaches the student's feedback."""
    for name, _, message in _verdicts(result)["cases"]:
        for label in _NAMED.findall(message):
            assert label.isidentifier() and len(label) <= 50, (name, label[:80])
        assert "v" * 51 not in message and "x was not modified" not in message, \
            (name, message[:300])


# -- 1. the child forging the names in its answers ----------------------------------------------

#: Wraps the child's Session.send: every answer that carries names (a call's answer in the
#: merged request, a ``labels`` answer one case at a time) carries FORGE(names) instead, so the
#: forgery is the same whichever way the names are asked for. ``UNASKED``: names are added to
#: every call's answer, asked for or not.
FORGE_SEND = FORGER + '''
import inspect
real_send = Session.send
UNASKED = False

def send(self, header, arrays=()):
    if isinstance(header, dict):
        if header.get("op") in ("return", "labels") and "labels" in header:
            header = dict(header, labels=FORGE(header["labels"]))
        elif UNASKED and header.get("op") in ("return", "raise"):
            header = dict(header, labels=["nothing_changed"] * 5)
    return real_send(self, header, arrays)

Session.send = send
'''

STUDENT = '''
def f(x):
    return 2 * x

def scale(values):
    values *= 2
    return values

def keep(first, second):
    return float(first.sum() + second.sum())

def second_only(a, b):
    b[0] = -1.0
    return float(a.sum())

def by_keyword(a, *, w):
    w += 1.0
    return float(a.sum())
'''

MUTATIONS = '''
    import numpy as np
    from autograder.checks import assert_no_mutation

    @test_case(name="plain", points=1)
    def test_plain(f):
        assert f(1) == 2

    @test_case(name="changes its input", points=1)
    def test_scale(scale):
        assert_no_mutation(scale, np.arange(4.0))

    @test_case(name="does not", points=1)
    def test_keep(keep):
        assert assert_no_mutation(keep, np.arange(3.0), np.ones(2)) == 5.0

    @test_case(name="changes its second input", points=1)
    def test_second(second_only):
        assert_no_mutation(second_only, np.arange(3.0), np.arange(3.0))

    @test_case(name="changes a keyword", points=1)
    def test_keyword(by_keyword):
        assert_no_mutation(by_keyword, np.arange(3.0), w=np.ones(3))

    @test_case(name="plain after", points=1)
    def test_after(f):
        assert f(5) == 10
'''
MUTATION_VERDICTS = [True, False, True, False, False, True]

FORGERIES = {
    "honest": "lambda real: real",
    "a_dict": "lambda real: {'0': 'values', '1': 'b'}",
    "a_string": "lambda real: 'values'",
    "ints_and_none": "lambda real: [1, None, 2.5, ['values']]",
    "empty": "lambda real: []",
    "1e5_strings": "lambda real: ['zz'] * 100_000",
    "1001_strings": "lambda real: ['zz'] * 1001",
    "not_identifiers": "lambda real: ['x was not modified', '1st', 'a-b', '', 'x y']",
    "10KB_names": "lambda real: ['v' * 10_000] * 5",
    "51_chars": "lambda real: ['v' * 51] * 5",
    "other_parameters": "lambda real: list(reversed(real)) + ['self']",
    "another_function": "lambda real: list(inspect.signature(keep).parameters)",
    "hiding_words": "lambda real: ['nothing_was_modified', 'not_this_one']",
    "control_chars": "lambda real: ['values\\nPASSED', 'b\\x00', 'w\\r']",
}


def _forger(forgery: str, unasked: bool = False) -> str:
    return FORGE_SEND + f"\nFORGE = {FORGERIES[forgery]}\nUNASKED = {unasked}\n" + STUDENT


def test_forged_names_in_the_answers_change_no_verdict_and_reach_no_message(tmp_path):
    """Each forgery rewrites every set of names the child sends (inside the merged request's
    answers ahead, in the ``labels`` answers in turn): the grader keeps its verdicts (a function
    that changes its input fails, one that does not passes, a keyword names itself), and a
    message names an argument by an identifier of at most 50 characters or argN."""
    bundle = _bundle(tmp_path, {"q1": MUTATIONS}, (*IMPORTS, "inspect"))
    names = [*FORGERIES, "unasked"]
    notebooks = [write_notebook(tmp_path / f"{n}.ipynb",
                                [_forger("honest", True) if n == "unasked" else _forger(n)])
                 for n in names]
    for name, (ahead, in_turn) in zip(names, _both(bundle, notebooks)):
        assert _passed(in_turn) == MUTATION_VERDICTS, (name, _verdicts(in_turn))
        # (the same names are forged either way: even the wording is the same)
        _assert_same(ahead, in_turn)
        for result in (ahead, in_turn):
            _assert_names_are_words(result)
            cases = _verdicts(result)["cases"]
            assert "w was modified in place" in cases[4][2], (name, cases[4])
            assert result["status"] == "graded" and not result["message"], \
                (name, result["message"])
        if name in ("honest", "unasked"):
            cases = _verdicts(ahead)["cases"]
            assert "values was modified in place" in cases[1][2], cases[1]
            assert "b was modified in place" in cases[3][2], cases[3]


# -- 2. names of another call, names on a failure -------------------------------------------------

PREVIOUS_NAMES = FORGER + '''
real_send = Session.send
previous = [["first_of_an_earlier_call", "second_of_it"]]

def send(self, header, arrays=()):
    # every set of names is answered with the set sent for the call before (another function)
    if isinstance(header, dict) and "labels" in header and \\
            header.get("op") in ("return", "labels"):
        previous.append(header["labels"])
        header = dict(header, labels=previous[-2])
    return real_send(self, header, arrays)

Session.send = send
''' + STUDENT

RAISE_WITH_NAMES = FORGER + '''
real_send = Session.send

def send(self, header, arrays=()):
    # scale's answer becomes a raise that still carries names; every failure carries names
    if isinstance(header, dict) and header.get("op") == "return" and \\
            _session_call_name() == "scale":
        header = {"op": "raise", "error": "ValueError: forged", "tb": "",
                  "labels": ["values"], "warnings": []}
    if isinstance(header, dict) and header.get("op") in ("raise", "protocol_error"):
        header = dict(header, labels=["values", "b", "w"])
    return real_send(self, header, arrays)

def _session_call_name():
    frame = sys._getframe(1)
    while frame is not None:
        msg = frame.f_locals.get("msg")
        if frame.f_code.co_name == "serve_call" and isinstance(msg, dict):
            return msg.get("name")
        frame = frame.f_back
    return None

Session.send = send
''' + STUDENT + '''
def fails(values):
    values[0] = 7.0
    raise ValueError("changed, then raised")
'''


#: Only the names inside the answers of the merged request are forged (not a labels answer).
IN_ANSWERS_ONLY = FORGER + '''
real_send = Session.send

def send(self, header, arrays=()):
    if isinstance(header, dict) and header.get("op") == "return" and "labels" in header:
        header = dict(header, labels=["zz_from_the_answer"] * 3)
    return real_send(self, header, arrays)

Session.send = send
''' + STUDENT


def test_names_of_another_call_or_on_a_failure_change_no_verdict(tmp_path):
    """The child answers every call with the names of the call before it (another function's,
    asked for or not); and turns scale's result into a failure that carries names (names on
    every failure). Verdicts as in turn; the wording may differ (the calls whose names are
    sent are not the same ones ahead), never with more than a word. A third child forges only
    the names inside its answers: ahead the message says them, so the names did come with the
    merged request's answers."""
    bundle = _bundle(tmp_path, {"q1": MUTATIONS + '''
    @test_case(name="changes its input, then raises", points=1)
    def test_fails(fails):
        assert_no_mutation(fails, np.arange(3.0))
'''})
    fails = '''
def fails(values):
    values[0] = 7.0
    raise ValueError("changed, then raised")
'''
    notebooks = [write_notebook(tmp_path / "previous.ipynb", [PREVIOUS_NAMES + fails]),
                 write_notebook(tmp_path / "raise.ipynb", [RAISE_WITH_NAMES]),
                 write_notebook(tmp_path / "in_answers.ipynb", [IN_ANSWERS_ONLY + fails])]
    (prev_ahead, prev_in_turn), (raise_ahead, raise_in_turn), (ans_ahead, ans_in_turn) = \
        _both(bundle, notebooks)
    # (the names ahead are the ones inside the merged request's answers: this path is taken)
    _assert_same_verdicts(ans_ahead, ans_in_turn)
    assert "zz_from_the_answer was modified" in _verdicts(ans_ahead)["cases"][1][2]
    assert "values was modified" in _verdicts(ans_in_turn)["cases"][1][2]
    _assert_same_verdicts(prev_ahead, prev_in_turn)
    assert _passed(prev_in_turn) == [*MUTATION_VERDICTS, False]
    _assert_same(raise_ahead, raise_in_turn)
    assert _passed(raise_in_turn) == [*MUTATION_VERDICTS, False]
    assert "forged" in _verdicts(raise_ahead)["cases"][1][2]
    for result in (prev_ahead, prev_in_turn, raise_ahead, raise_in_turn):
        _assert_names_are_words(result)


# -- 3. a request made alone (a callback) between ordinary ones, and the process ending ----------

ALONE_STUDENT = '''
import os, time
calls = []

def f(x):
    calls.append(("f", x))
    return 2 * x

def apply(fn, x):
    calls.append(("apply", x))
    if x == 13:
        {apply_kill}
    return fn(x)

def later(x):
    calls.append(("later", x))
    if x == 14:
        {later_kill}
    return 2 * x

def history():
    return list(calls)
'''
#: Every call's argument is larger than the ones before it: the last case checks that the
#: process saw them in that order (its history starts again on a fresh process).
ALONE_CASES = '''
    from autograder.checks import call_each

    @test_case(name="c0", points=1)
    def test0(f):
        assert f(1) == 2

    @test_case(name="c1 a callback", points=1)
    def test1(apply):
        assert apply(lambda v: v * 3, 2) == 6

    @test_case(name="c2 a call_each whose second call passes a callback", points=1)
    def test2(f, apply):
        outs = call_each([(f, (3,)), (apply, (lambda v: v * 3, 4))], no_mutation=False)
        assert [o.get() for o in outs] == [6, 12]

    @test_case(name="c3 asks twice", points=1)
    def test3(f, later):
        assert f(5) == 10
        assert later(6) == 12

    @test_case(name="c4 a callback", points=1)
    def test4(apply):
        assert apply(lambda v: v * 3, 13) == 39

    @test_case(name="c5", points=1)
    def test5(later):
        assert later(14) == 28

    @test_case(name="c6 the calls in their order", points=1)
    def test6(f, history):
        assert f(15) == 30
        xs = [x for _, x in history()]
        assert xs == sorted(xs), history()
'''
KILLS = {
    "none": "pass",
    "exit": "os._exit(9)",
    "loop": "while True:\n            pass",
    "callback_forever": "while True:\n            fn(x)",
}


@pytest.mark.parametrize("who,kill", [("apply", "none"), ("apply", "exit"), ("apply", "loop"),
                                      ("apply", "callback_forever"), ("later", "exit"),
                                      ("later", "loop")])
def test_a_callback_case_made_alone_between_merged_ones_ending_the_process(who, kill, tmp_path):
    """c1, c2 (the second call of its call_each) and c4 pass a callback: their requests cannot
    join the merged one and are made by their own case, after the earlier cases finish. The
    callback-using function (in c4) or the function of the case after it (c5) ends the process
    or never returns; c3's second request and c6's order of calls are as in turn."""
    student = ALONE_STUDENT.replace(
        "{apply_kill}", KILLS[kill] if who == "apply" else "pass").replace(
        "{later_kill}", KILLS[kill] if who == "later" else "pass")
    ahead, in_turn = _one(tmp_path, ALONE_CASES, student, limits=QUICK)
    if kill == "callback_forever":
        # (which of the call's two time limits words it is a race: the wall clock read while
        # waiting for the child, or the one read after serving a callback; so in turn too)
        _assert_same_verdicts(ahead, in_turn)
        assert "CallTimeout" in _verdicts(ahead)["cases"][4][2]
    else:
        _assert_same(ahead, in_turn)
    dead = {"apply": 4, "later": 5}[who] if kill != "none" else None
    assert _passed(ahead) == [i != dead for i in range(7)], _verdicts(ahead)


def test_requests_made_alone_for_a_shared_generator_or_an_argument_that_cannot_cross(tmp_path):
    """The other requests that cannot join: one Generator shared with an earlier case's request
    (the second case's function also changes its array), an argument that cannot cross; then a
    change seen in the merged request again, and the generator's third draw."""
    ahead, in_turn = _one(tmp_path, '''
        import numpy as np
        from autograder.checks import assert_no_mutation
        from autograder.checks.mutation import mutation_failure
        shared = {}
        draws = np.random.default_rng(0).random(3)

        @test_case(name="c0 draws", points=1)
        def test0(draw):
            shared["gen"] = np.random.default_rng(0)  # (the module is loaded once per grader)
            assert draw(shared["gen"], np.zeros(3)) == draws[0]

        @test_case(name="c1 draws from the same generator and changes its array", points=1)
        def test1(draw_and_scale):
            assert draw_and_scale(shared["gen"], np.arange(3.0)) == draws[1]
            failure = mutation_failure("draw_and_scale", [],
                                       draw_and_scale.last_call_mutations)
            assert failure is None, str(failure)

        @test_case(name="c2 an argument that cannot cross", points=1)
        def test2(draw):
            draw(object(), np.zeros(3))

        @test_case(name="c3 changes its input", points=1)
        def test3(scale):
            assert_no_mutation(scale, np.arange(4.0))

        @test_case(name="c4 the third draw", points=1)
        def test4(draw):
            assert draw(shared["gen"], np.zeros(3)) == draws[2]
    ''', '''
        def draw(gen, values):
            return gen.random()

        def draw_and_scale(gen, values):
            values *= 2
            return gen.random()

        def scale(values):
            values *= 2
            return values
    ''')
    _assert_same(ahead, in_turn)
    cases = _verdicts(ahead)["cases"]
    assert [c[1] for c in cases] == [True, False, False, False, True], cases
    assert "values was modified in place" in cases[1][2] and \
        "values was modified in place" in cases[3][2], cases


# -- 4. arrays that fit the arena alone, not after the earlier cases' -----------------------------

# 15e6 float64 = 120 MB (114 MiB): two fit the 256 MiB arena, three do not. np.zeros takes no
# memory until written; the grader's copies of the arrays it places are freed after each call.
BIG = 15_000_000
CROWDED_CASES = f'''
    import numpy as np
    from autograder.checks import assert_no_mutation

    @test_case(name="c0 120 MB, changes its last element", points=1)
    def test0(touch_last):
        assert_no_mutation(touch_last, np.zeros({BIG}))

    @test_case(name="c1 60 + 120 MB, changes the second (crowded mid-call)", points=1)
    def test1(touch_second):
        assert_no_mutation(touch_second, np.zeros({BIG // 2}), np.zeros({BIG}))

    @test_case(name="c2 120 MB, changes its last element", points=1)
    def test2(touch_last):
        assert_no_mutation(touch_last, np.zeros({BIG}))

    @test_case(name="c3 120 MB, changes its first element", points=1)
    def test3(touch_first):
        assert_no_mutation(touch_first, np.zeros({BIG}))

    @test_case(name="c4 120 MB, changes its last element", points=1)
    def test4(touch_last):
        assert_no_mutation(touch_last, np.zeros({BIG}))

    @test_case(name="c5 small, honest", points=1)
    def test5(total):
        assert assert_no_mutation(total, np.zeros(3)) == 0.0
'''
CROWDED_STUDENT = '''
def touch_last(values):
    values[-1] = 1.0
    return 0.0

def touch_first(values):
    values[0] = 1.0
    return 0.0

def touch_second(a, b):
    b[-1] = 1.0
    return 0.0

def total(values):
    return float(values[-1])
'''


def test_arrays_crowding_the_arena_are_observed_as_alone(tmp_path):
    """Ahead: c0's array and c1's first fit, c1's second does not (it would alone): c1 is made
    alone after c0 finishes; c2 and c3 (240 MB) share a request, c4's does not fit after theirs
    and is made alone, then c5's. Every change is seen as in turn, with the same words."""
    ahead, in_turn = _one(tmp_path, CROWDED_CASES, CROWDED_STUDENT,
                          limits=dict(SHORT, call_wall_s=3.0, call_cpu_s=3.0))
    gc.collect()
    assert _passed(in_turn) == [False, False, False, False, False, True], _verdicts(in_turn)
    _assert_same(ahead, in_turn)
    cases = _verdicts(ahead)["cases"]
    assert "values was modified in place" in cases[4][2] and "b was modified" in cases[1][2]


# 11.25e6 float64 = 90 MB: a step loop's constant crosses in the message (not the arena); one
# message holds 256 MiB of arrays: two such loops, not three
LOOP_CONSTANT = 11_250_000


def test_loops_whose_arrays_fit_one_message_alone_not_together(tmp_path):
    """Three step loops with a 90 MB constant each, then a call: the merged request is too
    large to send (a ProtocolError before anything is sent), the first loop is made alone,
    the rest together. Nothing fails that does not fail in turn."""
    tests = "".join(f'''
        @test_case(name="loop {i}", points=1)
        def test{i}(step):
            import numpy as np
            from autograder.checks import GRAD, THETA, StepCall, run_steps
            from autograder.checks.problems import quadratic_gradient
            loop = StepCall(step, THETA, GRAD, np.zeros({LOOP_CONSTANT}), returns=THETA)
            out = run_steps(loop, np.zeros(1), quadratic_gradient(np.eye(1), np.ones(1)), 2)
            assert np.allclose(out.iterates[-1], [0.75])
    ''' for i in range(3)) + '''
        @test_case(name="a call after them", points=1)
        def test_after(step):
            import numpy as np
            assert step(np.ones(1), np.ones(1), np.zeros(3))[0] == 0.5
    '''
    ahead, in_turn = _one(tmp_path, tests, '''
        def step(theta, grad, big):
            return theta - 0.5 * grad + big[-1]
    ''', limits=dict(SHORT, call_wall_s=2.0, call_cpu_s=2.0, memory_mb=512))
    gc.collect()
    _assert_same(ahead, in_turn)
    assert ahead["score"] == 4.0, _verdicts(ahead)


# -- 5. attacks that succeeded when written (fixed; see the module docstring) ---------------------

LABELS_END_THE_PROCESS = FORGER + '''
import os
real_send = Session.send

def send(self, header, arrays=()):
    # the names never come with an answer (so the grader asks for them in a labels request)
    if isinstance(header, dict) and header.get("op") == "return":
        header = {k: v for k, v in header.items() if k != "labels"}
    return real_send(self, header, arrays)

def serve_labels(self, msg):
    os._exit(5)  # ... which ends the process

Session.send = send
Session.serve_labels = serve_labels

def f(x):
    return 2 * x

def scale(values):
    values *= 2
    return values
'''
ASKS_TWICE_THEN_MUTATION = '''
    import numpy as np
    from autograder.checks import assert_no_mutation

    @test_case(name="c0 asks twice", points=1)
    def test0(f):
        assert f(1) == 2
        assert f(2) == 4

    @test_case(name="c1 changes its input", points=1)
    def test1(scale):
        assert_no_mutation(scale, np.arange(4.0))

    @test_case(name="c2", points=1)
    def test2(f):
        assert f(3) == 6
'''


def test_a_labels_request_ending_the_process_is_charged_to_its_own_case(tmp_path):
    """The child sends no names with its answers and ends the process when asked for them.
    In turn: c0 passes, c1's labels request ends the process (c1 fails, the death is c1's), c2
    runs on a fresh sandbox. Ahead, perform_batch asks for c1's names after the whole merged
    request (its fallback when an answer has no valid names), the process ends there, and
    merged.perform reports no end (ended_by stays None): died_in(0) is True, c0's second request
    meets the dead process (no Replay) and fails, and the notes charge the death to c0 too
    (score 1 instead of 2)."""
    ahead, in_turn = _one(tmp_path, ASKS_TWICE_THEN_MUTATION, LABELS_END_THE_PROCESS)
    assert _passed(in_turn) == [True, False, True], _verdicts(in_turn)
    _assert_same(ahead, in_turn)


SIGNATURE_STUDENT = '''
import os, time

class Total:
    """A callable object whose signature ends the process (or takes long) when asked."""
    @property
    def __signature__(self):
        {kill}
    def __call__(self, values):
        return float(values.sum())

total = Total()

def f(x):
    return 2 * x
'''
SIGNATURE_CASES = '''
    import numpy as np
    from autograder.checks import assert_no_mutation

    @test_case(name="c0", points=1)
    def test0(f):
        assert f(1) == 2

    @test_case(name="c1 does not change its input", points=1)
    def test1(total):
        assert assert_no_mutation(total, np.arange(4.0)) == 6.0

    @test_case(name="c2", points=1)
    def test2(f):
        assert f(3) == 6
'''


@pytest.mark.parametrize("kill", ["os._exit(5)", "raise SystemExit(0)",
                                  "time.sleep(0.4)\n        return None"])
def test_names_worked_out_inside_the_call_cost_it_nothing(kill, tmp_path):
    """The child works the names out (Session._param_names: inspect.signature, which runs the
    student's code for a callable object: its __signature__) for every call of the merged
    request with an array argument, inside the call, before its answer; one case at a time
    only after a change was seen. A function that does not change its input passes in turn;
    ahead its call ends with the process (sandbox_died, score 2), or exceeds its time."""
    ahead, in_turn = _one(tmp_path, SIGNATURE_CASES, SIGNATURE_STUDENT.replace("{kill}", kill),
                          limits=QUICK)
    assert _passed(in_turn) == [True, True, True], _verdicts(in_turn)
    _assert_same(ahead, in_turn)


def test_a_call_with_more_positional_arguments_than_names_are_sent_for(tmp_path):
    """1001 positional arguments (MAX_LABELS + 1), the first of which is changed. Ahead the
    names come with the answer (the first 1000): graded. In turn the labels request asks for
    1001 names (ask_labels sends call.arity unclamped), the child answers protocol_error "bad
    labels request", and Submission._ask ends the submission for it: sandbox_died (an honest
    submission; the grader's own request was out of bounds)."""
    ahead, in_turn = _one(tmp_path, '''
        import numpy as np
        from autograder.checks import assert_no_mutation

        @test_case(name="changes one of 1001 inputs", points=1)
        def test_many(touch):
            assert_no_mutation(touch, *[np.zeros(1) for _ in range(1001)])

        @test_case(name="after", points=1)
        def test_after(touch):
            assert touch(np.zeros(1)) == 0.0
    ''', '''
        def touch(first, *rest):
            first[0] = 1.0
            return 0.0
    ''')
    assert _passed(ahead) == [False, True], _verdicts(ahead)
    assert ahead["status"] == "graded", ahead["message"]
    _assert_same(ahead, in_turn)


BUDGET = dict(run_wall_s=0.3, run_cpu_s=0.3, call_wall_s=0.15, call_cpu_s=0.15, memory_mb=256)
BUDGET_SPENT = {
    # the student's own function spends the budget in c0's later requests; the cases after it
    # pass callbacks (made alone) or come after one (merged again, first entry unchecked)
    "by_the_student": '''
        @test_case(name="c0 spends the budget", points=1)
        def test0(slow):
            assert slow(0.01) == 0.01
            for _ in range(20):
                slow(0.12)
    ''' + "".join(f'''
        @test_case(name="c{i} a callback", points=1)
        def test{i}(apply):
            assert apply(lambda v: v * 3, {i}) == {3 * i}

        @test_case(name="c{i} after it", points=1)
        def test{i}b(slow):
            assert slow(0.01) == 0.01
    ''' for i in range(1, 4)),
    # the test's own code is slow (a reference computed in the grader) before its request; a
    # later case asks nothing of the sandbox (a global value)
    "by_a_slow_test": '''
        import time

        @test_case(name="c0", points=1)
        def test0(slow):
            assert slow(0.01) == 0.01

        @test_case(name="c1 a slow reference", points=1)
        def test1(slow):
            time.sleep(1.2)
            assert slow(0.01) == 0.01

        @test_case(name="c2 a value", points=1)
        def test2(answer):
            assert answer == 42

        @test_case(name="c3", points=1)
        def test3(slow):
            assert slow(0.01) == 0.01
    ''',
}


@pytest.mark.parametrize("how", list(BUDGET_SPENT))
def test_no_case_runs_after_the_grading_budget_is_spent(how, tmp_path):
    """In turn a case that starts after the budget is spent is "not run". Ahead:
    by_the_student: each callback case was parked in time (BudgetedProxy checks at the park),
    its request is made alone after c0 spent the budget, unchecked (perform_call); the case
    after it is the first entry of the next merged request (perform_batch checks the budget
    from the second entry on): all six pass, 6 points instead of 0, each call can take its
    full time limit past the budget. by_a_slow_test: _run_ahead starts c2 after c1's test code
    spent the budget; it asks nothing of the sandbox and passes (1 point more)."""
    ahead, in_turn = _one(tmp_path, BUDGET_SPENT[how], '''
        import time
        answer = 42

        def slow(v):
            time.sleep(v)
            return v

        def apply(fn, x):
            return fn(x)
    ''', limits=BUDGET)
    assert not any(_passed(in_turn)[1:]), _verdicts(in_turn)
    _assert_same(ahead, in_turn)
