"""otter-grader's autograder zip, generated with otter's own ``otter.generate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

#: otter_config.json: all tests run, hidden results stay hidden until published.
OTTER_CONFIG = {
    "show_stdout": False,
    "show_hidden": False,
    "print_summary": True,
}


def generate_otter_zip(
    *,
    hw: str,
    staging_dir: Path,
    tests_dir: Path,
    expected_dir: Path,
    vendored_autograder_dir: Path,
    requirements: list[str],
    output_path: Path,
) -> Path:
    """Stage the support files and call ``otter.generate.main`` on them.

    The zip holds every test (hidden included), ``files/autograder/checks`` and
    ``files/expected/*.npz``; otter copies ``files/*`` next to the submission, so the tests
    import the checks and find ``expected/`` there exactly as in the student template.
    """
    from otter.generate import main as otter_generate
    from otter.utils import chdir

    if staging_dir.exists():
        shutil.rmtree(staging_dir)
    staging_dir.mkdir(parents=True)
    shutil.copytree(tests_dir, staging_dir / "tests")
    shutil.copytree(
        vendored_autograder_dir,
        staging_dir / "autograder",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    if expected_dir.exists():
        shutil.copytree(expected_dir, staging_dir / "expected")
    else:
        (staging_dir / "expected").mkdir()
    # otter adds otter-grader itself; the zip's requirements are the rest.
    extra = [line for line in requirements if not line.startswith("otter-grader")]
    (staging_dir / "requirements.txt").write_text("\n".join(extra) + "\n", encoding="utf-8")
    config = dict(OTTER_CONFIG, assignment_name=hw)
    (staging_dir / "otter_config.json").write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    output_path = output_path.resolve()
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with chdir(staging_dir):
        otter_generate(
            tests_dir="tests",
            output_path=str(output_path),
            config="otter_config.json",
            requirements="requirements.txt",
            no_environment=True,
            files=["autograder", "expected"],
        )
    return output_path
