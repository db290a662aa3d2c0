"""The Gradescope autograder zip that runs this grader (not otter) in Gradescope's container.

Layout (Gradescope unpacks it into ``/autograder/source``): ``setup.sh`` (installs Python and
this grader with its pinned requirements), ``run_autograder`` (grades ``/autograder/submission``
with ``python -m autograder.gradescope_run`` and writes ``/autograder/results/results.json``),
``grader/`` (this project's package and pyproject), ``bundle/<hw>/`` (manifest, tests, expected
values, import policy: what ``autograder grade`` reads). Files are written in sorted order with
fixed timestamps, so the same inputs give the same bytes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the image (Ubuntu base image, as root).
set -euo pipefail
apt-get update -q
apt-get install -y -q python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r /autograder/source/requirements.txt
/autograder/venv/bin/pip install -q /autograder/source/grader
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; results go to /autograder/results/results.json.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-/autograder/venv/bin/python}}"
export AUTOGRADER_ROOT="$ROOT"
exec "$PYTHON" -m autograder.gradescope_run --bundle "$ROOT/source/bundle/{hw}"
"""

_EPOCH = (2020, 1, 1, 0, 0, 0)
_SKIP = {"__pycache__"}


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _tree(zf: zipfile.ZipFile, root: Path, prefix: str, skip_suffixes=(".pyc", ".zip")) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not _SKIP.intersection(rel.parts) and path.suffix not in skip_suffixes:
            _add(zf, f"{prefix}/{rel.as_posix()}", path.read_bytes())


def write_gradescope_zip(*, hw: str, bundle_dir: Path, package_dir: Path, pyproject: Path,
                         requirements: list[str], output_path: Path) -> Path:
    """Write the zip; ``package_dir`` is the ``autograder`` package to install in the image."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.format(hw=hw).encode(), executable=True)
        _add(zf, "requirements.txt", ("\n".join(requirements) + "\n").encode())
        _add(zf, "grader/pyproject.toml", pyproject.read_bytes())
        _add(zf, "grader/README.md", b"The autograder package, installed by setup.sh.\n")
        _tree(zf, package_dir, "grader/autograder")
        _tree(zf, bundle_dir, f"bundle/{hw}")
    tmp.replace(output_path)
    return output_path
