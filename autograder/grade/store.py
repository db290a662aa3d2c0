"""The results store: one SQLite file (WAL mode) written as each submission finishes.

Tables:

- ``submissions``: one row per student id: the hash of the bytes graded, the bundle's hash,
  status, message, total, captured output, and ``present`` (0 when the submission's file has
  disappeared from the folder since; the row is kept, but grades.csv leaves it out and its
  results JSON is removed; it comes back if the file does).
- ``cases``: one row per (submission, question, case).
- ``questions``: one row per (submission, question): the score from ``runner.score_question``.
- ``gradings``: an append-only log, one row per grading event (proves "exactly once").
- ``runs``: one row per ``grade`` run.

Every submission is written in one transaction (rows replaced, grading event appended), so a kill
at any moment leaves either the old state or the new one. A re-run grades a submission again
only if it has no row, its content hash or the bundle hash changed, or its status is ``error``
(a fault of the grader, not of the student). ``grader_fault`` (a submission that broke its
grading worker twice: a poison pill) is kept like a grade: graded again only when its bytes or
the bundle change, or with ``--regrade``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    output TEXT NOT NULL,
    execution_time REAL NOT NULL,
    graded_at REAL NOT NULL,
    present INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS questions (
    submission TEXT NOT NULL,
    ord INTEGER NOT NULL,
    question TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    PRIMARY KEY (submission, question)
);
CREATE TABLE IF NOT EXISTS cases (
    submission TEXT NOT NULL,
    ord INTEGER NOT NULL,
    question TEXT NOT NULL,
    name TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    points REAL NOT NULL,
    score REAL NOT NULL,
    message TEXT NOT NULL,
    duration_s REAL NOT NULL,
    attachments TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (submission, question, name)
);
CREATE TABLE IF NOT EXISTS gradings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    submission TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL,
    bundle_hash TEXT NOT NULL,
    workers INTEGER NOT NULL,
    info TEXT NOT NULL
);
"""

#: Statuses that a re-run grades again (the grader's own faults). Not ``grader_fault``: a poison
#: pill would break two more workers on every run; its bytes or the bundle must change first.
RETRY_STATUSES = frozenset({"error"})


class Store:
    """The results database of one output folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        """Add the columns a store written by an older version lacks (its rows keep their
        grades; the new columns take their defaults)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(cases)")}
        if "attachments" not in columns:
            self.db.execute("ALTER TABLE cases ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]'")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, bundle_hash: str, workers: int, info: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, bundle_hash, workers, info) VALUES (?, ?, ?, ?)",
            (time.time(), bundle_hash, workers, json.dumps(info)),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (time.time(), run_id))

    # -- resume ------------------------------------------------------------------------------
    def needs_grading(self, sid: str, content_hash: str, bundle_hash: str) -> bool:
        row = self.db.execute(
            "SELECT content_hash, bundle_hash, status FROM submissions WHERE id = ?", (sid,)
        ).fetchone()
        if row is None:
            return True
        return row[0] != content_hash or row[1] != bundle_hash or row[2] in RETRY_STATUSES

    def mark_present(self, ids: Iterable[str]) -> list[str]:
        """Flag rows whose submission is in the folder now; returns ids that disappeared."""
        ids = set(ids)
        rows = [row[0] for row in self.db.execute("SELECT id FROM submissions")]
        gone = sorted(sid for sid in rows if sid not in ids)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for sid in rows:
                self.db.execute(
                    "UPDATE submissions SET present = ? WHERE id = ?", (int(sid in ids), sid)
                )
        return gone

    # -- writing -----------------------------------------------------------------------------
    def record(self, run_id: int, result: dict) -> None:
        """Store one submission's result (``worker.grade_task`` shape) in one transaction."""
        sid = result["id"]
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM cases WHERE submission = ?", (sid,))
            self.db.execute("DELETE FROM questions WHERE submission = ?", (sid,))
            self.db.execute(
                "INSERT OR REPLACE INTO submissions (id, kind, source, content_hash, bundle_hash, "
                "status, message, score, max_score, output, execution_time, graded_at, present) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    sid,
                    result.get("kind", ""),
                    result.get("path", ""),
                    result["content_hash"],
                    result["bundle_hash"],
                    result["status"],
                    result.get("message", ""),
                    float(result["score"]),
                    float(result["max_score"]),
                    result.get("output", ""),
                    float(result.get("execution_time", 0.0)),
                    now,
                ),
            )
            case_ord = 0
            for q_ord, question in enumerate(result["questions"]):
                self.db.execute(
                    "INSERT INTO questions (submission, ord, question, score, max_score) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (sid, q_ord, question["name"], float(question["score"]), float(question["max_score"])),
                )
                for case in question["cases"]:
                    self.db.execute(
                        "INSERT OR REPLACE INTO cases (submission, ord, question, name, hidden, "
                        "passed, points, score, message, duration_s, attachments) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            sid,
                            case_ord,
                            question["name"],
                            case["name"],
                            int(bool(case["hidden"])),
                            int(bool(case["passed"])),
                            float(case["points"]),
                            float(case["score"]),
                            case["message"],
                            float(case["duration_s"]),
                            _attachments_json(case.get("attachments")),
                        ),
                    )
                    case_ord += 1
            self.db.execute(
                "INSERT INTO gradings (run_id, submission, content_hash, status, score, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, sid, result["content_hash"], result["status"], float(result["score"]), now),
            )

    # -- reading -----------------------------------------------------------------------------
    def submissions(self, *, present_only: bool = True) -> list[dict]:
        query = "SELECT * FROM submissions"
        if present_only:
            query += " WHERE present = 1"
        query += " ORDER BY id"
        cur = self.db.execute(query)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def questions(self, sid: str) -> list[dict]:
        cur = self.db.execute(
            "SELECT question, score, max_score FROM questions WHERE submission = ? ORDER BY ord",
            (sid,),
        )
        return [{"name": q, "score": s, "max_score": m} for q, s, m in cur.fetchall()]

    def cases(self, sid: str) -> list[dict]:
        """The cases of one submission in order; ``attachments`` decoded (a list of dicts)."""
        cur = self.db.execute(
            "SELECT question, name, hidden, passed, points, score, message, duration_s, attachments "
            "FROM cases WHERE submission = ? ORDER BY ord",
            (sid,),
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
        for row in rows:
            row["attachments"] = _attachments_of(row["attachments"])
        return rows

    def grading_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))


#: An attachment list larger than this is not stored (a bug of a check, never a student's
#: doing: attachments are computed by the grader, bounded in checks.attachments).
MAX_ATTACHMENTS_BYTES = 512_000


def _attachments_json(value: object) -> str:
    if not value:
        return "[]"
    try:
        text = json.dumps(list(value), allow_nan=False)
    except (TypeError, ValueError):  # not plain JSON: the picture is lost, never the grade
        return "[]"
    return text if len(text) <= MAX_ATTACHMENTS_BYTES else "[]"


def _attachments_of(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []
