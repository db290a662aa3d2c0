"""Generated mutants: the issue's operators apply, ids are stable, every mutant compiles."""

from __future__ import annotations

from autograder.release.generated_mutants import generate_mutants, stub_mutants

SOURCE = '''import numpy as np


def f(X, n):
    """doc 1 < 2"""
    return np.mean(X @ X.T, axis=0) / n + 2.0 * np.dot(X, X.T)
'''


def test_every_named_operator_category_applies():
    found = {spec.category for spec, _ in stub_mutants("f", SOURCE.split("\n\n\n")[1], 200)}
    for category in ("arithmetic operator", "dropped term", "missing 1/n",
                     "constant off by a factor", "swapped arguments", "transposed result",
                     "constant off by one"):
        assert category in found


def test_deterministic_and_compilable():
    first = generate_mutants(SOURCE, ["f"], 6)
    assert [m.id for m in first] == [m.id for m in generate_mutants(SOURCE, ["f"], 6)]
    assert len(first) == 6 and len({m.id for m in first}) == 6
    for m in first:
        compile(m.source, m.id, "exec")
        assert m.source != SOURCE and m.diff.startswith("--- reference f")
