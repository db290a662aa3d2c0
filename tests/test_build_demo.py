"""The build on a two-question fixture assignment (tests/fixtures/build_demo): layout, hidden
cases stripped, expected values split, byte-identical rebuilds, and the errors that stop it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from conftest import DEMO_HW, DEMO_ROOT, DEMO_SOLUTIONS

from autograder.checks import load_expected
from autograder.cli import main
from autograder.release import BuildError, build_assignment, check_template, compare_trees
from autograder.release.expected import record_expected
from autograder.release.leaks import find_leaks
from autograder.release.notebook import check_cell_question, init_cell_source
from autograder.release.sources import (
    assignment_source,
    load_solutions,
    requirement_pins,
    student_requirements,
)
from autograder.release.verify import verify_assignment
from autograder.testfiles import load_question, load_questions


def _copy_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the fixture (repo root, reference module) that a test may break."""
    root = tmp_path / "repo"
    shutil.copytree(DEMO_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root, root / DEMO_SOLUTIONS.name


def _build(root: Path, solutions: Path, out: Path, **kwargs):
    return build_assignment(
        DEMO_HW, repo_root=root, solutions_path=solutions, out_dir=out / "build",
        template_dir=out / "template", **kwargs,
    )


def test_template_layout(fresh_build):
    result = fresh_build(DEMO_HW)
    template = result.template_path
    files = sorted(p.relative_to(template).as_posix() for p in template.rglob("*") if p.is_file())
    assert {"hw0_demo.ipynb", "tests/q1.py", "tests/q2.py", "expected/q1.npz", "expected/q2.npz",
            "autograder/__init__.py", "autograder/checks/__init__.py",
            "autograder/checks/expected.py", "requirements.txt", "README.md"} <= set(files)
    assert (template / "requirements.txt").read_text().split() == student_requirements()
    assert any(pin.startswith("otter-grader==") for pin in requirement_pins())
    names = [re.split(r"[<>=!~]", pin)[0] for pin in student_requirements()]
    assert names == ["numpy", "otter-grader", "matplotlib", "ipykernel", "jupyterlab"]
    readme = (template / "README.md").read_text()
    assert ".venv/bin/pip install -r requirements.txt" in readme
    assert f".venv/bin/jupyter lab {DEMO_HW}.ipynb" in readme
    # the checks are vendored verbatim
    checks = Path(__import__("autograder.checks").checks.__file__).parent
    for path in checks.glob("*.py"):
        assert (template / "autograder" / "checks" / path.name).read_bytes() == path.read_bytes()


def test_notebook_init_cell_check_cells_and_clean_outputs(fresh_build):
    nb = nbformat.read(str(fresh_build(DEMO_HW).template_path / "hw0_demo.ipynb"), as_version=4)
    assert nb.cells[0].source == init_cell_source(DEMO_HW)
    assert nb.cells[0].source.endswith('otter.Notebook("hw0_demo.ipynb", tests_dir="tests")')
    checks = [check_cell_question(c.source) for c in nb.cells if c.cell_type == "code"]
    assert [q for q in checks if q] == ["q1", "q2"]
    for cell in nb.cells:
        assert cell.metadata == {}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert nb.metadata.otter.assignment_name == DEMO_HW
    assert nb.metadata.autograder.source_hash == fresh_build(DEMO_HW).source_hash
    nbformat.validate(nb)


def test_hidden_cases_are_stripped_and_the_rest_kept_verbatim(fresh_build):
    result = fresh_build(DEMO_HW)
    source = (DEMO_ROOT / "assignments" / DEMO_HW / "tests" / "q1.py").read_text()
    student = (result.template_path / "tests" / "q1.py").read_text()
    assert "hidden=True" not in student and "test_scale_hidden_wide" not in student
    assert "points = 1\n" in student  # the public total, so otter gives the same case points
    public_part = source.split("@test_case(points=2, hidden=True)")[0]
    assert student == public_part.replace("points = 3\n", "points = 1\n").rstrip("\n") + "\n"
    for name in ("q1", "q2"):
        question = load_question(result.template_path / "tests" / f"{name}.py")
        assert question.hidden_cases == ()
        full = load_question(result.bundle_path / "tests" / f"{name}.py")
        assert [(c.func.__name__, c.points) for c in question.cases] == [
            (c.func.__name__, c.points) for c in full.public_cases
        ]
        assert full.hidden_cases


def test_expected_values_split_public_and_all(fresh_build):
    result = fresh_build(DEMO_HW)

    def keys(path, mistakes=False):
        found = set(load_expected(path))
        return {k for k in found if k.startswith("mistake:") == mistakes}

    t1, b1 = result.template_path / "expected" / "q1.npz", result.bundle_path / "expected" / "q1.npz"
    assert keys(t1) == {"small"}
    assert keys(b1) == {"small", "wide_secret"}
    # what the mutants return (for "your function returns what ... gives") follows its case:
    # a hidden case's in the bundle only
    assert all(k.split(":")[1] == "small" for k in keys(t1, mistakes=True))
    assert any(k.split(":")[1] == "wide_secret" for k in keys(b1, mistakes=True))
    assert keys(result.template_path / "expected" / "q2.npz") == {"step_small"}
    assert keys(result.bundle_path / "expected" / "q2.npz") == {"step_small", "step_matrix"}


def test_bundle_manifest_and_otter_zip(fresh_build):
    import zipfile

    result = fresh_build(DEMO_HW)
    manifest = json.loads((result.bundle_path / "manifest.json").read_text())
    assert manifest["assignment"] == DEMO_HW
    assert manifest["source_hash"] == result.source_hash
    assert [(q["name"], q["points"], q["file"]) for q in manifest["questions"]] == [
        ("q1", 3.0, "tests/q1.py"), ("q2", 4.0, "tests/q2.py")]
    assert manifest["total_points"] == 7.0
    names = set(zipfile.ZipFile(result.zip_path).namelist())
    assert {"run_autograder", "otter_config.json", "environment.yml", "tests/q1.py",
            "tests/q2.py", "files/expected/q1.npz", "files/autograder/checks/expected.py",
            "files/autograder/__init__.py"} <= names
    config = json.loads(zipfile.ZipFile(result.zip_path).read("otter_config.json"))
    assert config["assignment_name"] == DEMO_HW


def test_rebuild_is_byte_identical(tmp_path):
    first = _build(DEMO_ROOT, DEMO_SOLUTIONS, tmp_path / "a", make_zip=False)
    second = _build(DEMO_ROOT, DEMO_SOLUTIONS, tmp_path / "b", make_zip=False)
    assert first.source_hash == second.source_hash
    assert compare_trees(first.template_path, second.template_path) == []
    assert compare_trees(first.bundle_path, second.bundle_path) == []


def test_a_case_failing_on_the_reference_stops_the_build(tmp_path):
    root, solutions = _copy_fixture(tmp_path)
    # a reference that modifies its input fails assert_no_mutation in its own public case
    text = solutions.read_text().replace(
        "    return scaled_values_for_demo", "    x *= 0\n    return scaled_values_for_demo")
    solutions.write_text(text)
    with pytest.raises(BuildError) as info:
        _build(root, solutions, tmp_path / "out")
    message = str(info.value)
    assert "hw0_demo q1 case 'q1 - 1': the reference does not pass its own test" in message
    assert "modified" in message.lower() or "mutat" in message.lower()
    assert not (tmp_path / "out" / "template" / DEMO_HW).exists()  # nothing half-written


def test_the_reference_failing_an_independent_check_names_the_case(tmp_path):
    root, solutions = _copy_fixture(tmp_path)
    solutions.write_text(solutions.read_text().replace("- lr * np.asarray(grad)", "+ lr * np.asarray(grad)"))
    with pytest.raises(BuildError, match=r"q2 case 'q2 - 2': the reference does not pass its own test"):
        _build(root, solutions, tmp_path / "out")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace('grader.check("q2")', "pass"), r'0 `grader.check\("q2"\)` cells'),
        (lambda s: s + '\n# %%\ngrader.check("q1")\n', r'2 `grader.check\("q1"\)` cells'),
        (lambda s: s + '\n# %%\ngrader.check("q9")\n', r"no tests/q9.py"),
        (lambda s: "# %%\nimport otter\ngrader = otter.Notebook()\n\n" + s, "adds the init cell"),
    ],
    ids=["missing", "duplicate", "unknown", "own-init-cell"],
)
def test_check_cells_are_validated(tmp_path, edit, expected):
    root, solutions = _copy_fixture(tmp_path)
    source = root / "assignments" / DEMO_HW / f"{DEMO_HW}.py"
    source.write_text(edit(source.read_text()))
    with pytest.raises(BuildError, match=expected):
        _build(root, solutions, tmp_path / "out", make_zip=False)


