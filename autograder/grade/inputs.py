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
read, through a capped stream, into memory.
"""

from __future__ import annotations

import hashlib
import json
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

KINDS = {".ipynb": "notebook", ".py": "script", ".zip": "zip"}

# Statuses a submission can get before any code runs.
INVALID_NOTEBOOK = "invalid_notebook"
EMPTY = "empty"
UNSAFE_ZIP = "unsafe_zip"


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


def _read_capped(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{path.name} is {size} bytes; the limit is {MAX_FILE_BYTES}"
        )
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionInputError(INVALID_NOTEBOOK, f"{path.name} is larger than {MAX_FILE_BYTES} bytes")
    return data


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not UTF-8 text (byte {error.start}); is it really a notebook?"
        ) from None


def notebook_cells(data: bytes, what: str = "the notebook") -> tuple[list[str], str]:
    """The code-cell sources of a notebook's bytes, and a note (empty when all is well)."""
    import nbformat

    if not data.strip():
        raise SubmissionInputError(EMPTY, f"{what} is empty (0 bytes of content)")
    text = _decode(data, what)
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = f"line {error.lineno}, column {error.colno}: {error.msg}" if isinstance(
            error, json.JSONDecodeError) else "nested too deeply"
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not valid JSON ({detail}); re-download it from Jupyter"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw or not isinstance(raw.get("cells"), list):
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is JSON but not a Jupyter notebook (no list of cells)"
        )
    note = ""
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises many types on odd input
        raise SubmissionInputError(
            INVALID_NOTEBOOK, f"{what} is not a readable notebook: {type(error).__name__}: {str(error)[:300]}"
        ) from None
    try:
        nbformat.validate(nb)
    except Exception as error:
        # Graded anyway when the cells can be read: a schema quirk must not cost a grade.
        note = f"notebook does not fully validate ({str(error).splitlines()[0][:200]}); graded anyway"
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{what}: cell {index} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        if not isinstance(source, str):
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{what}: cell {index} has no text source")
        cells.append(source)
    return cells, note


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


def zip_cells(path: Path, assignment: str | None) -> tuple[list[str], str]:
    """Check a zip's members, then read its notebook (or ``.py``) member into cells."""
    size = path.stat().st_size
    if size == 0:
        raise SubmissionInputError(EMPTY, f"{path.name} is empty")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise SubmissionInputError(INVALID_NOTEBOOK, f"{path.name} is not a readable zip: {error}") from None
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
                raise SubmissionInputError(INVALID_NOTEBOOK, f"{path.name} holds no .ipynb notebook")
            choice, kind = scripts[0], "script"
        info = archive.getinfo(choice)
        if info.file_size > MAX_FILE_BYTES:
            raise SubmissionInputError(INVALID_NOTEBOOK, f"{choice} is {info.file_size} bytes; the limit is {MAX_FILE_BYTES}")
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


def load_cells(task: dict, assignment: str | None = None) -> tuple[list[str], str]:
    """The cells to run for a discovered submission (``SubmissionRef.to_task()``), and a note.

    Raises ``SubmissionInputError`` (status ``invalid_notebook``, ``empty`` or ``unsafe_zip``).
    Otter scaffolding cells (``import otter``, ``grader.check(...)``) become empty cells, so that
    cell numbers in messages stay those of the notebook's code cells.
    """
    kind, file = task["kind"], Path(task["file"])
    note = ""
    if kind == "zip":
        cells, note = zip_cells(file, assignment)
    elif kind == "script":
        cells = script_cells(_read_capped(file), file.name)
    elif kind in ("notebook", "folder"):
        if file.is_dir():
            raise SubmissionInputError(INVALID_NOTEBOOK, f"folder {file.name}/ holds no .ipynb notebook")
        cells, note = notebook_cells(_read_capped(file), file.name)
    else:
        raise SubmissionInputError(INVALID_NOTEBOOK, f"unknown submission kind {kind!r}")
    cells = ["" if _is_otter_cell(cell) else cell for cell in cells]
    if not any(cell.strip() for cell in cells):
        raise SubmissionInputError(EMPTY, "the submission has no code")
    return cells, note
