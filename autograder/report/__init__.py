"""Reports regenerated from the results store: grades.csv, Gradescope results JSON, summary."""

from autograder.report.grades_csv import write_grades_csv
from autograder.report.gradescope import results_json, write_results_dir
from autograder.report.summary import ClassStats, class_stats, summary_table

__all__ = [
    "ClassStats",
    "class_stats",
    "results_json",
    "summary_table",
    "write_grades_csv",
    "write_results_dir",
]
