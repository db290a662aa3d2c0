"""``write_pages``: the HTML reports of an output folder, regenerated from its store.

``OUT/feedback/<name>.html`` per submission (``<name>`` the results file's safe stem from
``gradescope.result_file_name``, so ids that are not safe file names still get one, distinct
even on case-folding file systems) and ``OUT/summary.html`` linking to them. Each file is
written atomically; the page of a submission whose file has left the submissions folder is
removed, as its results file is.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from autograder.report.feedback_page import feedback_html
from autograder.report.gradescope import hidden_visibility_of, result_file_name
from autograder.report.html_page import write_atomic
from autograder.report.summary_page import summary_html

FEEDBACK_DIR = "feedback"
SUMMARY_NAME = "summary.html"

if TYPE_CHECKING:  # not imported at run time: autograder.grade imports this package
    from autograder.grade.store import Store


def feedback_file_name(sid: str) -> str:
    """``<stem>.html`` with the stem of the submission's results file name."""
    return result_file_name(sid).removesuffix(".json") + ".html"


def feedback_href(sid: str) -> str:
    """The summary's relative link to a feedback page. The file name's own '%' escapes are
    escaped again: a browser decodes a URL's escapes once before it opens the file."""
    return f"{FEEDBACK_DIR}/{quote(feedback_file_name(sid), safe='')}"


@functools.cache
def _renderer_hash() -> str:
    """What the pages' look depends on besides the data: the sources of the modules that draw
    them and matplotlib's version."""
    import matplotlib

    from autograder.report import feedback_page, html_page, plots

    digest = hashlib.sha256(matplotlib.__version__.encode())
    for module in (feedback_page, html_page, plots):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def page_key(submission: dict, questions: list[dict], cases: list[dict], visibility: str,
             assignment: str) -> str:
    """A hash of everything a feedback page shows and of the code that draws it: a page whose
    key is unchanged is not drawn again (a re-run of a graded class redraws nothing)."""
    data = json.dumps([submission, questions, cases, visibility, assignment], sort_keys=True,
                      default=str)
    return hashlib.sha256((_renderer_hash() + data).encode("utf-8", "surrogatepass")).hexdigest()


def _holds_key(path: Path, key: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f'<meta name="autograder-page" content="{key}">'.encode() in head


def write_pages(out_dir: str | Path, store: Store, manifest: dict, *,
                similarity: dict | None = None, elapsed_s: float | None = None) -> dict:
    """Write every feedback page and the summary; returns ``{"summary": Path, "feedback":
    {sid: Path}}``. ``manifest`` is the bundle's (question names and points, the hidden cases'
    visibility); ``similarity`` as ``summary_page.summary_html`` takes it."""
    out_dir = Path(out_dir)
    feedback_dir = out_dir / FEEDBACK_DIR
    visibility = hidden_visibility_of(manifest)
    assignment = str(manifest.get("assignment") or "")
    question_names = [q["name"] for q in manifest.get("questions", [])]
    question_max = {q["name"]: float(q.get("points", 0.0)) for q in manifest.get("questions", [])}

    entries, written, drawn = [], {}, {}
    for sub in store.submissions():
        questions, cases = store.questions(sub["id"]), store.cases(sub["id"])
        path = feedback_dir / feedback_file_name(sub["id"])
        key = page_key(sub, questions, cases, visibility, assignment)
        if not _holds_key(path, key):
            page = feedback_html(sub, questions, cases, hidden_visibility=visibility,
                                 assignment=assignment, page_key=key, drawn=drawn)
            write_atomic(path, page)
        written[sub["id"]] = path
        entries.append({"submission": sub, "questions": {q["name"]: q["score"] for q in questions},
                        "cases": cases})
    for sub in store.submissions(present_only=False):
        if sub["id"] not in written:
            (feedback_dir / feedback_file_name(sub["id"])).unlink(missing_ok=True)

    if not question_names:  # a manifest without questions: the store's order
        for entry in entries:
            for name in entry["questions"]:
                if name not in question_names:
                    question_names.append(name)
    summary = summary_html(
        entries, question_names=question_names, question_max=question_max,
        hrefs={sid: feedback_href(sid) for sid in written}, assignment=assignment,
        similarity=similarity, elapsed_s=elapsed_s,
    )
    return {"summary": write_atomic(out_dir / SUMMARY_NAME, summary), "feedback": written}
