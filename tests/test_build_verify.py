"""``autograder verify`` on the four assignments: every release check holds.

The per-case time budget is a row of the TA's report, not an assertion here (no timed
assertions in CI); every other row must be ok.
"""

from __future__ import annotations

import pytest

from autograder.release import ASSIGNMENTS, verify_assignment
from autograder.release.sources import PROJECT_ROOT
from autograder.release.verify import CASE_TIME_BUDGET_S


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_verify_every_release_check(hw):
    report = verify_assignment(hw, repo_root=PROJECT_ROOT)
    timing = f"every case under {CASE_TIME_BUDGET_S:g} s on the reference"
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok and c.name != timing]
    assert failed == [], "\n".join(failed)
    names = [c.name for c in report.checks]
    for expected in ("reference scores full marks", "blank template scores zero",
                     "deterministic (second run, same outcomes and messages)",
                     "nothing hidden in the student copy", "student_template is current"):
        assert expected in names
    assert sum(name.startswith("mutant ") for name in names) >= 1


def test_verify_cli_exit_codes(tmp_path):
    from click.testing import CliRunner

    from autograder.cli import main

    hw = ASSIGNMENTS[0]
    runner = CliRunner()
    result = runner.invoke(main, ["verify", hw])
    assert result.exit_code == 0, result.output
    assert f"{hw}: ready to release" in result.output
    assert "blank template scores zero" in result.output
    # an empty template folder: nothing to ship, so not ready
    result = runner.invoke(main, ["verify", hw, "--template-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "NOT ready" in result.output and "missing: " in result.output
