"""CI runs ``autograder verify --all``: every assignment, with the kill matrix (batch grader)."""

from __future__ import annotations

import json

from autograder.release import ASSIGNMENTS
from autograder.release.console import run_verify
from autograder.release.sources import PROJECT_ROOT


def test_verify_all_with_kill_matrix(tmp_path):
    code = run_verify(tuple(ASSIGNMENTS), repo_root=PROJECT_ROOT)
    failed = []
    for hw in ASSIGNMENTS:
        data = json.loads((PROJECT_ROOT / "build" / hw / "verify.json").read_text())
        assert data["mutation"]["generated"] > 0 and data["mutation"]["cases"]
        # the blank template's row is there and says zero (not skipped, not merely absent)
        blank = {c["name"]: c for c in data["checks"]}.get("blank template scores zero")
        assert blank is not None and blank["ok"], f"{hw}: {blank}"
        assert blank["detail"].startswith("0/"), f"{hw}: {blank['detail']}"
        failed += [f"{hw}: {c['name']}: {c['detail']}" for c in data["checks"] if not c["ok"]
                   and not c["name"].startswith(("every case under", "student_template"))]
    assert failed == [], "\n".join(failed)
    assert code in (0, 1)
