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
    read_submission_bytes,
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


def _tagged_notebook(cells: list[tuple[str, dict]]) -> bytes:
    import nbformat

    nb = nbformat.v4.new_notebook()
    for source, metadata in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata = nbformat.NotebookNode(metadata)
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def test_cells_otter_ignores_are_not_run(tmp_path):
    # otter run leaves out cells tagged otter_ignore or with a true otter.ignore (its
    # execute.preprocessor); the same cells must not run here, and the numbering stays
    data = _tagged_notebook([
        (DOUBLE_OK, {}),
        ("double = None", {"tags": ["exploration", "otter_ignore"]}),
        ("raise SystemExit", {"otter": {"ignore": True}}),
        ("y = 1", {"otter": {"ignore": False}, "tags": ["otter_ignore_not"]}),
        ("z = 2", {"otter": "ignore"}),   # malformed metadata: not a flag, the cell runs
        ("w = 3", {"tags": "otter_ignore"}),  # a string, not a list: otter's `in` still matches
    ])
    cells, _ = _load(tmp_path, "a.ipynb", data)
    assert cells == [DOUBLE_OK, "", "", "y = 1", "z = 2", ""]


def test_notebook_of_ignored_cells_only_is_empty(tmp_path):
    data = _tagged_notebook([(DOUBLE_OK, {"tags": ["otter_ignore"]})])
    assert _error(tmp_path, "a.ipynb", data).status == "empty"


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


# -- nbformat versions -------------------------------------------------------------------------


def test_nbformat_v3_notebook_is_upgraded_and_graded(tmp_path):
    import nbformat

    v3 = nbformat.v3
    nb = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[
        v3.new_text_cell("markdown", source="# tiny"),
        v3.new_code_cell(input=OTTER_INIT),
        v3.new_code_cell(input=DOUBLE_OK),
        v3.new_code_cell(input="a = 1\nb = 2\n"),
    ])])
    data = nbformat.writes(nb, version=3).encode()
    assert b'"nbformat": 3' in data and b'"worksheets"' in data
    cells, note = _load(tmp_path, "a.ipynb", data)
    assert cells == ["", DOUBLE_OK, "a = 1\nb = 2\n"]
    assert note == ""


def test_v4_notebook_converted_down_to_v3_is_graded(tmp_path):
    import nbformat

    v4 = nbformat.reads(notebook_bytes([DOUBLE_OK]).decode(), as_version=4)
    cells, _ = _load(tmp_path, "a.ipynb", nbformat.writes(nbformat.convert(v4, 3)).encode())
    assert cells == [DOUBLE_OK]


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4, 5, 9])
def test_every_v4_minor_version_is_graded(tmp_path, minor):
    import json

    nb = json.loads(notebook_bytes([DOUBLE_OK]))
    nb["nbformat_minor"] = minor
    if minor < 5:  # cell ids came with 4.5
        for cell in nb["cells"]:
            cell.pop("id", None)
    cells, _ = _load(tmp_path, "a.ipynb", json.dumps(nb).encode())
    assert cells == [DOUBLE_OK]


def test_unknown_nbformat_major_is_named(tmp_path):
    import json

    nb = json.loads(notebook_bytes([DOUBLE_OK]))
    nb["nbformat"] = 5
    error = _error(tmp_path, "a.ipynb", json.dumps(nb).encode())
    assert error.status == "invalid_notebook"
    assert "nbformat 5" in error.message


# -- bytes shipped in the task -----------------------------------------------------------------


def _shipped(tmp_path, name, data=None, assignment="tiny"):
    """The task of ``name`` with its bytes in ``data_b64``, as the main process would build it."""
    import base64

    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    (ref,) = [r for r in discover(tmp_path, assignment).submissions if r.path == path]
    task = ref.to_task()
    task["data_b64"] = base64.b64encode(read_submission_bytes(task)).decode()
    return task


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("kind", ["notebook", "script", "folder", "zip"])
def test_shipped_bytes_give_the_same_cells_without_the_file(tmp_path, kind):
    if kind == "notebook":
        name, data = "alice.ipynb", notebook_bytes([DOUBLE_OK])
    elif kind == "script":
        name, data = "alice.py", DOUBLE_OK.encode()
    elif kind == "folder":
        (tmp_path / "alice").mkdir()
        (tmp_path / "alice" / "tiny.ipynb").write_bytes(notebook_bytes([DOUBLE_OK]))
        name, data = "alice", None
    else:
        _write_zip(tmp_path / "alice.zip", {"sub/tiny.ipynb": notebook_bytes([DOUBLE_OK]), "sub/d.csv": b"1"})
        name, data = "alice.zip", None
    from_file = _load(tmp_path, name, data)
    task = _shipped(tmp_path, name)
    for path in sorted(tmp_path.rglob("*"), reverse=True):  # the worker cannot see the files
        path.rmdir() if path.is_dir() else path.unlink()
    assert load_cells(task, "tiny") == from_file
    assert from_file[0] == [DOUBLE_OK]


def test_shipped_bytes_that_changed_are_graded_again_later(tmp_path):
    import base64

    task = _shipped(tmp_path, "alice.ipynb", notebook_bytes([DOUBLE_OK]))
    task["data_b64"] = base64.b64encode(notebook_bytes(["x = 'edited'"])).decode()
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "error"
    assert info.value.message == "the file changed while the batch was running; graded again on the next run"
    task["data_b64"] = "not base64!"
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "error"


def test_shipped_zip_gets_the_same_member_checks(tmp_path):
    _write_zip(tmp_path / "mallory.zip", {"tiny.ipynb": notebook_bytes([DOUBLE_OK]), "../evil.py": b"x"})
    task = _shipped(tmp_path, "mallory.zip")
    (tmp_path / "mallory.zip").unlink()
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "unsafe_zip"
    assert "escaping" in info.value.message


def test_shipped_empty_and_broken_zips(tmp_path):
    task = _shipped(tmp_path, "a.zip", b"")
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "empty"
    task = _shipped(tmp_path, "b.zip", b"not a zip")
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "invalid_notebook" and "b.zip" in info.value.message


def test_read_submission_bytes_caps_and_errors(tmp_path, monkeypatch):
    import autograder.grade.inputs as inputs

    task = {"id": "a", "kind": "notebook", "file": str(tmp_path / "a.ipynb"), "content_hash": "h"}
    with pytest.raises(SubmissionInputError) as info:  # vanished since discovery
        read_submission_bytes(task)
    assert info.value.status == "error" and "a.ipynb" in info.value.message
    (tmp_path / "a.ipynb").write_bytes(b"x" * 101)
    monkeypatch.setattr(inputs, "MAX_FILE_BYTES", 100)
    with pytest.raises(SubmissionInputError) as info:
        read_submission_bytes(task)
    assert info.value.status == "invalid_notebook" and "limit is 100" in info.value.message
    # A zip has its own cap: it is shipped whole, the notebook inside keeps the file cap.
    (tmp_path / "a.zip").write_bytes(b"x" * 101)
    assert read_submission_bytes({**task, "kind": "zip", "file": str(tmp_path / "a.zip")}) == b"x" * 101
    monkeypatch.setattr(inputs, "MAX_ZIP_FILE_BYTES", 100)
    with pytest.raises(SubmissionInputError):
        read_submission_bytes({**task, "kind": "zip", "file": str(tmp_path / "a.zip")})
    (tmp_path / "folder").mkdir()
    with pytest.raises(SubmissionInputError) as info:
        read_submission_bytes({**task, "kind": "folder", "file": str(tmp_path / "folder")})
    assert info.value.status == "invalid_notebook" and "no .ipynb" in info.value.message


def test_shipped_bytes_over_the_cap_are_refused(tmp_path, monkeypatch):
    import autograder.grade.inputs as inputs

    task = _shipped(tmp_path, "a.py", b"x = 1\n" * 50)
    monkeypatch.setattr(inputs, "MAX_FILE_BYTES", 100)
    with pytest.raises(SubmissionInputError) as info:
        load_cells(task, "tiny")
    assert info.value.status == "invalid_notebook" and "limit is 100" in info.value.message
