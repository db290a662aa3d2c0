"""Where the bundles are: one answer for ``build``, ``grade``, ``verify`` and ``demo``.

A bundle (``<bundle dir>/<hw>/``: every test, every expected value, the otter zip) lives in
``<repository>/build/`` by default, where ``<repository>`` is the checkout this package is
installed from (``pip install -e .``), whatever the working directory. ``--repo-root`` names
another checkout and ``--out-dir`` (build) / ``--bundle-dir`` (grade) another folder.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder.release.sources import PROJECT_ROOT, known_assignments

#: The bundle folder's name inside the repository (git-ignored as ``/build/``).
BUNDLE_FOLDER = "build"


class BundleNotFound(Exception):
    """No bundle for the assignment; the message lists what exists and names the fix."""


def default_repo_root() -> Path:
    """The checkout this package belongs to (independent of the working directory)."""
    return PROJECT_ROOT


def default_bundle_dir(repo_root: str | Path | None = None) -> Path:
    """``<repository>/build``: where ``autograder build`` writes and ``autograder grade`` reads."""
    return Path(repo_root or default_repo_root()).resolve() / BUNDLE_FOLDER


def built_bundles(bundle_dir: str | Path) -> list[str]:
    """Assignments with a bundle (a ``manifest.json``) in ``bundle_dir``."""
    root = Path(bundle_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())


@dataclass(frozen=True)
class LocatedBundle:
    hw: str
    path: Path
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _stale_warning(hw: str, bundle: Path, repo_root: Path) -> str | None:
    from autograder.release.sources import assignment_source, source_hash

    try:
        stored = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["source_hash"]
        current = source_hash(assignment_source(hw, repo_root=repo_root))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable manifest is the grader's to report
    if stored == current:
        return None
    return (
        f"the bundle {bundle} was built from older sources than {repo_root / 'assignments' / hw}: "
        f"run `autograder build {hw}` to grade with the current tests (grading with it as it is)"
    )


def locate_bundle(
    hw: str,
    *,
    bundle_dir: str | Path | None = None,
    repo_root: str | Path | None = None,
) -> LocatedBundle:
    """The bundle of ``hw``, or ``BundleNotFound`` saying why and what to run.

    An assignment that is neither in ``<repo>/assignments`` nor built in ``bundle_dir`` is
    unknown: the message lists the known ones. A stale bundle (built from older sources) is
    returned with a warning, not rebuilt: grading keeps the bundle the instructor built.
    """
    repo_root = Path(repo_root or default_repo_root()).resolve()
    default = default_bundle_dir(repo_root)
    bundle_dir = Path(bundle_dir).resolve() if bundle_dir is not None else default
    bundle = bundle_dir / hw
    known = known_assignments(repo_root)
    built = built_bundles(bundle_dir)
    if (bundle / "manifest.json").is_file():
        warning = _stale_warning(hw, bundle, repo_root) if hw in known else None
        return LocatedBundle(hw, bundle, (warning,) if warning else ())
    if hw not in known and hw not in built:
        names = sorted(set(known) | set(built), key=lambda n: (n not in known, n))
        close = difflib.get_close_matches(hw, names, n=1)
        message = f"unknown assignment {hw!r}"
        if close:
            message += f" (did you mean {close[0]}?)"
        message += f"; known assignments: {', '.join(names) or 'none'}"
        message += f" (from {repo_root / 'assignments'}"
        message += f" and the bundles in {bundle_dir})" if bundle_dir.is_dir() else ")"
        raise BundleNotFound(message)
    command = f"autograder build {hw}" + ("" if bundle_dir == default else f" --out-dir {bundle_dir}")
    raise BundleNotFound(f"no bundle for {hw} in {bundle_dir}: run `{command}` first")
