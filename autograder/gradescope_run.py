"""Grade the one submission of a Gradescope container: ``python -m autograder.gradescope_run``.

Gradescope unpacks the autograder zip into ``/autograder/source``, puts the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``. This grades the
submission exactly as ``autograder grade`` grades one of a class (the same ``Grader``: cells in
the sandbox, tests in the trusted process) and writes the results file in the same shape as the
local results (``autograder.report.gradescope``). The container may not allow every protection
of the sandbox (no root, no cgroups, no user namespaces): the fork server's probe says which
are not in force, and that is reported in ``output`` and ``extra_data.sandbox``.

``AUTOGRADER_ROOT`` replaces ``/autograder`` (tests simulate the layout in a temporary root).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from autograder.report.gradescope import hidden_visibility_of, results_json

#: Preference among the files of a submission folder (Gradescope keeps what the student sent).
_KINDS = ("notebook", "zip", "folder", "script")


def _pick(submission_dir: Path, assignment: str):
    from autograder.grade.inputs import discover

    refs = discover(submission_dir, assignment).submissions
    if not refs:
        return None
    return sorted(refs, key=lambda r: (r.id != assignment, _KINDS.index(r.kind), r.id))[0]


def _rows(result: dict) -> tuple[dict, list[dict]]:
    submission = {key: result[key] for key in
                  ("id", "status", "score", "max_score", "execution_time", "content_hash")}
    submission["message"] = result.get("message", "")
    cases = [{**case, "question": q["name"]} for q in result["questions"] for case in q["cases"]]
    return submission, cases


def grade_submission(bundle_dir: Path, submission_dir: Path, *,
                     workdir_root: str | None = None) -> dict:
    """results.json (a dict) for the submission in ``submission_dir``."""
    from autograder.grade.worker import Grader

    started = time.monotonic()
    grader = Grader(bundle_dir, workdir_root=workdir_root)
    try:
        visibility = hidden_visibility_of(grader.bundle.manifest)
        ref = _pick(submission_dir, grader.bundle.assignment)
        if ref is None:
            task = {"id": "submission", "content_hash": "", "file": ""}
            result = grader._all_failed(
                task, "invalid_notebook",
                f"no notebook in the submission: upload {grader.bundle.assignment}.ipynb", started)
        else:
            result = grader.grade(ref.to_task())
        protections = dict(grader.protections)
        missing = grader.protections_message
    finally:
        grader.close()
    data = results_json(*_rows(result), hidden_visibility=visibility)
    data["extra_data"]["sandbox"] = {"protections": protections,
                                     "missing": sorted(k for k, v in protections.items() if not v)}
    if missing:
        data["output"] += f"<pre>{missing}</pre>"
    return data


def main(argv: list[str] | None = None) -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--submission", type=Path, default=root / "submission")
    parser.add_argument("--results", type=Path, default=root / "results" / "results.json")
    parser.add_argument("--workdir-root", default=os.environ.get("AUTOGRADER_WORKDIR_ROOT"))
    args = parser.parse_args(argv)
    data = grade_submission(args.bundle, args.submission, workdir_root=args.workdir_root)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results.with_name(args.results.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
