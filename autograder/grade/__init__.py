"""``autograder grade``: grade a class's submissions in sandboxes, resumably, on all cores.

The names below are loaded on first use (PEP 562): a grading worker imports
``autograder.grade.worker`` only, and importing this package for it must not pull in the batch
driver, the executor and rich (about 0.1 s of every worker's start-up).
"""

from __future__ import annotations

from autograder._lazy import lazy_names

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
__getattr__, __dir__ = lazy_names(__name__, _WHERE)
