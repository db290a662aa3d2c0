"""``autograder grade``: grade a class's submissions in sandboxes, resumably, on all cores."""

from autograder.grade.batch import GradeSummary, OutputBusy, grade_class, write_reports
from autograder.grade.bundle import Bundle, BundleMissing, load_bundle
from autograder.grade.executor import (
    Executor,
    InlineExecutor,
    LocalProcessExecutor,
    WorkerDied,
    WorkerStartError,
)
from autograder.grade.inputs import SubmissionInputError, SubmissionRef, discover, load_cells
from autograder.grade.store import Store

__all__ = [
    "Bundle",
    "BundleMissing",
    "Executor",
    "GradeSummary",
    "InlineExecutor",
    "LocalProcessExecutor",
    "OutputBusy",
    "Store",
    "SubmissionInputError",
    "SubmissionRef",
    "WorkerDied",
    "WorkerStartError",
    "discover",
    "grade_class",
    "load_bundle",
    "load_cells",
    "write_reports",
]
