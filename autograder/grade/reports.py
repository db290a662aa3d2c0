"""Everything ``grade`` writes after grading, regenerated from the store each run: grades.csv,
results/<id>.json, the HTML feedback pages and the class summary page.

Regenerated, never appended: a re-run, a resumed run and an interrupted one (Ctrl-C) all leave
reports that say exactly what the store holds.
"""

from __future__ import annotations

from pathlib import Path

from autograder.grade.store import Store
from autograder.report import class_stats, write_grades_csv, write_results_dir
from autograder.report.explain import message_text, status_text
from autograder.report.gradescope import DEFAULT_HIDDEN_VISIBILITY, result_file_name


def write_reports(store: Store, out_dir: Path, question_names: list[str], question_max: dict[str, float],
                  hidden_visibility: str = DEFAULT_HIDDEN_VISIBILITY, *, manifest: dict | None = None,
                  similarity: dict | None = None, elapsed_s: float | None = None):
    """Write the reports of ``out_dir`` from ``store``; returns (grades.csv path, rows, stats).

    With ``manifest`` (the bundle's), the feedback pages and ``summary.html`` are written too;
    ``similarity`` (``report.similarity.find_similar``'s result) flags rows of grades.csv and
    fills the summary's similarity section."""
    out_dir = Path(out_dir)
    flags = (similarity or {}).get("flags", {})
    rows, items = [], []
    for sub in store.submissions():
        cases = store.cases(sub["id"])
        questions = {q["name"]: q["score"] for q in store.questions(sub["id"])}
        rows.append({**sub, "questions": questions, "status_text": status_text(sub),
                     "message_text": message_text(sub, cases), "similarity": flags.get(sub["id"], "")})
        items.append((sub, cases))
    csv_path = write_grades_csv(out_dir / "grades.csv", question_names, rows)
    write_results_dir(out_dir / "results", items, hidden_visibility=hidden_visibility)
    # The results file of a submission whose file has disappeared is removed (its rows stay).
    present = {sub["id"] for sub in rows}
    for sub in store.submissions(present_only=False):
        if sub["id"] not in present:
            (out_dir / "results" / result_file_name(sub["id"])).unlink(missing_ok=True)
    if manifest is not None:
        from autograder.report.pages import write_pages

        write_pages(out_dir, store, manifest, similarity=similarity, elapsed_s=elapsed_s)
    return csv_path, rows, class_stats(rows, question_names, question_max)
