"""Find the submissions of a class and turn each into a list of code-cell sources.

A submissions folder holds one entry per student; the student id is the entry's stem:

- ``<id>.ipynb``: a notebook;
- ``<id>.py``: a script, one cell, or several cells split on ``# %%`` lines;
- ``<id>/``: a folder holding a notebook (if several, the one named like the assignment);
- ``<id>.zip``: a zip as downloaded from Jupyter or Gradescope, holding a notebook.

Anything else (other extensions, hidden files, symlinks) is reported and skipped.

Discovery (``discover``) runs in the grader's main process and only lists files and hashes bytes.
Parsing (``load_cells``) runs in a grading worker: it never executes anything, reads every file
with a size cap and never extracts a zip to disk; the zip's members are checked (no absolute
paths, no ``..``, no symlinks, bounded count and uncompressed size) before the notebook member is
read, through a capped stream, into memory. JSON nested deeper than ``MAX_JSON_DEPTH`` is refused
by a linear scan of the bytes before anything recursive (``json``, nbformat) sees it. Notebooks of
nbformat 1-3 are upgraded to v4 by nbformat.

A worker without access to the submissions folder grades from bytes: the main process puts
``base64(read_submission_bytes(task))`` in the task as ``data_b64`` and ``load_cells`` parses
those, after checking them against the task's ``content_hash``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Largest notebook or script accepted (bytes).
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Zip limits: members, total uncompressed bytes.
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024
#: Largest zip file read whole (its bytes are shipped to a worker): a zip may carry data files.
MAX_ZIP_FILE_BYTES = 100 * 1024 * 1024
#: Deepest JSON nesting accepted. Real notebooks stay far below (plot specs, widget state);
#: nbformat's conversion and validation recurse several frames per level, and must stay clear
#: of Python's recursion limit even when called from a deep stack.
MAX_JSON_DEPTH = 100

KINDS = {".ipynb": "notebook", ".py": "script", ".zip": "zip"}

# Statuses a submission can get before any code runs.
INVALID_NOTEBOOK = "invalid_notebook"
EMPTY = "empty"
UNSAFE_ZIP = "unsafe_zip"
#: Not the student's fault (a file that vanished or changed mid-batch): graded again next run.
ERROR = "error"
CHANGED_MESSAGE = "the file changed while the batch was running; graded again on the next run"


class SubmissionInputError(Exception):
    """A submission that cannot be turned into cells; ``status`` is its submission status."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SubmissionRef:
    """One submission found on disk (cheap: nothing parsed yet)."""

    id: str
    kind: str  # "notebook" | "script" | "folder" | "zip"
    path: Path  # the entry in the submissions folder
    file: Path  # the file whose bytes are hashed and parsed (the folder's notebook)
    content_hash: str

    def to_task(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": str(self.path),
            "file": str(self.file),
            "content_hash": self.content_hash,
        }


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class Discovery:
    submissions: list[SubmissionRef] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pick_notebook(names: list[str], assignment: str | None) -> tuple[str | None, str]:
    """Choose one notebook among ``names`` (paths); returns (choice, note for the report)."""
    candidates = [
        name
        for name in names
        if name.endswith(".ipynb")
        and not any(
            part.startswith(".") or part in ("__MACOSX", ".ipynb_checkpoints")
            for part in PurePosixPath(name).parts
        )
    ]
    if not candidates:
        return None, ""
    if len(candidates) == 1:
        return candidates[0], ""
    if assignment:
        named = [c for c in candidates if PurePosixPath(c).stem == assignment]
        if not named:
            named = [c for c in candidates if assignment in PurePosixPath(c).stem]
        if named:
            choice = min(named, key=lambda c: (len(PurePosixPath(c).parts), c))
            return choice, f"several notebooks; graded {choice}"
    choice = min(candidates, key=lambda c: (len(PurePosixPath(c).parts), c))
    return choice, f"several notebooks and none named {assignment}.ipynb; graded {choice}"


