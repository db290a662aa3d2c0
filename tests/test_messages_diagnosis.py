"""The automatic diagnoses of ``assert_close`` name only causes that fit what was measured."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import assert_close, assert_trajectory_close, problems, run_steps
from autograder.release.mutants import load_mutant
from autograder.release.sources import PROJECT_ROOT, assignment_source, load_solutions


def _fails(actual, expected, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, **kw)
    return str(info.value)


E = np.linspace(1.0, 2.0, 5)


def test_an_odd_factor_names_no_cause():
    msg = _fails(4.64669 * E, E)
    assert "4.64669 times the expected value: a constant factor" in msg
    assert "mean" not in msg and "1/n" not in msg and " lr" not in msg


def test_whole_factors_name_the_causes_that_fit_them():
    assert "2 vs 1, or a sum over 2 entries" in _fails(2 * E, E)
    assert "a sum over 7 entries where a mean was wanted, or a missing 1/7" in _fails(7 * E, E)
    assert "a mean over 4 entries where a sum was wanted" in _fails(E / 4, E)
    assert "half the expected value" in _fails(E / 2, E)


def test_a_single_number_is_diagnosed_only_for_simple_ratios():
    assert "3 times the expected value: a factor 3 too many" in _fails(6.0, 2.0)
    assert "the result equals -expected" in _fails(-2.5, 2.5)
    msg = _fails(2.0 * 1.4566, 2.0)
    assert "times the expected value" not in msg and "factor" not in msg


def test_an_offset_needs_more_than_two_entries():
    assert "plus 0.5 everywhere: an offset" in _fails(E + 0.5, E)
    assert "offset" not in _fails(E[:2] + 0.5, E[:2])


def _adam_rosenbrock(adam_step):
    def step(th, g, state):
        m, v, t = state
        th, m, v = adam_step(th, g, m, v, t + 1, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8)
        return th, (m, v, t + 1)
    rosen = problems.rosenbrock()
    z2 = np.zeros(2)
    return run_steps(step, rosen.start(), rosen.grad, 5, state=(z2, z2, 0))


@pytest.mark.parametrize("mutant", ["adam_step__no_bias_correction", "adam_step__t_zero_based"])
def test_adam_first_step_is_not_called_an_offset(mutant):
    # the first step of both mistakes moves every coordinate by the same amount: a coincidence
    source = assignment_source("hw4_optimizers", repo_root=PROJECT_ROOT)
    reference = load_solutions(source).adam_step
    wrong = load_mutant(source.mutants_dir / f"{mutant}.py").functions["adam_step"]
    with pytest.raises(AssertionError) as info:
        assert_trajectory_close(_adam_rosenbrock(wrong), _adam_rosenbrock(reference).iterates,
                                rtol=1e-10, atol=1e-13, name="Adam on Rosenbrock")
    assert "first differs at step 1" in str(info.value)
    assert "offset" not in str(info.value)
