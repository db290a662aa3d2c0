"""Assignment source (jupytext percent format) to the student notebook, deterministically."""

from __future__ import annotations

import ast
import copy
import inspect
import re
from pathlib import Path
from types import FunctionType, ModuleType

import nbformat

from autograder.release.sources import BuildError

CHECK_CELL = re.compile(r"""^grader\.check\(\s*(["'])(?P<q>[A-Za-z_][\w-]*)\1\s*\)$""")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: Cell metadata worth keeping from the source; everything else (jupytext's bookkeeping) goes.
KEPT_CELL_METADATA = ("tags",)


def init_cell_source(hw: str) -> str:
    return f'import otter\ngrader = otter.Notebook("{hw}.ipynb", tests_dir="tests")'


def check_cell_question(source: str) -> str | None:
    """The question of a ``grader.check("qN")`` cell, or None for any other cell."""
    match = CHECK_CELL.match(source.strip())
    return match.group("q") if match else None


def read_source(path: Path) -> nbformat.NotebookNode:
    import jupytext

    try:
        return jupytext.read(str(path), fmt="py:percent")
    except Exception as error:  # jupytext raises a variety of parse errors
        raise BuildError(f"cannot read {path} as a jupytext percent notebook: {error}") from error


def build_notebook(
    source_path: Path, *, hw: str, questions: list[str], source_hash: str
) -> nbformat.NotebookNode:
    """The student notebook: init cell first, outputs cleared, stable ids and metadata.

    Raises ``BuildError`` unless every question has exactly one check cell and every check cell
    names a question.
    """
    parsed = read_source(source_path)
    cells = [nbformat.v4.new_code_cell(init_cell_source(hw))]
    seen: dict[str, int] = {}
    for index, cell in enumerate(parsed.cells):
        text = cell.source.strip("\n")
        if cell.cell_type == "code":
            if "otter.Notebook(" in text:
                raise BuildError(
                    f"{source_path}: cell {index + 1} creates an otter.Notebook; the build adds "
                    "the init cell itself, remove it from the source"
                )
            question = check_cell_question(text)
            if question is not None:
                seen[question] = seen.get(question, 0) + 1
            elif "grader.check" in text:
                raise BuildError(
                    f"{source_path}: cell {index + 1} calls grader.check with other code; a check "
                    'cell must hold exactly `grader.check("qN")`'
                )
            new = nbformat.v4.new_code_cell(text)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(text)
        else:
            new = nbformat.v4.new_raw_cell(text)
        kept = {key: cell.metadata[key] for key in KEPT_CELL_METADATA if key in cell.metadata}
        new.metadata = nbformat.NotebookNode(kept)
        cells.append(new)

    problems = []
    for question in questions:
        count = seen.get(question, 0)
        if count != 1:
            problems.append(f'{count} `grader.check("{question}")` cells (expected exactly 1)')
    for question in sorted(set(seen) - set(questions)):
        problems.append(f'`grader.check("{question}")` but there is no tests/{question}.py')
    if problems:
        raise BuildError(f"{source_path}: " + "; ".join(problems))

    for index, cell in enumerate(cells):
        cell["id"] = f"{hw.split('_')[0]}-{index:03d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = nbformat.NotebookNode(
        {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
            "otter": {"assignment_name": hw},
            "autograder": {"assignment": hw, "source_hash": source_hash},
        }
    )
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def stored_source_hash(notebook_path: Path) -> str | None:
    """The source hash a built notebook was generated from (None if absent or unreadable)."""
    try:
        nb = nbformat.read(str(notebook_path), as_version=4)
    except (OSError, ValueError):
        return None
    return nb.metadata.get("autograder", {}).get("source_hash")


def student_code_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The code cells a student sees, minus the otter init cell and the check cells."""
    sources = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "otter.Notebook(" in cell.source or check_cell_question(cell.source) is not None:
            continue
        sources.append(cell.source)
    return sources



def filled_notebook(nb: nbformat.NotebookNode, solutions: ModuleType) -> nbformat.NotebookNode:
    """A copy of a student notebook with every stub replaced by the reference's source.

    Each top-level ``def`` in a code cell whose name the reference module defines is replaced
    in place (``inspect.getsource``), the rest of the cell kept. The reference module's own
    source runs first (after the otter init cell), so its imports and private helpers exist;
    the replaced cells then define the stubs themselves. Raises ``BuildError`` if no stub was
    replaced.
    """
    reference = {
        name: value
        for name, value in vars(solutions).items()
        if isinstance(value, FunctionType) and value.__module__ == solutions.__name__
    }
    filled = copy.deepcopy(nb)
    replaced = []
    for cell in filled.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines = cell.source.splitlines()
        spans = [
            (min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1, node.end_lineno,
             node.name)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name in reference
        ]
        for start, end, name in reversed(spans):
            lines[start:end] = inspect.getsource(reference[name]).rstrip("\n").splitlines()
            replaced.append(name)
        if spans:
            cell.source = "\n".join(lines)
    if not replaced:
        raise BuildError("no code cell defines a function of the reference module")
    helpers = nbformat.v4.new_code_cell(inspect.getsource(solutions))
    helpers["id"] = "reference-module"
    filled.cells.insert(1, helpers)
    return filled