def _folder_notebook(folder: Path, assignment: str | None) -> Path | None:
    names = []
    for path in sorted(folder.rglob("*.ipynb")):
        if path.is_symlink() or not path.is_file():
            continue
        names.append(path.relative_to(folder).as_posix())
    choice, _ = _pick_notebook(names, assignment)
    return folder / choice if choice else None


def discover(submissions_dir: str | Path, assignment: str | None = None, *,
             exclude: tuple[Path, ...] = ()) -> Discovery:
    """List the submissions of a folder (sorted by id), hashing the bytes each one is graded on.

    A folder without a notebook is still a submission (it becomes ``invalid_notebook`` when
    loaded, so the student appears in the grades). Two entries with the same id: the first in
    the order notebook, zip, folder, script is graded, the others are skipped and reported.
    ``exclude``: paths never taken as submissions (the output folder, when it is inside).
    """
    excluded = {Path(p).resolve() for p in exclude}
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {root}")
    found: dict[str, SubmissionRef] = {}
    result = Discovery()
    priority = {"notebook": 0, "zip": 1, "folder": 2, "script": 3}
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith(".") or name.startswith("~"):
            result.skipped.append(Skipped(entry, "hidden file"))
            continue
        if entry.resolve() in excluded:
            continue
        if entry.is_symlink():
            result.skipped.append(Skipped(entry, "symbolic link"))
            continue
        if entry.is_dir():
            kind, sid = "folder", name
            notebook = _folder_notebook(entry, assignment)
            file = notebook if notebook is not None else entry
        elif entry.is_file() and entry.suffix.lower() in KINDS:
            kind, sid, file = KINDS[entry.suffix.lower()], entry.stem, entry
        else:
            result.skipped.append(Skipped(entry, f"not a submission ({entry.suffix or 'no extension'})"))
            continue
        if not sid:
            result.skipped.append(Skipped(entry, "empty student id"))
            continue
        if file.is_dir():
            content_hash = "no-notebook:" + hashlib.sha256(
                "\n".join(sorted(p.relative_to(file).as_posix() for p in file.rglob("*"))).encode()
            ).hexdigest()
        else:
            content_hash = sha256_file(file)
        ref = SubmissionRef(sid, kind, entry, file, content_hash)
        other = found.get(sid)
        if other is None:
            found[sid] = ref
        elif priority[kind] < priority[other.kind]:
            found[sid] = ref
            result.skipped.append(Skipped(other.path, f"duplicate of {entry.name}"))
        else:
            result.skipped.append(Skipped(entry, f"duplicate of {other.path.name}"))
    result.submissions = [found[sid] for sid in sorted(found)]
    return result


# --------------------------------------------------------------------------------------------
# Parsing (in the worker)

_CELL_MARK = re.compile(r"^# ?%%")
# Lines of the otter scaffolding that mean nothing outside Jupyter (the batch grader replaces
# ``grader.check``); a cell made only of these (and comments) is skipped.
_OTTER_LINE = re.compile(
    r"^\s*(import otter|from otter import .*|grader\s*=\s*otter\.Notebook\(.*\)|"
    r"grader\.(check|check_all|export|to_pdf)\(.*\)|_?\s*=\s*grader\.\w+\(.*\))\s*(#.*)?$"
)


def _is_otter_cell(source: str) -> bool:
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(lines) and all(_OTTER_LINE.match(line) for line in lines)


def _too_big(name: str, size: int, cap: int) -> SubmissionInputError:
    return SubmissionInputError(INVALID_NOTEBOOK, f"{name} is {size} bytes; the limit is {cap}")


