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
    import ast

    trees = []
    for cell in cells:
        cell = cell if isinstance(cell, str) else ""
        try:
            trees.append(ast.parse(cell))
            continue
        except (SyntaxError, ValueError):
            pass
        try:
            trees.append(ast.parse(_transformer().transform_cell(cell)))
        except Exception:  # a cell neither can read fails when it runs; nothing to analyse
            continue
    return analyze_trees(trees, policy)


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
