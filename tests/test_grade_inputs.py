"""Submission discovery and parsing: notebooks, scripts, folders, zips (no sandbox needed)."""

from __future__ import annotations

import stat
import zipfile

import pytest

from autograder.grade.inputs import (
    MAX_ZIP_TOTAL_BYTES,
    SubmissionInputError,
    discover,
    load_cells,
)
from tests.fixtures.grade_helpers import DOUBLE_OK, OTTER_INIT, notebook_bytes


def _load(tmp_path, name, data=None, assignment="tiny"):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    found = discover(tmp_path, assignment)
    (ref,) = [r for r in found.submissions if r.path == path]
    return load_cells(ref.to_task(), assignment)


def _error(tmp_path, name, data=None):
    with pytest.raises(SubmissionInputError) as info:
        _load(tmp_path, name, data)
    return info.value


def test_discovery_kinds_ids_and_skips(tmp_path):
    (tmp_path / "alice.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
    (tmp_path / "bob.py").write_text(DOUBLE_OK)
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "tiny.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
    with zipfile.ZipFile(tmp_path / "dave.zip", "w") as zf:
        zf.writestr("tiny.ipynb", notebook_bytes([DOUBLE_OK]))
    (tmp_path / "erin.txt").write_text("hello")
    (tmp_path / ".hidden.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
    (tmp_path / "alice.py").write_text("x = 1")  # duplicate id: the notebook wins
    found = discover(tmp_path, "tiny")
    assert [(r.id, r.kind) for r in found.submissions] == [
        ("alice", "notebook"), ("bob", "script"), ("carol", "folder"), ("dave", "zip")
    ]
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert set(reasons) == {"erin.txt", ".hidden.ipynb", "alice.py"}
    assert "duplicate" in reasons["alice.py"]
    assert all(len(r.content_hash) == 64 for r in found.submissions)


def test_content_hash_follows_bytes(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    first = discover(tmp_path).submissions[0].content_hash
    (tmp_path / "a.py").write_text("x = 2\n")
    assert discover(tmp_path).submissions[0].content_hash != first


def test_notebook_cells_drop_otter_scaffolding(tmp_path):
    cells, note = _load(tmp_path, "a.ipynb", notebook_bytes([OTTER_INIT, DOUBLE_OK, 'grader.check("q1")']))
    assert cells == ["", DOUBLE_OK, ""]  # numbering of code cells kept
    assert note == ""


def test_script_split_on_cell_markers(tmp_path):
    cells, _ = _load(tmp_path, "a.py", b"import numpy as np\n# %%\nx = 1\n# %% [markdown]\n\n# %%\ny = 2\n")
    assert cells == ["import numpy as np\n", "x = 1\n", "y = 2\n"]


@pytest.mark.parametrize(
    "data, status, words",
    [
        (b"", "empty", "empty"),
        (b"   \n", "empty", "empty"),
        (b'{"cells": [', "invalid_notebook", "not valid JSON"),
        (b'{"hello": 1}', "invalid_notebook", "not a Jupyter notebook"),
        (b"[1, 2]", "invalid_notebook", "not a Jupyter notebook"),
        (b"\xff\xfe\x00garbage", "invalid_notebook", "UTF-8"),
        (notebook_bytes([]), "empty", "no code"),
        (notebook_bytes([OTTER_INIT, "  "]), "empty", "no code"),
    ],
)
def test_bad_notebooks_get_a_status(tmp_path, data, status, words):
    error = _error(tmp_path, "a.ipynb", data)
    assert error.status == status
    assert words in error.message


def test_folder_prefers_the_assignment_notebook(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "scratch.ipynb").write_bytes(notebook_bytes(["x = 'scratch'"]))
    (folder / "tiny.ipynb").write_bytes(notebook_bytes(["x = 'tiny'"]))
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "tiny-checkpoint.ipynb").write_bytes(notebook_bytes(["x = 'ckpt'"]))
    cells, _ = _load(tmp_path, "alice")
    assert cells == ["x = 'tiny'"]


def test_folder_without_notebook(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "notes.txt").write_text("hi")
    error = _error(tmp_path, "alice")
    assert error.status == "invalid_notebook"
    assert "no .ipynb" in error.message


def test_zip_as_downloaded(tmp_path):
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as zf:
        zf.writestr("submission/__MACOSX/._tiny.ipynb", b"junk")
        zf.writestr("submission/tiny.ipynb", notebook_bytes([DOUBLE_OK]))
        zf.writestr("submission/data.csv", b"1,2\n")
    cells, _ = _load(tmp_path, "alice.zip")
    assert cells == [DOUBLE_OK]
    assert not (tmp_path / "submission").exists()  # nothing is extracted to disk


def _zip_with(tmp_path, name, info_or_name, data=b"x"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny.ipynb", notebook_bytes([DOUBLE_OK]))
        zf.writestr(info_or_name, data)
    return path


@pytest.mark.parametrize("member", ["../evil.py", "/etc/cron.d/evil", "a/../../evil", "C:/evil"])
def test_zip_escaping_its_folder_is_refused(tmp_path, member):
    _zip_with(tmp_path, "mallory.zip", member)
    error = _error(tmp_path, "mallory.zip")
    assert error.status == "unsafe_zip"
    assert not (tmp_path.parent / "evil.py").exists()


def test_zip_with_symlink_is_refused(tmp_path):
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    _zip_with(tmp_path, "mallory.zip", info, b"/etc/passwd")
    error = _error(tmp_path, "mallory.zip")
    assert error.status == "unsafe_zip"
    assert "symbolic link" in error.message


def test_zip_bomb_is_refused_before_reading(tmp_path, monkeypatch):
    import autograder.grade.inputs as inputs

    assert MAX_ZIP_TOTAL_BYTES >= 50 * 2**20  # the real cap; lowered here to keep the test fast
    monkeypatch.setattr(inputs, "MAX_ZIP_TOTAL_BYTES", 2**20)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny.ipynb", notebook_bytes([DOUBLE_OK]))
        zf.writestr("zeros.bin", b"\0" * (2**20 + 1))
    assert path.stat().st_size < 20_000
    error = _error(tmp_path, "bomb.zip")
    assert error.status == "unsafe_zip"
    assert "unpack" in error.message


def test_zip_lying_about_sizes(tmp_path):
    # A member whose header claims a small size but inflates to more: the capped read stops it.
    path = tmp_path / "liar.zip"
    payload = notebook_bytes([DOUBLE_OK + "#" + "x" * 5000])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny.ipynb", payload)
    raw = bytearray(path.read_bytes())
    # Patch the central-directory uncompressed size of the only member down to 100 bytes.
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    error = _error(tmp_path, "liar.zip")
    assert error.status in ("invalid_notebook", "unsafe_zip")


def test_not_a_zip_and_empty_zip(tmp_path):
    assert _error(tmp_path, "a.zip", b"not a zip at all").status == "invalid_notebook"
    (tmp_path / "a.zip").unlink()
    assert _error(tmp_path, "b.zip", b"").status == "empty"
    (tmp_path / "b.zip").unlink()
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as zf:
        zf.writestr("readme.txt", b"hi")
    assert "no .ipynb" in _error(tmp_path, "c.zip").message


def test_output_folder_inside_submissions_is_not_a_submission(tmp_path):
    (tmp_path / "alice.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
    (tmp_path / "out").mkdir()
    found = discover(tmp_path, "tiny", exclude=(tmp_path / "out",))
    assert [r.id for r in found.submissions] == ["alice"]
    assert found.skipped == []


def test_schema_quirks_are_graded_with_a_note(tmp_path):
    import json

    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {}}],  # no outputs
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    cells, note = _load(tmp_path, "a.ipynb", json.dumps(nb).encode())
    assert cells == ["x = 1\ny = 2"]
    assert "graded anyway" in note
