"""Recorded expected values mean the same on every CPU: structure exactly, floats within ULPs.

Both sides: values moved by a few units in the last place (what another CPU's BLAS and SIMD
kernels do) are current, and the committed templates, perturbed that way, pass ``build --check``
and ``verify``; a value changed by 1e-9 relative, a missing key, a changed shape or dtype, a
changed int or bool are stale. A rebuild keeps committed bytes that are numerically the same.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from autograder.checks import load_expected, save_expected
from autograder.cli import main
from autograder.release import ASSIGNMENTS, check_template, verify_assignment
from autograder.release.sources import PROJECT_ROOT
from autograder.release.values import ULPS, expected_file_differences, value_differences
from autograder.release.verify import CASE_TIME_BUDGET_S
from tests.conftest import DEMO_HW, build_kwargs

COMMITTED = PROJECT_ROOT / "student_template"
EPS = np.finfo(np.float64).eps


def _ulps(x, k):
    """``x`` moved by ``k`` units in the last place of each entry (k may be negative)."""
    x = np.asarray(x, dtype=np.float64)
    return x + k * np.spacing(np.abs(x))


def _map_floats(value, fn):
    """``value`` with ``fn`` applied to every float leaf (arrays of floats and Python floats)."""
    if isinstance(value, dict):
        return {k: _map_floats(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map_floats(v, fn) for v in value)
    if isinstance(value, float):
        return float(fn(np.asarray(value)))
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return fn(value).astype(value.dtype)
    return value


def _perturb_by_ulps(rng):
    def fn(x):
        return _ulps(x, rng.integers(1, 5, size=np.shape(x)) * rng.choice([-1, 1], np.shape(x)))

    return fn


def _rewrite_expected(template, fn):
    """Apply ``fn`` to every float of every ``expected/*.npz`` in ``template``; count files."""
    changed = 0
    for path in sorted((template / "expected").glob("*.npz")):
        before = path.read_bytes()
        save_expected(path, _map_floats(load_expected(path), fn))
        changed += path.read_bytes() != before
    return changed


# -- the comparison itself ---------------------------------------------------------------------


def test_a_few_ulps_are_the_same_value():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    value = {"theta": a, "loss": 0.25, "steps": 7, "ok": True, "traj": (a[0], [a[1], -a[2]])}
    moved = _map_floats(value, lambda x: _ulps(x, 4))
    assert value_differences(value, moved) == []
    # an entry that cancels to almost zero may move by many of its own ULPs: normwise
    b = np.array([1.5, 3e-17])
    assert value_differences(b, np.array([1.5, 3e-17 + 2 * EPS])) == []
    assert value_differences(np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0])) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: {**v, "theta": v["theta"] * (1 + 1e-9)}, "ULPs"),
        (lambda v: {**v, "loss": v["loss"] * (1 + 1e-9)}, "ULPs"),
        (lambda v: {**v, "theta": v["theta"] + (ULPS + 2) * EPS * np.abs(v["theta"]).max()}, "ULPs"),
        (lambda v: {k: x for k, x in v.items() if k != "loss"}, "keys differ"),
        (lambda v: {**v, "theta": v["theta"][:, :3]}, "shape"),
        (lambda v: {**v, "theta": v["theta"].reshape(4, 6)}, "shape"),
        (lambda v: {**v, "theta": v["theta"].astype(np.float32)}, "dtype"),
        (lambda v: {**v, "steps": 8}, "8"),
        (lambda v: {**v, "ok": False}, "False"),
        (lambda v: {**v, "steps": 7.0}, "int vs float"),
        (lambda v: {**v, "traj": list(v["traj"])}, "tuple vs list"),
        (lambda v: {**v, "traj": v["traj"][:1]}, "length"),
        (lambda v: {**v, "theta": np.where(v["theta"] > 1, np.nan, v["theta"])}, "NaN"),
    ],
)
def test_real_changes_are_differences(change, message):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 4))
    value = {"theta": a, "loss": 0.25, "steps": 7, "ok": True, "traj": (a[0], [a[1], -a[2]])}
    found = value_differences(value, change(value))
    assert found and message in " ".join(found), found


def test_files_compare_by_value_not_bytes(tmp_path):
    rng = np.random.default_rng(2)
    values = {"w": rng.normal(size=(3, 5)), "f": 1.25, "n": 3}
    save_expected(tmp_path / "a.npz", values)
    save_expected(tmp_path / "b.npz", _map_floats(values, lambda x: _ulps(x, -3)))
    save_expected(tmp_path / "c.npz", {**values, "w": values["w"] * (1 + 1e-9)})
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()
    assert expected_file_differences(tmp_path / "a.npz", tmp_path / "b.npz") == []
    assert expected_file_differences(tmp_path / "a.npz", tmp_path / "c.npz") != []


# -- staleness, build and verify on a perturbed template ----------------------------------------


def _demo_template(tmp_path, fresh_build):
    built = fresh_build(DEMO_HW)
    template = tmp_path / "template"
    shutil.copytree(built.template_path, template / DEMO_HW)
    return template


def test_check_template_current_after_ulps_and_stale_after_real_changes(tmp_path, fresh_build):
    template = _demo_template(tmp_path, fresh_build)
    kwargs = {**build_kwargs(DEMO_HW), "template_dir": template}
    assert _rewrite_expected(template / DEMO_HW, _perturb_by_ulps(np.random.default_rng(3))) > 0
    assert check_template(DEMO_HW, **kwargs) == []

    expected = template / DEMO_HW / "expected"
    q1 = expected / "q1.npz"
    original = q1.read_bytes()
    _rewrite_expected(template / DEMO_HW, lambda x: x * (1 + 1e-9))
    problems = check_template(DEMO_HW, **kwargs)
    assert any("differs: expected/q1.npz" in p and "ULPs" in p for p in problems), problems

    values = load_expected(q1)
    save_expected(q1, {k: v for k, v in list(values.items())[1:]})
    assert any("keys differ" in p for p in check_template(DEMO_HW, **kwargs))
    key = next(k for k, v in values.items() if isinstance(v, np.ndarray))
    save_expected(q1, {**values, key: np.concatenate([values[key].ravel(), [0.0]])})
    assert any("shape" in p for p in check_template(DEMO_HW, **kwargs))
    q1.write_bytes(original)


def test_rebuild_keeps_numerically_equal_bytes_and_rewrites_real_changes(tmp_path, fresh_build):
    template = _demo_template(tmp_path, fresh_build)
    kwargs = {**build_kwargs(DEMO_HW), "template_dir": template, "out_dir": tmp_path / "build"}
    from autograder.release import build_assignment

    build_assignment(DEMO_HW, make_zip=False, **kwargs)
    bundle_q1 = tmp_path / "build" / DEMO_HW / "expected" / "q1.npz"
    _rewrite_expected(template / DEMO_HW, _perturb_by_ulps(np.random.default_rng(4)))
    _rewrite_expected(tmp_path / "build" / DEMO_HW, _perturb_by_ulps(np.random.default_rng(5)))
    perturbed = {p.name: p.read_bytes() for p in (template / DEMO_HW / "expected").glob("*.npz")}
    perturbed_bundle = bundle_q1.read_bytes()
    build_assignment(DEMO_HW, make_zip=False, **kwargs)  # another CPU's rebuild: nothing moves
    assert {p.name: p.read_bytes() for p in (template / DEMO_HW / "expected").glob("*.npz")} == (
        perturbed
    )
    assert bundle_q1.read_bytes() == perturbed_bundle

    _rewrite_expected(template / DEMO_HW, lambda x: x * (1 + 1e-9))  # a real change: rewritten
    build_assignment(DEMO_HW, make_zip=False, **kwargs)
    fresh = fresh_build(DEMO_HW).template_path / "expected"
    for name in perturbed:
        assert (template / DEMO_HW / "expected" / name).read_bytes() == (fresh / name).read_bytes()


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_committed_template_perturbed_by_ulps_is_current_and_ready(hw, tmp_path):
    """What a rebuild on another CPU records: the committed values moved by 1-4 ULPs."""
    template = tmp_path / "template"
    shutil.copytree(COMMITTED / hw, template / hw)
    changed = _rewrite_expected(template / hw, _perturb_by_ulps(np.random.default_rng(6)))
    assert changed == len(list((template / hw / "expected").glob("*.npz")))

    result = CliRunner().invoke(main, ["build", hw, "--check", "--template-dir", str(template)])
    assert result.exit_code == 0, result.output
    assert f"{hw}: student_template is current" in result.output

    report = verify_assignment(hw, repo_root=PROJECT_ROOT, template_dir=template)
    timing = f"every case under {CASE_TIME_BUDGET_S:g} s on the reference"
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok and c.name != timing]
    assert failed == [], "\n".join(failed)

    # and the other side on the real assignment: one value changed by 1e-9 relative is stale
    path = sorted((template / hw / "expected").glob("*.npz"))[0]
    values = load_expected(path)
    key = next(k for k, v in values.items() if value_differences(v, _map_floats(v, lambda x: x * 2)))
    save_expected(path, {**values, key: _map_floats(values[key], lambda x: x * (1 + 1e-9))})
    result = CliRunner().invoke(main, ["build", hw, "--check", "--template-dir", str(template)])
    assert result.exit_code == 1 and f"differs: expected/{path.name}" in result.output
