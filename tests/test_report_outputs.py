"""The store and the reports built from it, on synthetic results (no sandbox needed)."""

from __future__ import annotations

import csv
import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.grade.batch import write_reports
from autograder.grade.store import Store


def _result(sid, status="graded", q1=(True, False), q2=(True, True), content_hash="h"):
    def question(name, passed):
        cases = [
            {"name": f"test_{name}_public", "hidden": False, "passed": passed[0], "points": 1.0,
             "score": 1.0 if passed[0] else 0.0, "message": "passed" if passed[0] else "AssertionError: wrong",
             "duration_s": 0.01},
            {"name": f"test_{name}_hidden", "hidden": True, "passed": passed[1], "points": 2.0,
             "score": 2.0 if passed[1] else 0.0, "message": "passed" if passed[1] else "AssertionError: bad",
             "duration_s": 0.01},
        ]
        return {"name": name, "score": sum(c["score"] for c in cases), "max_score": 3.0, "cases": cases}

    questions = [question("q1", q1), question("q2", q2)]
    return {
        "id": sid, "kind": "notebook", "path": f"/x/{sid}.ipynb", "content_hash": content_hash,
        "bundle_hash": "b", "status": status, "message": "cell 2 raised NameError: x" if status != "graded" else "",
        "score": sum(q["score"] for q in questions), "max_score": 6.0, "questions": questions,
        "output": "hello\n", "execution_time": 0.5,
    }


def test_store_record_replace_and_resume_rules(tmp_path):
    with Store(tmp_path / "results.sqlite") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        run = store.start_run("b", 2, {})
        store.record(run, _result("alice"))
        store.record(run, _result("bob", status="error", q1=(False, False), q2=(False, False)))
        assert not store.needs_grading("alice", "h", "b")
        assert store.needs_grading("alice", "h2", "b")  # changed bytes
        assert store.needs_grading("alice", "h", "b2")  # changed bundle
        assert store.needs_grading("bob", "h", "b")  # the grader's own error: try again
        assert store.needs_grading("carol", "h", "b")
        store.record(run, _result("alice", content_hash="h2", q1=(True, True)))
        assert len(store.cases("alice")) == 4  # replaced, not appended
        assert store.submissions()[0]["score"] == 6.0
        assert store.grading_counts() == {"alice": 2, "bob": 1}
        assert store.mark_present(["bob"]) == ["alice"]
        assert [s["id"] for s in store.submissions()] == ["bob"]
        assert {s["id"] for s in store.submissions(present_only=False)} == {"alice", "bob"}


