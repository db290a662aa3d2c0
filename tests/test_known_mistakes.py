"""Diagnosis by known mistakes: a failed result that equals what a mutant returns is named.

The build records each mutant's values under ``mistake:<key>:<mutant>`` beside the expected
values (trusted code, in the build process); ``assert_close`` names the mistake when the
student's result matches one within the case's own tolerance, and only then.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import Reference, assert_close, load_expected, save_expected
from autograder.checks.mistakes import PREFIX, mistake_key


def _fails(actual, expected, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, **kw)
    return str(info.value)


@pytest.fixture
def reference(tmp_path, monkeypatch):
    expected = (np.array([1.0, 2.0, 3.0]), 0.5)
    wrong = (np.array([1.5, 2.5, 3.5]), 0.25)
    save_expected(tmp_path / "q1.npz", {
        "k": expected,
        mistake_key("k", "f__off_by_half"): {"value": wrong, "why": "f returns when it adds 1/2"},
    })
    monkeypatch.setenv("AUTOGRADER_EXPECTED_DIR", str(tmp_path))
    return Reference("q1"), expected, wrong


def test_a_result_equal_to_a_known_mistake_is_named(reference):
    ref, _, wrong = reference
    msg = _fails((wrong[0] + 1e-13, wrong[1]), ref.call("k", "f"), rtol=1e-9)
    assert msg.startswith("known mistake: your result is what f returns when it adds 1/2")
    # a part of the expected value (one element of the tuple) is recognised too, floats included
    expected = ref.call("k", "f")
    assert "known mistake" in _fails(wrong[0], expected[0])
    assert "known mistake" in _fails(wrong[1], expected[1])


def test_other_wrong_results_are_not_called_a_known_mistake(reference):
    ref, _, wrong = reference
    assert "known mistake" not in _fails((wrong[0] + 1e-3, wrong[1]), ref.call("k", "f"),
                                         rtol=1e-9)
    assert "known mistake" not in _fails(np.zeros(3), ref.call("k", "f")[0])
    # a value equal to the expected one but not handed out by the Reference names nothing
    assert "known mistake" not in _fails(wrong[0], np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("hw", ["hw4_optimizers", "hw3_backprop"])
def test_templates_ship_public_mistakes_only(hw, fresh_build):
    build = fresh_build(hw)
    from autograder.testfiles import load_questions

    bundle_questions = {q.name: q for q in load_questions(build.bundle_path / "tests")}
    public_total = 0
    for npz in sorted((build.template_path / "expected").glob("*.npz")):
        public = load_expected(npz)
        everything = load_expected(build.bundle_path / "expected" / npz.name)
        assert bundle_questions[npz.stem].cases
        mistakes = {k for k in public if k.startswith(PREFIX)}
        public_total += len(mistakes)
        for key in mistakes:
            base = key[len(PREFIX):].rsplit(":", 1)[0]
            assert base in public, f"{npz.name}: {key} belongs to no public expected value"
        hidden = {k for k in everything if k.startswith(PREFIX)} - mistakes
        assert all(k[len(PREFIX):].rsplit(":", 1)[0] not in public for k in hidden)
    assert public_total > 0, f"{hw}: no known mistake ships with the template"


def test_hw4_known_mistakes_read_as_sentences():
    """The student reads "your result is what <stub> returns when it <the mutant's first
    docstring line, lower-cased>": each hw4 mutant's line starts with a verb, so it reads."""
    from autograder.release.sources import PROJECT_ROOT

    whys = {}
    for npz in sorted((PROJECT_ROOT / "student_template" / "hw4_optimizers" / "expected")
                      .glob("*.npz")):
        for key, value in load_expected(npz).items():
            if key.startswith(PREFIX):
                whys[key.rsplit(":", 1)[1]] = value["why"]
    assert whys["momentum_step__ema_form"] == (
        "momentum_step returns when it uses the RL lecture's averaged form velocity' = "
        "beta v + (1 - beta) grad, not heavy ball (check: no (1 - beta) factor)"
    )
    assert len(whys) >= 15
    for mutant, why in sorted(whys.items()):
        words = why.split(" returns when it ", 1)[1].split()
        verb = words[1] if words[0] == "never" else words[0]
        assert verb.endswith("s"), f"{mutant}: {why!r} does not read as a sentence"


def test_the_index_of_mistakes_matches_the_lookup_per_key():
    # keys may hold colons ("a:b"), and a key's prefix ("a") then matches the longer key's
    # mistakes too: the one-pass index must give what the per-key scan gives, in its order
    values = {
        "a": 1.0, "a:b": 2.0, "c": 3.0,
        mistake_key("a", "m2"): {"value": 1.5, "why": "m2"},
        mistake_key("a", "m1"): {"value": 1.25, "why": "m1"},
        mistake_key("a:b", "m3"): {"value": 2.5, "why": "m3"},
        f"{PREFIX}c:broken": {"value": 9.0},  # no "why": not a mistake
        "unrelated": {"value": 0.0, "why": "not under the prefix"},
    }
    from autograder.checks.mistakes import index, mistakes_of

    built = index(values)
    for key in ("a", "a:b", "c", "unrelated", "missing"):
        assert built.get(key, []) == mistakes_of(values, key), key
    assert [why for _, why in built["a"]] == ["m3", "m1", "m2"]  # by name: "a:b:m3" < "a:m1"


def test_a_case_remembers_its_own_lookups_only(reference, tmp_path):
    # the runner gives each case a fresh memory: a case names the mistakes of what it looked
    # up, and what earlier cases looked up is neither kept (nor copied at every lookup)
    from autograder.checks.mistakes import alternatives
    from autograder.runner import run_question
    from autograder.testfiles import load_question

    ref, _, wrong = reference
    before = ref.call("k", "f")
    assert alternatives(before)  # remembered out here (as in a Jupyter check)
    test = tmp_path / "q9.py"
    test.write_text(
        "from autograder.checks import Reference, test_case\n"
        "from autograder.checks.mistakes import alternatives\n"
        "name = 'q9'\npoints = 2\n"
        "SEEN = []\n"
        "@test_case(points=1)\n"
        "def first(env):\n"
        "    SEEN.append(len(alternatives(Reference('q1').call('k', 'f'))))\n"
        "@test_case(points=1)\n"
        "def second(env):\n"
        "    SEEN.append(env['OUTSIDE'] is not None and len(alternatives(env['OUTSIDE'])))\n")
    question = load_question(test)
    result = run_question(question, {"OUTSIDE": before})
    assert result.score == 2
    seen = question.cases[0].func.__globals__["SEEN"]
    assert seen == [1, 0]  # its own lookup named; the outside one not visible inside a case
    assert alternatives(before)  # and the outside memory is back after the cases
