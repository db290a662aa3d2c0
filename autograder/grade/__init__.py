"""``autograder grade``: grade a class's submissions in sandboxes, resumably, on all cores.

The names below are loaded on first use (PEP 562): a grading worker imports
``autograder.grade.worker`` only, and importing this package for it must not pull in the batch
driver, the executor and rich (about 0.1 s of every worker's start-up).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "GradeSummary": "batch", "OutputBusy": "batch", "grade_class": "batch",
    "write_reports": "batch",
    "Bundle": "bundle", "BundleMissing": "bundle", "load_bundle": "bundle",
    "Executor": "executor", "InlineExecutor": "executor", "LocalProcessExecutor": "executor",
    "WorkerDied": "executor", "WorkerStartError": "executor",
    "SubmissionInputError": "inputs", "SubmissionRef": "inputs", "discover": "inputs",
    "load_cells": "inputs",
    "Store": "store",
}

__all__ = sorted(_WHERE)
# this package's namespace, taken now: once the submodule ``autograder.grade.globals`` is
# imported, the name ``globals`` here is that module, not the builtin
_NAMESPACE = globals()


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    _NAMESPACE[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(_NAMESPACE) | set(_WHERE))