def test_grades_csv_results_json_and_summary(tmp_path):
    with Store(tmp_path / "results.sqlite") as store:
        run = store.start_run("b", 1, {})
        store.record(run, _result("alice"))
        store.record(run, _result("=cmd|evil", status="timeout", q1=(False, False), q2=(False, True)))
        csv_path, rows, stats = write_reports(store, tmp_path, ["q1", "q2"], {"q1": 3.0, "q2": 3.0})
    with open(csv_path, newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["submission", "q1", "q2", "total", "max_total", "status", "message", "similarity"]
    by_id = {row[0]: row for row in table[1:]}
    assert by_id["alice"][1:6] == ["1", "3", "4", "6", "graded"]
    evil = by_id["'=cmd|evil"]  # never a spreadsheet formula
    assert evil[1:6] == ["0", "2", "2", "6", "timeout"]
    assert "NameError" in evil[6]

    data = json.loads((tmp_path / "results" / "alice.json").read_text())
    assert set(data) >= {"score", "execution_time", "output", "tests", "stdout_visibility"}
    assert data["score"] == 4.0
    assert len(data["tests"]) == 4
    for test in data["tests"]:
        assert set(test) == {"name", "number", "score", "max_score", "status", "output",
                             "output_format", "visibility"}
    vis = {t["name"]: t["visibility"] for t in data["tests"]}
    assert vis["q1: test_q1_public"] == "visible"
    assert vis["q1: test_q1_hidden"] == "after_published"
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    from autograder.report.gradescope import result_file_name

    assert result_file_name("alice") == "alice.json"
    assert result_file_name("=cmd|evil") == "%3Dcmd%7Cevil.json"
    assert result_file_name("a b") != result_file_name("a_b")
    assert result_file_name("../../etc/passwd").count("/") == 0
    assert (tmp_path / "results" / result_file_name("=cmd|evil")).exists()

    assert stats.by_status == {"graded": 1, "timeout": 1}
    assert stats.mean_total == 3.0 and stats.median_total == 3.0
    assert stats.question_means == {"q1": 0.5, "q2": 2.5}


# -- results file names ------------------------------------------------------------------------


def _valid_file_name(name: str) -> bool:
    raw = name.encode()
    # 255 bytes with room for the ".tmp" of the atomic write; ASCII so no normalisation applies.
    return (name.isascii() and "/" not in name and "\0" not in name and not name.startswith(".")
            and len(raw) + len(".tmp") <= 255 and name.endswith(".json"))


def _decode_name(name: str) -> bytes:
    """Reverse of the escaping, case-insensitively: the proof that short names are injective."""
    stem, out, i = name.lower().removesuffix(".json"), bytearray(), 0
    while i < len(stem):
        if stem[i] == "%":
            out.append(int(stem[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(stem[i]))
            i += 1
    return bytes(out)


def test_result_names_keep_safe_ids_and_escape_the_rest():
    from autograder.report.gradescope import result_file_name

    for sid in ("alice", "s001_correct", "jane.doe@uni.edu", "a+b-c", "jos_-d994e1d0"):
        assert result_file_name(sid) == sid + ".json"
    # The collision of the old cleaning: josé and a file literally named like its cleaned form.
    assert result_file_name("josé") == "jos%C3%A9.json"
    assert result_file_name("josé") != result_file_name("jos_-d994e1d0")
    # Escapes are escaped: an id spelling an escape is not the escaped id.
    assert result_file_name("jos%C3%A9") == "jos%25%433%25%419.json"
    # Case: macOS folds it, so upper-case letters are escaped and never differ only in case.
    assert result_file_name("Alice").lower() != result_file_name("alice").lower()
    assert result_file_name("ALICE").lower() != result_file_name("Alice").lower()
    # Hidden, special and empty names.
    assert result_file_name(".") == "%2E.json" and result_file_name("..") == "%2E..json"
    assert result_file_name(".hidden") == "%2Ehidden.json"
    assert result_file_name("") == "%.json"
    assert result_file_name("../../etc/passwd") == "%2E.%2F..%2Fetc%2Fpasswd.json"
    # Undecodable bytes of a file name (surrogateescape) are kept apart from the real character.
    assert result_file_name("\udcc3\udca9") != result_file_name("é")


def test_long_ids_keep_a_head_and_a_hash():
    from autograder.report.gradescope import MAX_NAME_STEM, result_file_name

    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert result_file_name(long_a) != result_file_name(long_b)
    assert all(_valid_file_name(result_file_name(s)) for s in (long_a, long_b, "é" * 200, "😀" * 300))
    exact = "a" * MAX_NAME_STEM
    assert result_file_name(exact) == exact + ".json"  # at the limit: still kept whole
    # A hashed name has a '~', which the escaping never emits: it cannot equal a short name.
    assert "~" in result_file_name(exact + "a") and "~" not in result_file_name("~")
    assert result_file_name("~") == "%7E.json"


# Ids as they come from file names: any characters, lone surrogates (undecodable bytes) too.
_IDS = st.text(st.characters(blacklist_categories=()), max_size=80) | st.text(max_size=400)


@settings(max_examples=400, deadline=None)
@given(st.lists(_IDS, min_size=2, max_size=6, unique=True))
def test_result_names_are_injective_even_ignoring_case(ids):
    from autograder.report.gradescope import result_file_name

    names = [result_file_name(sid) for sid in ids]
    assert all(_valid_file_name(name) for name in names)
    assert len({name.lower() for name in names}) == len(ids)
    assert len({unicodedata.normalize("NFD", name).casefold() for name in names}) == len(ids)


@settings(max_examples=400, deadline=None)
@given(_IDS)
def test_short_result_names_decode_back_to_their_id(sid):
    from autograder.report.gradescope import result_file_name

    name = result_file_name(sid)
    if "~" not in name and sid:
        assert _decode_name(name) == sid.encode("utf-8", "surrogatepass")
        assert _decode_name(name.upper()) == sid.encode("utf-8", "surrogatepass")


def test_colliding_ids_get_their_own_results_files(tmp_path):
    from autograder.report.gradescope import write_results_dir

    ids = ["josé", "jos_-d994e1d0", "Alice", "alice", "ALICE", "a b", "a_b", "a%20b", ".x", "%2Ex"]
    items = [(_result(sid) | {"score": 0.0}, []) for sid in ids]
    paths = write_results_dir(tmp_path / "results", items)
    assert len({p.name.lower() for p in paths}) == len(ids)
    written = sorted((tmp_path / "results").iterdir())
    assert len(written) == len(ids)
    by_id = {json.loads(p.read_text())["extra_data"]["submission"]: p.name for p in written}
    assert set(by_id) == set(ids)
    assert all(p.parent == tmp_path / "results" for p in written)
