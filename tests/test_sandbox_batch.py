"""``checks.call_each``: independent calls in one request through sandbox proxies, and attacked.

The outcomes must be exactly those of the same calls made one by one in-process (values, the
no-mutation verdict, the student's exceptions, refused results), read in order; a call that
kills the process must leave the earlier outcomes intact; Generators cross in the request and
end in the states the same calls one by one leave them in (advanced when unchecked, untouched
when checked, as ``assert_no_mutation`` leaves them); calls that need a conversation
(callbacks), share one Generator or belong to different submissions are made one by one; and a
child that forges the batched answers (too few, a callback nobody offered, labels that hide a
change in place, a forged generator state) gains nothing.
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from autograder.checks import call_each
from autograder.grade.budget import Budget as _Budget
from autograder.grade.budget import BudgetedProxy as _BudgetedProxy
from autograder.sandbox import CallTimeout, ForkServer, Limits, SandboxDied
from tests.fixtures.sandbox_helpers import count_requests

LIMITS = Limits(run_wall_s=20, call_wall_s=2, call_cpu_s=1)

FUNCTIONS = textwrap.dedent('''
    import numpy as np

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    def scale_in_place(z):
        z *= 2.0
        return z

    def boom(z):
        raise ValueError(f"bad z of shape {np.shape(z)}")

    def junk(z):
        return object()

    def pair(z, k=2):
        return z[:k], {"n": int(np.size(z))}

    def exit_now(z):
        import os
        os._exit(3)
''')
NAMES = ["sig", "scale_in_place", "boom", "junk", "pair", "sig"]


def _calls(ns: dict) -> list:
    z = np.linspace(-2.0, 2.0, 5)
    return [(ns["sig"], (z,)), (ns["scale_in_place"], (z,)), (ns["boom"], (z.reshape(5, 1),)),
            (ns["junk"], (z,)), (ns["pair"], (z,), {"k": 3}), (ns["sig"], (np.array(0.5),))]


def _shown(outcome):
    try:
        value = outcome.get()
    except Exception as exc:  # noqa: BLE001 - the verdict is what is compared
        return ("error", type(exc).__name__ if isinstance(exc, AssertionError) else "error",
                str(exc).split("\n")[0])
    return ("value", repr(value))



@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _local() -> dict:
    ns: dict = {}
    exec(FUNCTIONS, ns)
    return ns


def test_one_request_and_the_outcomes_of_the_calls_made_one_by_one(server):
    local = [_shown(o) for o in call_each(_calls(_local()), names=NAMES)]
    with server.spawn([FUNCTIONS]) as sub:
        sent = count_requests(sub)
        proxies = {name: sub.proxy(name) for name in set(NAMES)}
        sandboxed = [_shown(o) for o in call_each(_calls(proxies), names=NAMES)]
        # one request for the calls, and one for the parameter names of the call that changed
        # its input (they word the message; asked for only then)
        assert sent == ["calls", "labels"]
        one_by_one = []
        for fn, args, *kw in _calls(proxies):
            try:
                from autograder.checks import assert_no_mutation
                one_by_one.append(("value", repr(assert_no_mutation(fn, *args, **(kw[0] if kw
                                                                                  else {})))))
            except Exception as exc:  # noqa: BLE001
                one_by_one.append(("error", type(exc).__name__ if isinstance(exc, AssertionError)
                                   else "error", str(exc).split("\n")[0]))
        assert sub.alive
    assert sandboxed == one_by_one
    # in-process (Jupyter): the same values and failures, but for what only the boundary
    # refuses (an object returned) and the proxies' own wording (as one call at a time words it)
    assert [s[0] for i, s in enumerate(sandboxed) if i != 3] == \
        [s[0] for i, s in enumerate(local) if i != 3]
    assert local[3][0] == "value" and sandboxed[3][0] == "error"
    assert sandboxed[0] == local[0] and sandboxed[4] == local[4]
    assert float(sandboxed[5][1]) == float(local[5][1].removeprefix("np.float64(").rstrip(")"))
    assert "scale_in_place modified its input: z was modified in place" in sandboxed[1][2]
    assert "ValueError: bad z of shape (5, 1)" in sandboxed[2][2]
    assert "object" in sandboxed[3][2]


def test_without_the_no_mutation_check_values_come_back_as_returned(server):
    with server.spawn([FUNCTIONS]) as sub:
        z = np.ones(3)
        (out,) = call_each([(sub.proxy("scale_in_place"), (z,))], no_mutation=False)
        np.testing.assert_array_equal(out.get(), 2.0 * np.ones(3))
        np.testing.assert_array_equal(z, np.ones(3))  # the test's array never moved


def test_parameter_names_are_asked_for_only_when_an_argument_changed(server):
    from autograder.checks import assert_no_mutation

    with server.spawn([FUNCTIONS]) as sub:
        sent = count_requests(sub)
        z = np.linspace(-1.0, 1.0, 3)
        assert_no_mutation(sub.proxy("sig"), z, name="sig")
        call_each([(sub.proxy("sig"), (z,)), (sub.proxy("pair"), (z,), {"k": 2})])
        assert sent == ["call", "calls"]  # a passing check costs no naming
        with pytest.raises(AssertionError, match="scale_in_place modified its input: z was"):
            assert_no_mutation(sub.proxy("scale_in_place"), z, name="scale_in_place")
        assert sent[2:] == ["call", "labels"]
        np.testing.assert_array_equal(z, np.linspace(-1.0, 1.0, 3))


def test_a_call_that_kills_the_process_keeps_the_outcomes_before_it(server):
    with server.spawn([FUNCTIONS]) as sub:
        p = {n: sub.proxy(n) for n in ("sig", "exit_now")}
        z = np.zeros(2)
        outs = call_each([(p["sig"], (z,)), (p["exit_now"], (z,)), (p["sig"], (z,))])
        np.testing.assert_array_equal(outs[0].get(), 0.5 * np.ones(2))
        for out in outs[1:]:
            with pytest.raises(SandboxDied, match="code 3"):
                out.get()
        assert not sub.alive


def test_calls_that_need_a_conversation_or_mix_submissions_go_one_by_one(server):
    cell = FUNCTIONS + "\ndef apply(f, z):\n    return f(z)\ndef draw(rng):\n    return rng.normal()\n"
    with server.spawn([cell]) as sub, server.spawn([cell]) as other:
        sent = count_requests(sub)
        apply, draw, sig = sub.proxy("apply"), sub.proxy("draw"), sub.proxy("sig")
        rng = np.random.default_rng(3)
        outs = call_each([(apply, (np.sum, np.ones(3))), (sig, (np.zeros(1),))],
                         no_mutation=False)
        assert outs[0].get() == 3.0 and sent.count("call") == 2 and "calls" not in sent
        sent.clear()
        # one Generator given to two calls: the second draws where the first left it
        outs = call_each([(draw, (rng,)), (draw, (rng,))], no_mutation=False)
        mirror = np.random.default_rng(3)
        assert [o.get() for o in outs] == [mirror.normal(), mirror.normal()]
        assert sent == ["call", "call"] and rng.bit_generator.state == mirror.bit_generator.state
        sent.clear()
        outs = call_each([(sig, (np.zeros(1),)), (other.proxy("sig"), (np.zeros(1),))])
        assert sent == ["call"] and outs[1].get()[0] == 0.5
        outs = call_each([(sig, (np.zeros(1),)), (lambda z: z, (np.zeros(1),))])
        assert "calls" not in sent and outs[1].get()[0] == 0.0


GENERATORS = textwrap.dedent('''
    import numpy as np

    def draw(rng, k=2):
        return rng.normal(size=k)

    def perm(n, rng):
        p = rng.permutation(n)
        return [p[i:i + 2] for i in range(0, n, 2)]

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))
''')


def _generator_calls(ns: dict, seeds=(5, 6)) -> tuple[list, list]:
    gens = [np.random.default_rng(s) for s in seeds]
    return gens, [(ns["draw"], (gens[0],), {"k": 3}), (ns["sig"], (np.zeros(2),)),
                  (ns["perm"], (7, gens[1]))]


def _values(outcomes) -> list:
    return [repr(o.get()) for o in outcomes]


@pytest.mark.parametrize("checked", [False, True, [True, False, False]])
def test_generators_cross_in_one_request_and_end_as_the_calls_one_by_one_leave_them(server,
                                                                                     checked):
    local = _local_generators()
    gens_local, calls_local = _generator_calls(local)
    expected = _values(call_each(calls_local, no_mutation=checked))  # in-process (Jupyter)
    with server.spawn([GENERATORS]) as sub:
        sent = count_requests(sub)
        proxies = {n: sub.proxy(n) for n in ("draw", "perm", "sig")}
        gens, calls = _generator_calls(proxies)
        got = _values(call_each(calls, no_mutation=checked))
        assert sent == ["calls"]
        assert got == expected
        # unchecked calls advance the test's Generators, checked ones draw from a copy
        for gen, mine in zip(gens, gens_local):
            assert gen.bit_generator.state == mine.bit_generator.state
        flags = [checked] * 3 if isinstance(checked, bool) else checked
        untouched = np.random.default_rng(5).bit_generator.state
        assert (gens[0].bit_generator.state == untouched) == flags[0]
        # and one by one through the proxies gives the same
        gens_one, calls_one = _generator_calls(proxies)
        one = []
        for (fn, args, *kw), flag in zip(calls_one, flags):
            from autograder.checks import assert_no_mutation
            kwargs = kw[0] if kw else {}
            value = assert_no_mutation(fn, *args, **kwargs) if flag else fn(*args, **kwargs)
            one.append(repr(value))
        assert one == got
        for gen, mine in zip(gens_one, gens):
            assert gen.bit_generator.state == mine.bit_generator.state


def _local_generators() -> dict:
    ns: dict = {}
    exec(GENERATORS, ns)
    return ns


@pytest.mark.parametrize("forged", [
    "state['state']['inc'] = 2",                    # an even PCG increment (numpy's C relies on odd)
    "state['state']['state'] = 1 << 200",           # out of range
    "state['bit_generator'] = 'MT19937'",           # another kind
    "state = {'x': 1}",                             # another shape
])
def test_a_forged_generator_state_in_a_batch_fails_that_call_only(server, forged):
    # the child answers the first call with a forged state for the test's Generator: that call
    # fails with the grader's words, the Generator keeps its state, the next calls are intact
    body = f'''
        first, *rest = msg["calls"]
        send = self.send
        def forge(header, arrays=()):
            if header.get("op") == "return" and header.get("rng"):
                state = self._rngs[0][1].bit_generator.state
                {forged}
                arrays = list(arrays)
                header = dict(header, rng=[self_codec.encode(state, arrays)])
            return send(header, arrays)
        self.send = forge
        self.serve_call(first, arrs)
        self.send = send
        for call in rest:
            self.serve_call(call, arrs)
    '''
    cell = GENERATORS + "\nimport sys\nself_codec = sys.modules['autograder.sandbox.codec']\n"
    with server.spawn([_patched(body, cell)]) as sub:
        proxies = {n: sub.proxy(n) for n in ("draw", "perm", "sig")}
        gens, calls = _generator_calls(proxies)
        before = gens[0].bit_generator.state
        outs = call_each(calls, no_mutation=False)
        with pytest.raises(Exception, match="generator state"):
            outs[0].get()
        assert gens[0].bit_generator.state == before
        assert outs[1].get()[0] == 0.5
        mirror = np.random.default_rng(6)
        expected = mirror.permutation(7)
        np.testing.assert_array_equal(np.concatenate(outs[2].get()), expected)
        assert gens[1].bit_generator.state == mirror.bit_generator.state


def _patched(body: str, functions: str = FUNCTIONS) -> str:
    return functions + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        def serve_calls(self, msg, arrs):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_calls = serve_calls\n"


def test_too_few_answers_end_in_the_limits_of_the_batch(server):
    body = '''
        self.serve_call(msg["calls"][0], arrs)
        import time
        time.sleep(60)
    '''
    with server.spawn([_patched(body)]) as sub:
        sig = sub.proxy("sig")
        started = time.monotonic()
        outs = call_each([(sig, (np.zeros(1),))] * 3)
        assert time.monotonic() - started < 3 * LIMITS.call_wall_s + 2
        assert outs[0].get()[0] == 0.5
        for out in outs[1:]:
            with pytest.raises(CallTimeout):
                out.get()
        assert not sub.alive


def test_an_unoffered_callback_in_a_batch_kills_the_submission(server):
    body = '''
        self.send({"op": "callback", "id": 1, "args": [], "kwargs": {"d": []}})
        import time
        time.sleep(60)
    '''
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(1),))] * 2)
        for out in outs:
            with pytest.raises(Exception, match="unexpected message 'callback'|not running"):
                out.get()
        assert not sub.alive


@pytest.mark.parametrize("labels", ["[]", "['x was not modified; fine']", "['z' * 10000]",
                                    "None", "{'z': 1}", "['sig', 'scale_in_place'] * 600"])
def test_labels_that_hide_a_change_in_place_change_nothing(server, labels):
    # asked for the names of the changed call's arguments, the child answers with none, with
    # words that are no name, or with too many: the grader still compares the shared memory
    # itself, and an argument it cannot name is arg0
    body = f"""
        Session = sys.modules["autograder.sandbox.child"].Session
        Session.serve_labels = lambda self, msg: self.send({{"op": "labels", "labels": {labels}}})
        for call in msg["calls"]:
            self.serve_call(call, arrs)
    """
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("sig"), (np.zeros(2),)),
                          (sub.proxy("scale_in_place"), (np.ones(2),))],
                         names=["sig", "scale_in_place"])
        assert outs[0].get()[0] == 0.5
        expected = "sig" if labels.startswith("['sig'") else "arg0"
        with pytest.raises(AssertionError,
                           match=f"scale_in_place modified its input: {expected} was"):
            outs[1].get()
        assert sub.alive


def test_a_labels_answer_of_another_kind_kills_the_submission_not_the_verdict(server):
    body = """
        Session = sys.modules["autograder.sandbox.child"].Session
        Session.serve_labels = lambda self, msg: self.send({"op": "return", "value": 1.0})
        for call in msg["calls"]:
            self.serve_call(call, arrs)
    """
    with server.spawn([_patched(body)]) as sub:
        outs = call_each([(sub.proxy("scale_in_place"), (np.ones(2),))], names=["scale_in_place"])
        with pytest.raises(AssertionError, match="scale_in_place modified its input: arg0 was"):
            outs[0].get()
        assert not sub.alive


def test_a_spent_grading_budget_refuses_the_batch(server):
    with server.spawn([FUNCTIONS]) as sub:
        budget = _Budget(0.0)
        time.sleep(0.01)
        sig = _BudgetedProxy(sub.proxy("sig"), budget, CallTimeout)
        with pytest.raises(CallTimeout, match="budget"):
            call_each([(sig, (np.zeros(1),))] * 2)
        fresh = _BudgetedProxy(sub.proxy("sig"), _Budget(60.0), CallTimeout)
        sent = count_requests(sub)
        outs = call_each([(fresh, (np.zeros(1),)), (fresh, (np.ones(1),))])
        assert sent == ["calls"] and outs[1].get()[0] == pytest.approx(1 / (1 + np.exp(-1)))


WARNING_FUNCTIONS = textwrap.dedent('''
    import numpy as np

    def naive(z):
        return 1.0 / (1.0 + np.exp(-z))

    def stable(z):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def hushed(z):
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
''')


def _warning_verdicts(fns: dict, z) -> list:
    from autograder.checks import assert_warning_free

    names = ["naive", "stable", "naive"]
    outcomes = call_each([(fns[n], (z,)) for n in names], no_mutation=[False, True, False],
                         warnings=[True, True, False])
    shown = [tuple(o.warnings) for o in outcomes]
    for n, o in zip(names[:2], outcomes[:2]):
        try:
            assert_warning_free(fns[n], name=f"{n}(z)", outcome=o)
            shown.append("pass")
        except AssertionError as exc:
            shown.append(str(exc))
    return shown


def test_recorded_warnings_are_those_of_the_calls_one_by_one(server):
    # in Jupyter (plain functions, recorded here) and through the sandbox in one request: the
    # same warnings per call, the same verdicts as assert_warning_free making the call itself
    from autograder.checks import assert_warning_free

    z = np.array([-1000.0, 0.0, 1000.0])
    local: dict = {}
    exec(WARNING_FUNCTIONS, local)
    with server.spawn([WARNING_FUNCTIONS]) as sub:
        sent = count_requests(sub)
        proxies = {n: sub.proxy(n) for n in ("naive", "stable", "hushed")}
        sandboxed = _warning_verdicts(proxies, z)
        assert sent == ["calls"]
        direct = []
        for n in ("naive", "stable"):
            try:
                assert_warning_free(proxies[n], z, name=f"{n}(z)")
                direct.append("pass")
            except AssertionError as exc:
                direct.append(str(exc))
    in_process = _warning_verdicts(local, z)
    assert sandboxed == in_process
    assert sandboxed[3:] == direct
    assert sandboxed[0] and sandboxed[0][0][0] == "RuntimeWarning" and sandboxed[1] == ()
    assert sandboxed[2] == ()  # not asked for: none recorded
    assert "raised RuntimeWarning: overflow" in sandboxed[3] and sandboxed[4] == "pass"


def test_a_function_that_hides_its_warnings_fails_with_an_outcome_too(server):
    # the suppression verdict does not depend on the call: through a proxy (flagged by the
    # grader's analysis of the source) and in-process (analysed here)
    from autograder.checks import assert_warning_free

    z = np.array([-1000.0, 1000.0])
    local: dict = {}
    exec(WARNING_FUNCTIONS, local)
    with server.spawn([WARNING_FUNCTIONS]) as sub:
        hushed = sub.proxy("hushed")
        hushed.suppresses_warnings = True  # what the worker's analysis sets for this source
        (outcome,) = call_each([(hushed, (z,))], no_mutation=False, warnings=True)
        with pytest.raises(AssertionError, match="switches numerical warnings off"):
            assert_warning_free(hushed, name="hushed(z)", outcome=outcome)
    (outcome,) = call_each([(local["hushed"], (z,))], no_mutation=False, warnings=True)
    with pytest.raises(AssertionError, match="switches numerical warnings off"):
        assert_warning_free(local["hushed"], name="hushed(z)", outcome=outcome)


def test_a_child_that_forges_its_warnings_only_words_its_own_verdict(server):
    # the child drops the warnings of its answers: a warning-free verdict it did not earn is
    # what hiding them inside the function would give, and that is caught by the grader's
    # analysis of the source (the test above); forged extra warnings only fail its own case
    body = '''
        send = self.send
        def quiet(header, arrays=()):
            if header.get("op") == "return":
                header = dict(header, warnings=[["RuntimeWarning", "x" * 10000]] * 500)
            return send(header, arrays)
        self.send = quiet
        for call in msg["calls"]:
            self.serve_call(call, arrs)
        self.send = send
    '''
    with server.spawn([_patched(body, WARNING_FUNCTIONS)]) as sub:
        outcomes = call_each([(sub.proxy("stable"), (np.zeros(2),))] * 2, no_mutation=False,
                             warnings=True)
        for outcome in outcomes:
            assert len(outcome.warnings) <= 100
            assert all(len(text) <= 1000 for _, text in outcome.warnings)
        assert sub.alive
