"""results.json against Gradescope's autograder specification (gradescope-autograders.readthedocs
.io, "Autograder Specifications": results.json keys, formats, visibilities, test status).

The schema below is written from the specification, not from the code: every key our file
writes must be one the specification defines, with one of its values.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from autograder.report.gradescope import hidden_visibility_of, results_json, write_results_dir

FORMATS = ["text", "html", "simple_format", "md", "ansi"]
VISIBILITY = ["hidden", "after_due_date", "after_published", "visible"]
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITY},
        "stdout_visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "score": {"type": "number"},
                "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string"},
                "name_format": {"enum": FORMATS},
                "number": {"type": "string"},
                "output": {"type": "string"},
                "output_format": {"enum": FORMATS},
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": {"enum": VISIBILITY},
                "extra_data": {"type": "object"},
            },
        }},
    },
}

SUBMISSION = {"id": "alice", "status": "graded", "score": 1.0, "max_score": 4.0,
              "execution_time": 1.23456, "content_hash": "abc",
              "message": "code cell 8 raised SyntaxError: invalid syntax (<code cell 8>, line 1)"}


def _case(question, name, hidden, passed, points, score, message="m"):
    return {"question": question, "name": name, "hidden": hidden, "passed": passed,
            "points": points, "score": score, "message": message}


CASES = [
    # an all-or-nothing question whose other case failed: passed, but scored 0
    _case("q1", "a", False, True, 1.0, 0.0),
    _case("q1", "b", True, False, 1.0, 0.0, "<script>alert(1)</script> & more"),
    # a 0-point case that failed
    _case("q2", "zero", False, False, 0.0, 0.0),
    _case("q2", "ok", False, True, 1.0, 1.0),
]


def test_results_json_follows_the_specification():
    data = results_json(SUBMISSION, CASES)
    jsonschema.validate(data, SCHEMA)
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed", "passed"]
    assert [t["score"] for t in data["tests"]] == [0.0, 0.0, 0.0, 1.0]
    assert data["output_format"] == data["test_output_format"] == "html"


def test_html_output_is_escaped():
    data = results_json(SUBMISSION, CASES)
    assert "&lt;code cell 8&gt;" in data["output"] and "<code cell 8>" not in data["output"]
    hostile = data["tests"][1]["output"]
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile and "&amp; more" in hostile


@pytest.mark.parametrize("visibility", ["hidden", "after_due_date", "after_published"])
def test_hidden_visibility_is_the_assignments(tmp_path, visibility):
    manifest = {"config": {"results": {"hidden_visibility": visibility}}}
    (path,) = write_results_dir(tmp_path, [(SUBMISSION, CASES)],
                                hidden_visibility=hidden_visibility_of(manifest))
    data = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert [t["visibility"] for t in data["tests"]] == ["visible", visibility, "visible", "visible"]


def test_manifest_without_config_and_bad_values():
    assert hidden_visibility_of({}) == "after_published"
    with pytest.raises(ValueError, match="hidden_visibility"):
        results_json(SUBMISSION, CASES, hidden_visibility="sometimes")
