"""``autograder build``: assignment source -> ``student_template/<hw>/`` and ``build/<hw>/``."""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.assignment_config import load_assignment_config
from autograder.checks.import_policy import POLICY_FILE, ImportPolicy
from autograder.release.bundles import default_bundle_dir
from autograder.release.expected import (
    Recorded,
    record_expected,
    reference_namespace,
    replay_failures,
    write_expected,
)
from autograder.release.gradescope_zip import write_gradescope_zip
from autograder.release.notebook import build_notebook, notebook_bytes
from autograder.release.otterzip import generate_otter_zip
from autograder.release.sources import (
    PROJECT_ROOT,
    AssignmentSource,
    BuildError,
    assignment_source,
    load_solutions,
    requirement_pins,
    source_hash,
    student_requirements,
)
from autograder.release.stripping import strip_hidden_cases
from autograder.release.values import ULPS, expected_file_differences, keep_equivalent_files
from autograder.testfiles import Question, load_question, load_questions, question_files

VENDORED_INIT = '''"""The checks library this assignment's tests are written with.

A copy of the course's ``autograder.checks``, shipped with the notebook so that
``grader.check`` works without installing anything but requirements.txt. Do not edit.
"""
'''

README = """# {hw}

Set up once, then open the notebook (Python 3.10 or newer; on Windows use `.venv\\Scripts\\`
instead of `.venv/bin/`):

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/jupyter lab {hw}.ipynb
```

The first command makes a virtual environment in this folder with everything the notebook
needs: JupyterLab, its Python kernel (ipykernel), numpy, matplotlib and otter-grader (which
runs the checks); about 730 MB, most of it otter-grader's own dependencies. The second opens
the notebook in your browser, running in that environment's own kernel ("Python 3
(ipykernel)").

1. Run the first cell (it sets up `grader`).
2. Fill in each function that raises `NotImplementedError`, run its cell, then run the
   `grader.check("qN")` cell below it. A check prints which test cases passed and, for a
   failing one, what was expected, what came back and which convention to look at.

The checks here are the public tests. Your submission is also graded on hidden tests
(other inputs, shapes and seeds), so passing every check is necessary, not sufficient.

Keep `tests/`, `expected/` and `autograder/` next to the notebook and unchanged: they
are what `grader.check` runs. Questions and points: {points_table}.
"""

#: Files in a committed template that are not build outputs and never make it stale (.venv:
#: a student environment made there by the README's commands; git ignores it too).
IGNORED_TEMPLATE_NAMES = {"__pycache__", ".ipynb_checkpoints", ".OTTER_LOG", ".venv"}


@dataclass(frozen=True)
class QuestionSummary:
    name: str
    points: float
    public_cases: int
    hidden_cases: int
    public_keys: int
    hidden_keys: int


@dataclass(frozen=True)
class BuildResult:
    hw: str
    source_hash: str
    template_path: Path
    bundle_path: Path | None
    zip_path: Path | None
    questions: tuple[QuestionSummary, ...] = field(default_factory=tuple)

    @property
    def total_points(self) -> float:
        return float(sum(q.points for q in self.questions))


def _check_question_files(source: AssignmentSource) -> list[Question]:
    files = question_files(source.tests_dir)
    if not files:
        raise BuildError(f"{source.hw}: no tests/q*.py in {source.tests_dir}")
    questions = []
    for path in files:
        try:
            question = load_question(path)
        except Exception as error:  # a broken test file: report it with its path
            raise BuildError(f"{path}: cannot load the test file: {error}") from error
        if question.name != path.stem:
            raise BuildError(f"{path}: `name = {question.name!r}` must match the file name")
        names = [case.name for case in question.cases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise BuildError(f"{path}: duplicate case names {duplicates}")
        if not question.public_cases:
            raise BuildError(f"{path}: no public case, so `grader.check` would check nothing")
        questions.append(question)
    return questions


def _module_points_is_set(text: str) -> bool:
    tree = ast.parse(text)
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "points" for t in node.targets)
        for node in tree.body
    )


def _check_vendored_imports(checks_dir: Path) -> None:
    """The vendored checks may import numpy, the standard library and themselves only."""
    for path in sorted(checks_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "autograder" and not name.startswith("autograder.checks"):
                    raise BuildError(
                        f"{path}: imports {name}; the checks are vendored into the student "
                        "template and may import only numpy, the standard library and "
                        "autograder.checks"
                    )


def _checks_files(checks_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in checks_dir.rglob("*.py")
        if "__pycache__" not in path.relative_to(checks_dir).parts
    )


def _write_vendored(target: Path, checks_dir: Path) -> None:
    (target / "autograder").mkdir(parents=True, exist_ok=True)
    (target / "autograder" / "__init__.py").write_text(VENDORED_INIT, encoding="utf-8")
    for path in _checks_files(checks_dir):
        dest = target / "autograder" / "checks" / path.relative_to(checks_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())


def _format_points(points: float) -> str:
    return str(int(points)) if float(points).is_integer() else f"{points:g}"


def _write_template(
    target: Path,
    *,
    source: AssignmentSource,
    questions: list[Question],
    recorded: Recorded,
    notebook: bytes,
) -> None:
    hw = source.hw
    target.mkdir(parents=True)
    (target / f"{hw}.ipynb").write_bytes(notebook)
    (target / "tests").mkdir()
    for question in questions:
        text = question.path.read_text(encoding="utf-8")
        public_points = (
            sum(case.points for case in question.public_cases)
            if _module_points_is_set(text)
            else None
        )
        stripped = strip_hidden_cases(text, public_points=public_points, filename=str(question.path))
        out = target / "tests" / question.path.name
        out.write_text(stripped, encoding="utf-8")
        # Load the result with otter itself: the public cases, same points, nothing hidden.
        public = load_question(out)
        got = [(c.func.__name__, c.points, c.hidden) for c in public.cases]
        want = [(c.func.__name__, c.points, False) for c in question.public_cases]
        if got != want:
            raise BuildError(
                f"{question.path}: stripping hidden cases went wrong: got {got}, expected {want}"
            )
    write_expected(target / "expected", recorded.public_values())
    _write_import_policy(target, source)
    _write_vendored(target, source.checks_dir)
    (target / "requirements.txt").write_text(
        "\n".join(student_requirements()) + "\n", encoding="utf-8"
    )
    table = ", ".join(f"{q.name} ({_format_points(q.points)} pts)" for q in questions)
    (target / "README.md").write_text(README.format(hw=hw, points_table=table), encoding="utf-8")


def _write_bundle(
    target: Path,
    *,
    source: AssignmentSource,
    questions: list[Question],
    recorded: Recorded,
    digest: str,
) -> None:
    target.mkdir(parents=True)
    (target / "tests").mkdir()
    for question in questions:
        shutil.copyfile(question.path, target / "tests" / question.path.name)
    write_expected(target / "expected", recorded.values)
    _write_import_policy(target, source)
    manifest = {
        "assignment": source.hw,
        "config": load_assignment_config(source.assignment_dir).to_dict(),
        "questions": [
            {
                "name": q.name,
                "points": q.points,
                "file": f"tests/{q.path.name}",
                "all_or_nothing": q.all_or_nothing,
                "cases": [
                    {"name": c.name, "points": c.points, "hidden": c.hidden} for c in q.cases
                ],
            }
            for q in questions
        ],
        "total_points": float(sum(q.points for q in questions)),
        "source_hash": digest,
    }
    (target / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def _write_import_policy(target: Path, source: AssignmentSource) -> None:
    """``import_policy.json`` beside tests/: where ``autograder.checks.test_case`` finds the
    policy in Jupyter (the bundle's copy serves verify and the batch grader)."""
    imports = load_assignment_config(source.assignment_dir).imports
    policy = ImportPolicy(assignment=source.hw, allow=imports.allow, forbid=imports.forbid)
    (target / POLICY_FILE).write_text(
        json.dumps(policy.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def _replace_dir(staged: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    shutil.move(str(staged), str(final))


def build_assignment(
    hw: str,
    *,
    repo_root: str | Path,
    out_dir: str | Path | None = None,
    template_dir: str | Path | None = None,
    solutions_path: str | Path | None = None,
    checks_dir: str | Path | None = None,
    make_zip: bool = True,
    make_bundle: bool = True,
) -> BuildResult:
    """Build one assignment; nothing is written unless every step succeeds.

    ``out_dir`` defaults to ``<repo>/build`` (``bundles.default_bundle_dir``, the folder
    ``autograder grade`` reads, whatever the working directory) and ``template_dir`` to ``<repo>/student_template``.
    Raises ``BuildError`` with a message naming the problem (a missing check cell, a case the
    reference fails, a broken test file).
    """
    repo_root = Path(repo_root).resolve()
    out_dir = Path(out_dir) if out_dir is not None else default_bundle_dir(repo_root)
    template_dir = Path(template_dir) if template_dir is not None else repo_root / "student_template"
    source = assignment_source(
        hw, repo_root=repo_root, solutions_path=solutions_path, checks_dir=checks_dir
    )
    source.validate()
    _check_vendored_imports(source.checks_dir)
    questions = _check_question_files(source)
    digest = source_hash(source)
    nb = build_notebook(
        source.notebook_source, hw=hw, questions=[q.name for q in questions], source_hash=digest
    )
    solutions = load_solutions(source)
    recorded = record_expected(questions, solutions, hw=hw)
    namespace = reference_namespace(solutions)

    with tempfile.TemporaryDirectory(prefix=f"build-{hw}-") as tmp:
        staged_template = Path(tmp) / "template" / hw
        _write_template(
            staged_template,
            source=source,
            questions=questions,
            recorded=recorded,
            notebook=notebook_bytes(nb),
        )
        # Values that differ from the committed ones by rounding only (another CPU) keep the
        # committed bytes; the replay below then checks the reference against those.
        kept = keep_equivalent_files(staged_template, template_dir / hw)
        failures = replay_failures(
            load_questions(staged_template / "tests"), namespace, include_hidden=False
        )
        if failures:
            note = (
                f" (kept the committed {', '.join(p.name for p in kept)}: they equal this "
                f"machine's values within {ULPS} ULPs, so a case failing on them compares more "
                "tightly than values agree across CPUs; loosen its rtol/atol)"
                if kept
                else ""
            )
            raise BuildError(
                f"{hw}: the reference fails the student copy of its public tests (replaying "
                f"expected/*.npz){note}:\n" + "\n\n".join(failures)
            )
        bundle_path = zip_path = None
        if make_bundle:
            staged_bundle = Path(tmp) / "bundle" / hw
            _write_bundle(
                staged_bundle, source=source, questions=questions, recorded=recorded, digest=digest
            )
            keep_equivalent_files(staged_bundle, out_dir / hw)
            failures = replay_failures(
                load_questions(staged_bundle / "tests"), namespace, include_hidden=True
            )
            if failures:
                raise BuildError(
                    f"{hw}: the reference fails the bundle's tests (replaying expected/*.npz):\n"
                    + "\n\n".join(failures)
                )
            if make_zip:
                generate_otter_zip(
                    hw=hw,
                    staging_dir=Path(tmp) / "otter",
                    tests_dir=staged_bundle / "tests",
                    expected_dir=staged_bundle / "expected",
                    vendored_autograder_dir=staged_template / "autograder",
                    requirements=requirement_pins(),
                    output_path=staged_bundle / f"{hw}-autograder.zip",
                )
            if make_zip:  # Gradescope running this grader (sandbox included), beside otter's
                write_gradescope_zip(
                    hw=hw, bundle_dir=staged_bundle, package_dir=Path(__file__).resolve().parents[1],
                    pyproject=PROJECT_ROOT / "pyproject.toml", requirements=requirement_pins(),
                    output_path=staged_bundle / f"{hw}-gradescope.zip",
                )
            bundle_path = out_dir / hw
            _replace_dir(staged_bundle, bundle_path)
            if make_zip:
                zip_path = bundle_path / f"{hw}-autograder.zip"
        template_path = template_dir / hw
        _replace_dir(staged_template, template_path)

    summaries = tuple(
        QuestionSummary(
            name=q.name,
            points=q.points,
            public_cases=len(q.public_cases),
            hidden_cases=len(q.hidden_cases),
            public_keys=len(recorded.public_keys.get(q.name, ())),
            hidden_keys=len(recorded.hidden_only_keys().get(q.name, ())),
        )
        for q in questions
    )
    return BuildResult(
        hw=hw,
        source_hash=digest,
        template_path=template_path,
        bundle_path=bundle_path,
        zip_path=zip_path,
        questions=summaries,
    )


def _template_files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not IGNORED_TEMPLATE_NAMES.intersection(path.relative_to(root).parts)
    }


def compare_trees(expected_root: Path, actual_root: Path, *, ulps: int = ULPS) -> list[str]:
    """Per-file differences between a fresh build and a committed tree (empty when the same).

    Files compare by bytes, except expected values (``*.npz``): those compare by structure,
    keys, shapes, dtypes and exact ints/bools, and floats within ``ulps`` units in the last
    place (``autograder.release.values``), so a rebuild on another CPU is not a difference.
    """
    want, have = _template_files(expected_root), _template_files(actual_root)
    problems = []
    for rel in sorted(set(want) | set(have)):
        if rel not in have:
            problems.append(f"missing: {rel}")
        elif rel not in want:
            problems.append(f"not produced by the build: {rel}")
        elif rel.endswith(".npz"):
            found = expected_file_differences(want[rel], have[rel], ulps=ulps)
            if found:
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                problems.append(f"differs: {rel}: {found[0]}{more}")
        elif want[rel].read_bytes() != have[rel].read_bytes():
            problems.append(f"differs: {rel}")
    return problems


def check_template(
    hw: str,
    *,
    repo_root: str | Path,
    template_dir: str | Path | None = None,
    solutions_path: str | Path | None = None,
    checks_dir: str | Path | None = None,
) -> list[str]:
    """Why ``<template_dir>/<hw>`` is stale (empty when a rebuild gives the same bytes)."""
    repo_root = Path(repo_root).resolve()
    template_dir = Path(template_dir) if template_dir is not None else repo_root / "student_template"
    committed = template_dir / hw
    if not committed.is_dir():
        return [f"{committed} does not exist: run `autograder build {hw}`"]
    with tempfile.TemporaryDirectory(prefix=f"check-{hw}-") as tmp:
        build_assignment(
            hw,
            repo_root=repo_root,
            template_dir=Path(tmp),
            solutions_path=solutions_path,
            checks_dir=checks_dir,
            make_bundle=False,
            make_zip=False,
        )
        problems = compare_trees(Path(tmp) / hw, committed)
    return [f"{hw}: {problem}" for problem in problems]
