"""The ``autograder grade`` command: usage errors exit non-zero with the fix in the message."""

from __future__ import annotations

from click.testing import CliRunner

from autograder.cli import main
from autograder.grade.console import parse_limits


def test_missing_bundle_names_the_build_command(tmp_path):
    (tmp_path / "subs").mkdir()
    hw = "hw1_linear_regression"
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "subs"), "--assignment", hw,
                                       "--out", str(tmp_path / "out"), "--bundle-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"run `autograder build {hw} --out-dir {tmp_path.resolve()}` first" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_assignment_lists_the_known_ones(tmp_path):
    (tmp_path / "subs").mkdir()
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "subs"), "--assignment", "hw_nope",
                                       "--out", str(tmp_path / "out"), "--bundle-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown assignment 'hw_nope'" in result.output
    assert "hw1_linear_regression, hw2_layer_gradient, hw3_backprop, hw4_optimizers" in result.output
    assert "autograder build hw_nope" not in result.output
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "subs"), "-a", "hw4_optimiser",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "did you mean hw4_optimizers?" in result.output


def test_bad_limit_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--assignment", "hw9", "--out",
                                       str(tmp_path / "out"), "--limit", "bogus=3"])
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.output


def test_parse_limits():
    limits = parse_limits(["call_wall_s=2.5", "memory_mb=256"])
    assert (limits.call_wall_s, limits.memory_mb) == (2.5, 256)
    assert parse_limits([]) is None


def test_two_runs_cannot_share_an_output_folder(tmp_path):
    import fcntl

    import pytest

    from autograder.grade import OutputBusy, grade_class
    from tests.fixtures.grade_helpers import TINY_BUNDLE

    (tmp_path / "subs").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".grade.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputBusy):
            grade_class(tmp_path / "subs", TINY_BUNDLE, out, progress=False)
    summary = grade_class(tmp_path / "subs", TINY_BUNDLE, out, progress=False)  # free again
    assert summary.graded_now == 0 and summary.by_status == {}
