"""The class summary: submissions by status, mean/median total, mean score per question."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ClassStats:
    n: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    mean_total: float | None = None
    median_total: float | None = None
    max_total: float = 0.0
    question_means: dict[str, float] = field(default_factory=dict)
    question_max: dict[str, float] = field(default_factory=dict)


def class_stats(rows: list[dict], question_names: list[str], question_max: dict[str, float]) -> ClassStats:
    """``rows`` as for ``write_grades_csv``."""
    totals = [float(row["score"]) for row in rows]
    stats = ClassStats(
        n=len(rows),
        by_status=dict(sorted(Counter(row["status"] for row in rows).items())),
        mean_total=statistics.fmean(totals) if totals else None,
        median_total=statistics.median(totals) if totals else None,
        max_total=float(sum(question_max.values())),
        question_max=dict(question_max),
    )
    for name in question_names:
        scores = [float(row["questions"].get(name, 0.0)) for row in rows]
        stats.question_means[name] = statistics.fmean(scores) if scores else 0.0
    return stats


def summary_table(stats: ClassStats):
    """A rich renderable of the summary."""
    from rich.console import Group
    from rich.table import Table

    status_table = Table(title=f"{stats.n} submissions")
    status_table.add_column("status")
    status_table.add_column("submissions", justify="right")
    for status, count in stats.by_status.items():
        status_table.add_row(status, str(count))
    score_table = Table(title="scores")
    score_table.add_column("")
    score_table.add_column("mean", justify="right")
    score_table.add_column("out of", justify="right")
    for name, mean in stats.question_means.items():
        score_table.add_row(name, f"{mean:.2f}", f"{stats.question_max.get(name, 0.0):g}")
    if stats.mean_total is not None:
        score_table.add_row("total (mean)", f"{stats.mean_total:.2f}", f"{stats.max_total:g}")
        score_table.add_row("total (median)", f"{stats.median_total:.2f}", f"{stats.max_total:g}")
    return Group(status_table, score_table)
