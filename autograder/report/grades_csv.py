"""``grades.csv``: one row per submission, one column per question."""

from __future__ import annotations

import csv
import os
from pathlib import Path

FIXED_COLUMNS = ("total", "max_total", "status", "message", "similarity")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell_text(text: str, limit: int = 500) -> str:
    """One line, bounded, and never read as a formula by a spreadsheet (ids and messages come
    from students)."""
    text = " | ".join(line.strip() for line in str(text).splitlines() if line.strip())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    value = round(float(value), 6)
    return str(int(value)) if value == int(value) else repr(value)


def write_grades_csv(path: str | Path, question_names: list[str], rows: list[dict]) -> Path:
    """Write ``grades.csv`` atomically.

    ``rows``: dicts with ``id``, ``score``, ``max_score``, ``status``, ``message``,
    ``questions`` (question name -> score) and optionally ``status_text`` / ``message_text``
    (the worded forms of ``report.explain``, written instead when present) and ``similarity``
    (a flag such as "identical to s017").
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *question_names, *FIXED_COLUMNS])
        for row in rows:
            scores = row.get("questions", {})
            writer.writerow(
                [
                    _cell_text(row["id"]),
                    *(_number(scores.get(name)) for name in question_names),
                    _number(row["score"]),
                    _number(row["max_score"]),
                    _cell_text(row.get("status_text") or row["status"]),
                    _cell_text(row.get("message_text", row.get("message", ""))),
                    _cell_text(row.get("similarity", "")),
                ]
            )
    os.replace(tmp, path)
    return path
