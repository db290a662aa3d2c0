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


# Bytes of the id kept as they are in its results file name. Lower-case only: macOS and
# Windows file systems fold case, so "Alice" and "alice" must not differ only in case. Every
# other byte, '%' included, becomes %XX, so a name decodes back to exactly one id.
_NAME_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_.@+")
#: Longest escaped stem kept whole; a longer one keeps its head and a hash (a file name must
#: fit in 255 bytes, with ".json" and the ".tmp" of the atomic write).
MAX_NAME_STEM = 150
_HEAD = 100
# Separates a kept head from the hash. The escaping never emits it, so a hashed name can never
# equal an escaped one.
_HASH_MARK = "~"


def _escape(raw: bytes) -> str:
    # A leading '.' is escaped too: the file would be hidden, and "." / ".." are not files.
    return "".join(
        chr(byte) if byte in _NAME_SAFE and not (index == 0 and byte == 0x2E) else f"%{byte:02X}"
        for index, byte in enumerate(raw)
    )


def result_file_name(sid: str) -> str:
    """The results file name of a submission id: ``<id>.json`` for ids made only of lower-case
    ASCII letters, digits and ``-_.@+`` (not starting with '.'), the percent-escaped id otherwise.

    Distinct ids give names that differ even ignoring case: the escaped form decodes back to the
    id's bytes (UTF-8, lone surrogates from undecodable file names kept apart by
    ``surrogatepass``). An escaped stem longer than ``MAX_NAME_STEM`` characters becomes
    ``<head>~<sha256 of the id>``: no finite set of names can hold every id, so long ids are
    told apart by SHA-256 alone.
    """
    raw = sid.encode("utf-8", "surrogatepass")
    stem = _escape(raw) or "%"  # a lone '%' is no escape, so the empty id gets its own name
    if len(stem) > MAX_NAME_STEM:
        head = stem[:_HEAD]
        cut = head.rfind("%", _HEAD - 2)  # never keep half of an escape
        head = head[:cut] if cut >= 0 else head
        stem = f"{head}{_HASH_MARK}{hashlib.sha256(raw).hexdigest()}"
    return stem + ".json"


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
