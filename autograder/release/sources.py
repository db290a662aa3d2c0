"""Where an assignment's inputs live, the reference module, and the content hash of the sources."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import autograder

#: The project checkout this package belongs to (pyproject.toml, autograder/checks).
PROJECT_ROOT = Path(autograder.__file__).resolve().parent.parent
CHECKS_DIR = PROJECT_ROOT / "autograder" / "checks"

#: Bump when the build's output format changes, so the stored hash changes with it.
BUILD_FORMAT = "autograder-build/1"

ASSIGNMENTS = (
    "hw1_linear_regression",
    "hw2_layer_gradient",
    "hw3_backprop",
    "hw4_optimizers",
)

_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class BuildError(Exception):
    """The assignment cannot be built; the message says what to fix."""


@dataclass(frozen=True)
class AssignmentSource:
    """The inputs of one assignment's build."""

    hw: str
    repo_root: Path
    solutions_path: Path
    checks_dir: Path = CHECKS_DIR

    @property
    def assignment_dir(self) -> Path:
        return self.repo_root / "assignments" / self.hw

    @property
    def notebook_source(self) -> Path:
        return self.assignment_dir / f"{self.hw}.py"

    @property
    def tests_dir(self) -> Path:
        return self.assignment_dir / "tests"

    @property
    def mutants_dir(self) -> Path:
        return self.assignment_dir / "mutants"

    def validate(self) -> None:
        for path, what in (
            (self.notebook_source, "notebook source"),
            (self.tests_dir, "tests folder"),
            (self.solutions_path, "reference solutions module"),
            (self.checks_dir / "__init__.py", "checks package"),
        ):
            if not path.exists():
                raise BuildError(f"{self.hw}: the {what} {path} does not exist")


def assignment_source(
    hw: str,
    *,
    repo_root: str | Path,
    solutions_path: str | Path | None = None,
    checks_dir: str | Path | None = None,
) -> AssignmentSource:
    repo_root = Path(repo_root).resolve()
    if solutions_path is None:
        solutions_path = repo_root / "solutions" / f"{hw}.py"
    return AssignmentSource(
        hw=hw,
        repo_root=repo_root,
        solutions_path=Path(solutions_path).resolve(),
        checks_dir=Path(checks_dir).resolve() if checks_dir is not None else CHECKS_DIR,
    )


def load_solutions(source: AssignmentSource) -> ModuleType:
    """Import the reference module (``solutions.<hw>`` when it lives in ``<repo>/solutions``)."""
    path = source.solutions_path
    if path.parent.name == "solutions" and (path.parent / "__init__.py").exists():
        name = f"solutions.{path.stem}"
        root = str(path.parent.parent)
        if root not in sys.path:
            sys.path.insert(0, root)
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise BuildError(f"cannot import the reference module {name}: {error}") from error
        if module.__file__ and Path(module.__file__).resolve() == path:
            return module
    # A stand-alone reference module (the test fixtures pass one): load it by path.
    name = f"_autograder_reference_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot load the reference module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _tree_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not _IGNORED_PARTS.intersection(path.relative_to(root).parts)
        and path.suffix not in (".pyc", ".pyo")
    )


def source_hash(source: AssignmentSource) -> str:
    """SHA-256 of exactly what the build reads: the notebook source, the test files, the
    reference module, the checks package's modules and the requirement pins (grading and
    student). Stray files
    (editor backups, caches, mutants, which only ``verify`` reads) do not count, and neither
    does where the checkout lives."""
    from autograder.testfiles import question_files

    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    add("format", BUILD_FORMAT.encode())
    add("notebook", source.notebook_source.read_bytes())
    for path in question_files(source.tests_dir):
        add("tests/" + path.name, path.read_bytes())
    add("solutions", source.solutions_path.read_bytes())
    config = source.assignment_dir / "assignment.toml"
    if config.is_file():
        add("assignment.toml", config.read_bytes())
    for path in _tree_files(source.checks_dir):
        if path.suffix == ".py":
            add("checks/" + path.relative_to(source.checks_dir).as_posix(), path.read_bytes())
    add("requirements", "\n".join(requirement_pins()).encode())
    add("student requirements", "\n".join(student_requirements()).encode())
    return digest.hexdigest()


#: What grading needs (the otter zip's environment): numpy and otter-grader.
GRADING_PACKAGES = ("numpy", "otter-grader")
#: What a student needs to open the notebook in Jupyter and run it in its own kernel with plots:
#: the grading packages, matplotlib, ipykernel and JupyterLab (otter-grader brings nbconvert,
#: IPython and jupyter_client but no kernel, no Jupyter front end and no matplotlib).
STUDENT_PACKAGES = (*GRADING_PACKAGES, "matplotlib", "ipykernel", "jupyterlab")


def _pins(packages: tuple[str, ...]) -> list[str]:
    text = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = []
    for package in packages:
        match = re.search(rf'"({re.escape(package)}\s*[<>=!~][^"]*)"', text)
        if match is None:
            raise BuildError(f"pyproject.toml does not pin {package}")
        pins.append(re.sub(r"\s+", "", match.group(1)))
    return pins


def requirement_pins() -> list[str]:
    """The numpy and otter-grader requirements, exactly as pyproject.toml states them."""
    return _pins(GRADING_PACKAGES)


def student_requirements() -> list[str]:
    """``student_template/<hw>/requirements.txt``: the pins of ``STUDENT_PACKAGES`` in
    pyproject.toml (the project's dependencies and its ``student`` extra)."""
    return _pins(STUDENT_PACKAGES)


def known_assignments(repo_root: str | Path) -> list[str]:
    """Assignments present under ``<repo>/assignments`` (the four of the course first)."""
    root = Path(repo_root) / "assignments"
    present = sorted(
        path.name for path in root.iterdir() if path.is_dir() and (path / f"{path.name}.py").exists()
    ) if root.is_dir() else []
    ordered = [hw for hw in ASSIGNMENTS if hw in present]
    return ordered + [hw for hw in present if hw not in ordered]
