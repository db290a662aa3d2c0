"""The grader's view of a built bundle (``build/<hw>/``): manifest, test files, a content hash."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path


class BundleMissing(Exception):
    """The bundle has not been built (or is incomplete)."""


@dataclass(frozen=True)
class Bundle:
    dir: Path
    assignment: str
    manifest: dict
    hash: str

    @property
    def question_files(self) -> list[tuple[str, Path]]:
        return [(q["name"], self.dir / q["file"]) for q in self.manifest["questions"]]


def read_manifest(bundle_dir: str | Path) -> dict:
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / "manifest.json"
    hw = bundle_dir.name
    if not path.is_file():
        raise BundleMissing(f"no bundle at {bundle_dir} (manifest.json missing): run `autograder build {hw}` first")
    try:
        manifest = json.loads(path.read_text())
        questions = manifest["questions"]
        for question in questions:
            question["name"], question["file"]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError) as error:
        raise BundleMissing(f"{path} is unreadable ({error}): run `autograder build {hw}` again") from None
    for question in questions:
        if not (bundle_dir / question["file"]).is_file():
            raise BundleMissing(
                f"{bundle_dir / question['file']} missing: run `autograder build {hw}` first"
            )
    return manifest


def _bundle_files(bundle_dir: Path) -> list[Path]:
    paths = [bundle_dir / "manifest.json"]
    for sub in ("tests", "expected"):
        if (bundle_dir / sub).is_dir():
            paths.extend(sorted(p for p in (bundle_dir / sub).rglob("*") if p.is_file()))
    return [p for p in paths if "__pycache__" not in p.parts]


def bundle_hash(bundle_dir: str | Path) -> str:
    """sha256 over the manifest, test files and expected values (what a grade depends on).

    A batch checks it before storing every result; the files are read and hashed again when
    one of them is not the file it was (device, inode, size, modification and status change
    times: writing a file's content always moves its ctime, which no tool sets back), and at
    least once a second (the kernel's timestamps move by clock ticks: a same-size rewrite in
    place within one tick would keep them)."""
    bundle_dir = Path(bundle_dir)
    paths = _bundle_files(bundle_dir)
    signature = tuple((p.as_posix(), _stat_key(p)) for p in paths)
    hit = _hashes.get(str(bundle_dir))
    now = time.monotonic()
    if hit is not None and hit[0] == signature and now - hit[2] < REHASH_AFTER_S:
        return hit[1]
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(bundle_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    value = digest.hexdigest()
    if len(_hashes) >= 16:
        _hashes.clear()
    _hashes[str(bundle_dir)] = (signature, value, now)
    return value


REHASH_AFTER_S = 1.0
_hashes: dict[str, tuple[tuple, str, float]] = {}


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def load_bundle(bundle_dir: str | Path) -> Bundle:
    bundle_dir = Path(bundle_dir).resolve()
    manifest = read_manifest(bundle_dir)
    return Bundle(
        dir=bundle_dir,
        assignment=str(manifest.get("assignment") or bundle_dir.name),
        manifest=manifest,
        hash=bundle_hash(bundle_dir),
    )