def test_check_template_reports_stale_files(tmp_path):
    root, solutions = _copy_fixture(tmp_path)
    template_dir = tmp_path / "out" / "template"
    _build(root, solutions, tmp_path / "out", make_zip=False)
    kwargs = {"repo_root": root, "template_dir": template_dir, "solutions_path": solutions}
    assert check_template(DEMO_HW, **kwargs) == []
    # an edit of the committed copy
    readme = template_dir / DEMO_HW / "README.md"
    readme.write_text(readme.read_text() + "edited\n")
    assert check_template(DEMO_HW, **kwargs) == [f"{DEMO_HW}: differs: README.md"]
    readme.unlink()
    assert check_template(DEMO_HW, **kwargs) == [f"{DEMO_HW}: missing: README.md"]
    _build(root, solutions, tmp_path / "out", make_zip=False)
    # an edit of the sources: a public test changes the tests file, the notebook's hash
    q2 = root / "assignments" / DEMO_HW / "tests" / "q2.py"
    q2.write_text(q2.read_text().replace("range(200)", "range(201)"))
    stale = check_template(DEMO_HW, **kwargs)
    assert f"{DEMO_HW}: differs: tests/q2.py" in stale
    assert f"{DEMO_HW}: differs: {DEMO_HW}.ipynb" in stale


