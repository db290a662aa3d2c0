"""The assignment's import policy on the batch path: read from the bundle, applied to the
notebook's source text in the grader (trusted analysis of data; the student's process is never
asked what it imported). See autograder/checks/import_policy.py for the analysis itself."""

from __future__ import annotations

import functools

from autograder.checks.import_policy import ImportPolicy, SourceReport, analyze_trees


def bundle_policy(manifest: dict) -> ImportPolicy:
    """The policy the build recorded in the bundle's manifest (hashed with it)."""
    imports = (manifest.get("config") or {}).get("imports") or {}
    return ImportPolicy(
        assignment=str(manifest.get("assignment") or "this assignment"),
        allow=tuple(imports.get("allow", ())),
        forbid=tuple(imports.get("forbid", ())),
    )


def analyze_cells(cells: list[str], policy: ImportPolicy) -> SourceReport:
    """Analyse the code cells as the sandbox runs them (IPython's magics transformed first,
    only for the cells that need it: plain Python parses as it is)."""
    trees = [tree for cell in cells
             if (tree := _tree(cell if isinstance(cell, str) else "")) is not None]
    return analyze_trees(trees, policy)


CACHED_CELL_CHARS = 20_000  # longer cells are parsed every time (bounded memory)


def _tree(cell: str):
    """The cell's syntax tree (None if neither Python nor IPython can read it). Remembered by
    text for cells of ordinary size: most cells of a class are the template's, the same in every
    notebook (the analysis only reads the trees)."""
    return _cached_tree(cell) if len(cell) <= CACHED_CELL_CHARS else _parse(cell)


@functools.lru_cache(maxsize=1024)
def _cached_tree(cell: str):
    return _parse(cell)


def _parse(cell: str):
    import ast

    try:
        return ast.parse(cell)
    except (SyntaxError, ValueError):
        pass
    try:
        return ast.parse(_transformer().transform_cell(cell))
    except Exception:  # a cell neither can read fails when it runs; nothing to analyse
        return None


@functools.lru_cache(maxsize=1)
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def module_note(report: SourceReport) -> str:
    """The submission-level note for refused imports at the notebook's top level."""
    if not report.module_refusals:
        return ""
    parts = [f"import of {name} refused ({why})" for name, why in report.module_refusals.items()]
    return "; ".join(parts[:5])
