"""Per-submission results in Gradescope's ``results.json`` shape.

One entry in ``tests`` per test case: public cases are ``visible``, hidden ones
``after_published``. The top-level ``output`` holds the submission's status and message; the
student's captured output is kept out of it (``extra_data`` carries the grading metadata).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MAX_CASE_OUTPUT = 3000


def results_json(submission: dict, cases: list[dict]) -> dict:
    """The results.json dict of one stored submission (``Store.submissions()`` row + cases)."""
    tests = []
    for case in cases:
        tests.append(
            {
                "name": f"{case['question']}: {case['name']}",
                "score": float(case["score"]),
                "max_score": float(case["points"]),
                "output": str(case["message"])[:MAX_CASE_OUTPUT],
                "visibility": "after_published" if case["hidden"] else "visible",
            }
        )
    status = submission["status"]
    output = f"status: {status}"
    if submission.get("message"):
        output += "\n" + submission["message"]
    return {
        "score": float(submission["score"]),
        "execution_time": round(float(submission["execution_time"]), 3),
        "output": output,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "submission": submission["id"],
            "status": status,
            "max_score": float(submission["max_score"]),
            "content_hash": submission["content_hash"],
        },
    }


def result_file_name(sid: str) -> str:
    """``<id>.json`` when the id is a safe file name; otherwise a cleaned name plus a short hash
    of the id, so that two ids never share a file."""
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.@+") else "_" for ch in sid)
    name = name.lstrip(".")[:100]
    if name != sid or not name:
        name = f"{name or '_'}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"
    return name + ".json"


def write_results_dir(results_dir: str | Path, items: list[tuple[dict, list[dict]]]) -> list[Path]:
    """Write ``<id>.json`` for every (submission row, cases) pair; each file replaced atomically."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for submission, cases in items:
        path = results_dir / result_file_name(submission["id"])
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(results_json(submission, cases), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return paths