def test_verify_passes_on_the_fixture(fresh_build):
    report = verify_assignment(
        DEMO_HW, repo_root=DEMO_ROOT, solutions_path=DEMO_SOLUTIONS,
        template_dir=fresh_build(DEMO_HW).template_path.parent,
    )
    assert [c.name for c in report.checks if not c.ok] == []
    names = [c.name for c in report.checks]
    assert "blank template scores zero" in names
    assert "mutant step__adds_gradient" in names and "mutant scale__in_place" in names
    assert report.ok


def test_verify_fails_on_a_mutant_the_tests_miss_and_on_a_stale_template(tmp_path):
    root, solutions = _copy_fixture(tmp_path)
    (root / "assignments" / DEMO_HW / "mutants" / "step__harmless.py").write_text(
        '"""Correct after all.\n\nfails: q2\nmessage: gradient\n"""\n\n\n'
        "def step(theta, grad, lr):\n    return theta - lr * grad\n"
    )
    report = verify_assignment(
        DEMO_HW, repo_root=root, solutions_path=solutions, template_dir=tmp_path / "none"
    )
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert "every public case passes" in failed["mutant step__harmless"]
    assert "student_template is current" in failed
    assert not report.ok


def _leaks_in(template: Path):
    source = assignment_source(DEMO_HW, repo_root=DEMO_ROOT, solutions_path=DEMO_SOLUTIONS)
    solutions = load_solutions(source)
    questions = load_questions(source.tests_dir)
    recorded = record_expected(questions, solutions, hw=DEMO_HW)
    return find_leaks(template, solutions=solutions, questions=questions,
                      expected=recorded.values, hidden_only_keys=recorded.hidden_only_keys())


def test_leak_scan_is_clean_on_the_built_template(fresh_build):
    assert _leaks_in(fresh_build(DEMO_HW).template_path) == []


def test_leak_scan_finds_solution_code_hidden_tests_and_hidden_values(fresh_build, tmp_path):
    import numpy as np

    from autograder.checks import save_expected

    template = tmp_path / DEMO_HW
    shutil.copytree(fresh_build(DEMO_HW).template_path, template)
    nb_path = template / f"{DEMO_HW}.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[-1].source += "\nupdated_theta_for_demo = np.asarray(theta, dtype=np.float64) - lr * np.asarray(grad)"
    nbformat.write(nb, str(nb_path))
    (template / "README.md").write_text("see test_step_hidden_matrix\n")
    public = load_expected(template / "expected" / "q1.npz")
    hidden = load_expected(fresh_build(DEMO_HW).bundle_path / "expected" / "q1.npz")["wide_secret"]
    save_expected(template / "expected" / "q1.npz", {**public, "copy": np.array(hidden)})
    shutil.copyfile(fresh_build(DEMO_HW).bundle_path / "tests" / "q2.py", template / "tests" / "q2.py")
    leaks = _leaks_in(template)
    kinds = {(leak.kind, leak.where) for leak in leaks}
    assert any(leak.kind == "hidden test" and leak.where == "tests/q2.py"
               and "test_step_hidden_matrix" in leak.what for leak in leaks)
    assert ("solution code", f"{DEMO_HW}.ipynb") in kinds
    assert ("hidden test", "README.md") in kinds
    assert any(leak.kind == "hidden expected" and "wide_secret" in leak.what for leak in leaks)


def test_cli_build_and_check(tmp_path):
    # The CLI works on the real repository; hw1 is the first assignment.
    from autograder.release.sources import PROJECT_ROOT, known_assignments

    hws = known_assignments(PROJECT_ROOT)
    if not hws:
        pytest.skip("no assignment in assignments/")
    hw = hws[0]
    runner = CliRunner()
    args = ["--template-dir", str(tmp_path / "t"), "--out-dir", str(tmp_path / "b")]
    result = runner.invoke(main, ["build", hw, "--no-zip", *args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / hw / f"{hw}.ipynb").is_file()
    assert (tmp_path / "b" / hw / "manifest.json").is_file()
    result = runner.invoke(main, ["build", hw, "--check", *args])
    assert result.exit_code == 0, result.output
    assert "current" in result.output
    (tmp_path / "t" / hw / "README.md").write_text("stale\n")
    result = runner.invoke(main, ["build", hw, "--check", *args])
    assert result.exit_code == 1
    assert "differs: README.md" in result.output
    result = runner.invoke(main, ["build", "hw_nope", *args])
    assert result.exit_code == 2 and "unknown assignment" in result.output


def test_strip_hidden_cases_unit():
    from autograder.release.stripping import strip_hidden_cases

    source = (
        "from otter.test_files import test_case\n\nname = 'q1'\npoints = 5  # total\n\n"
        "@test_case(points=1)\ndef test_a(f):\n    assert f(1) == 1\n\n"
        "# big inputs, seed 77\n@test_case(points=2, hidden=True)\ndef test_b(f):\n"
        "    assert f(77) == 77\n\n\n"
        "@test_case(points=2, hidden=False)\ndef test_c(f):\n    assert f(2) == 2\n"
    )
    stripped = strip_hidden_cases(source, public_points=3)
    assert "test_b" not in stripped and "seed 77" not in stripped
    assert "points = 3  # total\n" in stripped
    assert stripped == source.replace(
        "# big inputs, seed 77\n@test_case(points=2, hidden=True)\ndef test_b(f):\n"
        "    assert f(77) == 77\n\n\n", ""
    ).replace("points = 5", "points = 3")
    with pytest.raises(BuildError, match="literal True or False"):
        strip_hidden_cases("@test_case(hidden=HIDE)\ndef test_x(f):\n    pass\n")