def _read_capped(path: Path, cap: int = MAX_FILE_BYTES) -> bytes:
    # O_NONBLOCK: a FIFO swapped in after discovery must not hang the reader; O_NOFOLLOW: nor
    # may a symlink swapped in lead it elsewhere.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{path.name} is not a regular file")
        if info.st_size > cap:
            raise _too_big(path.name, info.st_size, cap)
        data = handle.read(cap + 1)  # the file may grow after fstat
    if len(data) > cap:
        raise SubmissionInputError(INVALID_NOTEBOOK, f"{path.name} is larger than {cap} bytes")
    return data


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not UTF-8 text (byte {error.start}); is it really a notebook?"
        ) from None


_DEPTH_CHUNK = 1 << 20


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON bytes, brackets inside strings ignored.

    No recursion, linear time and bounded extra memory (two copies of the bytes, then numpy over
    1 MiB chunks). On invalid JSON it is an upper bound of how deep ``json.loads`` gets: up to
    its first error, the parser sees the strings and brackets this scan sees.
    """
    import numpy as np

    # In JSON a backslash occurs only in a string and starts a two-byte escape, paired left to
    # right as the parser reads them; once the escapes of '\\' and '"' are gone, every '"'
    # opens or closes a string.
    plain = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    step_of = np.zeros(256, dtype=np.int8)
    step_of[[ord("["), ord("{")]], step_of[[ord("]"), ord("}")]] = 1, -1
    depth = deepest = quotes = 0
    for start in range(0, len(plain), _DEPTH_CHUNK):
        chunk = np.frombuffer(plain, dtype=np.uint8, count=min(_DEPTH_CHUNK, len(plain) - start), offset=start)
        is_quote = chunk == ord('"')
        in_string = ((np.cumsum(is_quote, dtype=np.int64) + quotes) & 1).astype(bool)
        running = np.cumsum(np.where(in_string, 0, step_of[chunk]), dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth, quotes = int(running[-1]), quotes + int(is_quote.sum())
    return deepest


def _parse_json(data: bytes, what: str) -> object:
    text = _decode(data, what)
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise SubmissionInputError(
            INVALID_NOTEBOOK,
            f"{what} is not a readable notebook: JSON nested too deeply ({depth} levels; "
            f"the limit is {MAX_JSON_DEPTH})",
        )
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:  # RecursionError: a deep caller stack
        detail = f"line {error.lineno}, column {error.colno}: {error.msg}" if isinstance(
            error, json.JSONDecodeError) else "nested too deeply"
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not valid JSON ({detail}); re-download it from Jupyter"
        ) from None


def _looks_like_notebook(raw: object) -> bool:
    if not isinstance(raw, dict):
        return False
    if isinstance(raw.get("cells"), list):  # v4
        return True
    # v1-v3: cells inside "worksheets" (v2, v3) or at the top (v1); nbformat upgrades them.
    return isinstance(raw.get("nbformat"), int) and raw["nbformat"] < 4


def _as_v4(raw: dict, what: str):
    import nbformat

    major = raw.get("nbformat", 1)  # nbformat's own default
    if not isinstance(major, int) or major not in nbformat.versions:  # else a bare KeyError
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} declares nbformat {major!r}; this grader reads versions 1 to 4"
        )
    try:
        # What nbformat.reads does (the version's reader joins the lines of sources), without
        # parsing the text again or logging validation errors.
        nb = nbformat.versions[major].to_notebook_json(raw, minor=raw.get("nbformat_minor", 0))
        return nbformat.convert(nb, 4)
    except Exception as error:  # nbformat raises many types on odd input
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not a readable notebook: {type(error).__name__}: {str(error)[:300]}"
        ) from None


def _validation_note(nb) -> str:
    import nbformat

    try:
        nbformat.validate(nb)
    except Exception as error:
        # Graded anyway when the cells can be read: a schema quirk must not cost a grade.
        return f"notebook does not fully validate ({str(error).splitlines()[0][:200]}); graded anyway"
    return ""


def _code_sources(nb, what: str) -> list[str]:
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{what}: cell {index} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{what}: cell {index} has no text source")
        # kept as an empty cell, so that cell numbers in messages stay the notebook's
        cells.append("" if is_ignored_cell(cell) else source)
    return cells


#: The tag (and the ``metadata.otter.ignore`` flag) with which otter's grading leaves a cell out
#: (``otter.execute.preprocessor``): exploration cells marked "not graded" are not run.
IGNORE_TAG = "otter_ignore"


def is_ignored_cell(cell: dict) -> bool:
    """Whether otter run would skip this cell: tagged ``otter_ignore``, or a true ``ignore`` in its
    ``otter`` metadata. A submission's own metadata decides, as in otter: a student who tags a cell
    only keeps it from being graded."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict):
        return False
    tags = metadata.get("tags")
    # (a string where nbformat wants a list matches as otter's ``in`` does: as a substring)
    if isinstance(tags, (list, str)) and IGNORE_TAG in tags:
        return True
    otter = metadata.get("otter")
    return isinstance(otter, dict) and bool(otter.get("ignore", False))


def notebook_cells(data: bytes, what: str = "the notebook") -> tuple[list[str], str]:
    """The code-cell sources of a notebook's bytes (any nbformat version nbformat can upgrade
    to v4), and a note (empty when all is well)."""
    if not data.strip():
        raise SubmissionInputError(EMPTY, f"{what} is empty (0 bytes of content)")
    raw = _parse_json(data, what)
    if not _looks_like_notebook(raw):
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is JSON but not a Jupyter notebook (no list of cells)"
        )
    nb = _as_v4(raw, what)
    note = _validation_note(nb)
    return _code_sources(nb, what), note


def script_cells(data: bytes, what: str = "the script") -> list[str]:
    """Split a ``.py`` script into cells on ``# %%`` lines (one cell when there are none)."""
    if not data.strip():
        raise SubmissionInputError(EMPTY, f"{what} is empty")
    text = _decode(data, what)
    cells: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if _CELL_MARK.match(line):
            cells.append([])
            continue
        cells[-1].append(line)
    return ["".join(lines) for lines in cells if "".join(lines).strip()]


def _zip_member_ok(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return f"absolute path {name!r}"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return f"path escaping the folder {name!r}"
    mode = (info.external_attr >> 16) & 0xFFFF
    if stat.S_ISLNK(mode):
        return f"symbolic link {name!r}"
    return None


def zip_cells(source: Path | bytes, assignment: str | None, name: str | None = None) -> tuple[list[str], str]:
    """Check a zip's members, then read its notebook (or ``.py``) member into cells.

    ``source``: the zip's path, or its bytes (``name`` is then the file name for messages).
    """
    if isinstance(source, bytes):
        name = name or "the zip"
        size, opened = len(source), io.BytesIO(source)
    else:
        name, size, opened = source.name, source.stat().st_size, source
    if size == 0:
        raise SubmissionInputError(EMPTY, f"{name} is empty")
    try:
        archive = zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise SubmissionInputError(INVALID_NOTEBOOK, f"{name} is not a readable zip: {error}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise SubmissionInputError(UNSAFE_ZIP, f"zip holds {len(infos)} files; the limit is {MAX_ZIP_MEMBERS}")
        total = 0
        for info in infos:
            problem = _zip_member_ok(info)
            if problem:
                raise SubmissionInputError(UNSAFE_ZIP, f"zip refused: {problem}")
            total += info.file_size
        if total > MAX_ZIP_TOTAL_BYTES:
            raise SubmissionInputError(
                UNSAFE_ZIP, f"zip would unpack to {total} bytes; the limit is {MAX_ZIP_TOTAL_BYTES}"
            )
        files = [info for info in infos if not info.is_dir()]
        choice, note = _pick_notebook([info.filename for info in files], assignment)
        kind = "notebook"
        if choice is None:
            scripts = [info.filename for info in files if info.filename.endswith(".py")
                       and not any(p.startswith((".", "__MACOSX")) for p in PurePosixPath(info.filename).parts)]
            if len(scripts) != 1:
                raise SubmissionInputError(INVALID_NOTEBOOK, f"{name} holds no .ipynb notebook")
            choice, kind = scripts[0], "script"
        info = archive.getinfo(choice)
        if info.file_size > MAX_FILE_BYTES:
            raise _too_big(choice, info.file_size, MAX_FILE_BYTES)
        try:
            with archive.open(info) as member:
                data = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as error:
            raise SubmissionInputError(INVALID_NOTEBOOK, f"cannot read {choice} from the zip: {error}") from None
        if len(data) > MAX_FILE_BYTES:
            raise SubmissionInputError(UNSAFE_ZIP, f"{choice} unpacks to more than its stated size")
    if kind == "script":
        return script_cells(data, choice), f"graded {choice}"
    cells, parse_note = notebook_cells(data, choice)
    return cells, "; ".join(n for n in (note, parse_note) if n)


def read_submission_bytes(task: dict) -> bytes:
    """The bytes a task is graded on (its ``file``), read with the size caps.

    Raises ``SubmissionInputError``: ``invalid_notebook`` for a folder without a notebook or a
    file over the cap, ``error`` (graded again next run) when the file cannot be read.
    """
    file = Path(task["file"])
    cap = MAX_ZIP_FILE_BYTES if task["kind"] == "zip" else MAX_FILE_BYTES
    if file.is_dir():
        raise SubmissionInputError(INVALID_NOTEBOOK, f"folder {file.name}/ holds no .ipynb notebook")
    try:
        return _read_capped(file, cap)
    except OSError as error:
        raise SubmissionInputError(
            ERROR, f"cannot read {file.name} ({error.strerror or error}); graded again on the next run"
        ) from None


def _shipped_bytes(task: dict) -> bytes:
    """The bytes carried in the task, checked against the hash discovery took."""
    try:
        data = base64.b64decode(task["data_b64"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SubmissionInputError(ERROR, CHANGED_MESSAGE) from None
    if hashlib.sha256(data).hexdigest() != task["content_hash"]:
        raise SubmissionInputError(ERROR, CHANGED_MESSAGE)
    cap = MAX_ZIP_FILE_BYTES if task["kind"] == "zip" else MAX_FILE_BYTES
    if len(data) > cap:  # the sender is trusted, but the caps must not depend on it
        raise _too_big(Path(task["file"]).name, len(data), cap)
    return data


def _cells_of(task: dict, assignment: str | None) -> tuple[list[str], str]:
    kind, file = task["kind"], Path(task["file"])
    if kind not in ("zip", "script", "notebook", "folder"):
        raise SubmissionInputError(INVALID_NOTEBOOK, f"unknown submission kind {kind!r}")
    if "data_b64" in task:
        data = _shipped_bytes(task)
    elif kind == "zip":
        return zip_cells(file, assignment)  # reads only the members it needs
    else:
        data = read_submission_bytes(task)
    if kind == "zip":
        return zip_cells(data, assignment, file.name)
    if kind == "script":
        return script_cells(data, file.name), ""
    return notebook_cells(data, file.name)


def load_cells(task: dict, assignment: str | None = None) -> tuple[list[str], str]:
    """The cells to run for a discovered submission (``SubmissionRef.to_task()``), and a note.

    The bytes are ``task["data_b64"]`` when present (checked against ``content_hash``), else
    those of ``task["file"]``. Raises ``SubmissionInputError`` (status ``invalid_notebook``,
    ``empty``, ``unsafe_zip``, or ``error`` when the bytes changed or cannot be read).
    Otter scaffolding cells (``import otter``, ``grader.check(...)``) and the cells otter's
    grading skips (tagged ``otter_ignore``) become empty cells, so that cell numbers in messages
    stay those of the notebook's code cells.
    """
    cells, note = _cells_of(task, assignment)
    cells = ["" if _is_otter_cell(cell) else cell for cell in cells]
    if not any(cell.strip() for cell in cells):
        raise SubmissionInputError(EMPTY, "the submission has no code")
    return cells, note
