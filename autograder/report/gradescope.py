"""Per-submission results in Gradescope's ``results.json`` shape (its autograder specification).

One entry in ``tests`` per test case, with ``status`` set from what the case did (so a passed
case of an all-or-nothing question that scored 0 shows as passed, and a failed 0-point case as
failed). Public cases are ``visible``; hidden ones get the assignment's ``hidden_visibility``
(``assignment.toml`` [results], carried in the bundle's manifest), the same for the local
results files and the Gradescope zip. Every text is HTML-escaped inside ``<pre>`` and declared
``output_format: html``: Gradescope's default rendering would otherwise read ``<code cell 8>``
as a tag. The student's captured output is kept out of ``output``.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path

MAX_CASE_OUTPUT = 3000
DEFAULT_HIDDEN_VISIBILITY = "after_published"
#: Gradescope's values of ``visibility``.
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def hidden_visibility_of(manifest: dict) -> str:
    """The visibility of hidden cases a bundle's manifest carries (the default without one)."""
    value = ((manifest.get("config") or {}).get("results") or {}).get("hidden_visibility")
    return value if value in VISIBILITIES else DEFAULT_HIDDEN_VISIBILITY


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text, quote=False)}</pre>" if text else ""


def results_json(submission: dict, cases: list[dict], *,
                 hidden_visibility: str = DEFAULT_HIDDEN_VISIBILITY) -> dict:
    """The results.json dict of one stored submission (``Store.submissions()`` row + cases)."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility {hidden_visibility!r}: use one of {VISIBILITIES}")
    tests = []
    for number, case in enumerate(cases, 1):
        tests.append(
            {
                "name": f"{case['question']}: {case['name']}",
                "number": str(number),
                "score": float(case["score"]),
                "max_score": float(case["points"]),
                "status": "passed" if case["passed"] else "failed",
                "output": _pre(str(case["message"])[:MAX_CASE_OUTPUT]),
                "output_format": "html",
                "visibility": hidden_visibility if case["hidden"] else "visible",
            }
        )
    status = submission["status"]
    output = f"status: {status}"
    if submission.get("message"):
        output += "\n" + submission["message"]
    return {
        "score": float(submission["score"]),
        "execution_time": round(float(submission["execution_time"]), 3),
        "output": _pre(output),
        "output_format": "html",
        "test_output_format": "html",
        "test_name_format": "text",
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


def write_results_dir(results_dir: str | Path, items: list[tuple[dict, list[dict]]], *,
                      hidden_visibility: str = DEFAULT_HIDDEN_VISIBILITY) -> list[Path]:
    """Write ``<id>.json`` for every (submission row, cases) pair; each file replaced atomically."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for submission, cases in items:
        path = results_dir / result_file_name(submission["id"])
        tmp = path.with_name(path.name + ".tmp")
        # compact: json's C encoder (an indent makes it fall back to pure Python, several
        # milliseconds per submission in the serial tail of a run); Gradescope reads it alike
        tmp.write_text(json.dumps(
            results_json(submission, cases, hidden_visibility=hidden_visibility)), encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return paths
