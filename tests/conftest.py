"""Shared fixtures: builds of the assignments into a session temporary folder, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.release import build_assignment
from autograder.release.sources import PROJECT_ROOT

DEMO_ROOT = Path(__file__).parent / "fixtures" / "build_demo"
DEMO_SOLUTIONS = DEMO_ROOT / "solutions_hw0_demo.py"
DEMO_HW = "hw0_demo"


def build_kwargs(hw: str) -> dict:
    """Where an assignment's sources live (the demo fixture brings its own reference module)."""
    if hw == DEMO_HW:
        return {"repo_root": DEMO_ROOT, "solutions_path": DEMO_SOLUTIONS}
    return {"repo_root": PROJECT_ROOT}


@pytest.fixture(scope="session")
def fresh_build(tmp_path_factory):
    """``fresh_build(hw)``: a full build (template, bundle, otter zip) in a temporary folder."""
    root = tmp_path_factory.mktemp("fresh-build")
    cache: dict[str, object] = {}

    def get(hw: str):
        if hw not in cache:
            try:
                cache[hw] = build_assignment(
                    hw, out_dir=root / "build", template_dir=root / "template", **build_kwargs(hw)
                )
            except Exception as error:  # remembered, so every test of hw reports the same cause
                cache[hw] = error
        if isinstance(cache[hw], Exception):
            raise cache[hw]
        return cache[hw]

    return get


# The student environment of tests/test_template_student_env.py (a fresh venv and
# `pip install -r requirements.txt`, about two minutes) is installed in the background from the
# end of the collection, when that module is collected, so it overlaps the rest of the suite.
# The module's `student` fixture waits for it and fails with its output; the install is killed
# and its folder removed when the session ends, however it ends.

_STUDENT_INSTALL_KEY = pytest.StashKey[object]()


def pytest_collection_finish(session):
    from tests.fixtures import student_env

    if session.config.option.collectonly:
        return
    if any(item.path.name == student_env.MODULE for item in session.items):
        session.config.stash[_STUDENT_INSTALL_KEY] = student_env.start(PROJECT_ROOT)


def pytest_unconfigure(config):
    install = config.stash.get(_STUDENT_INSTALL_KEY, None)
    if install is not None:
        install.cleanup()


@pytest.fixture(scope="session")
def student_install(request):
    """The background install started at collection (or, when none was, one started now)."""
    from tests.fixtures import student_env

    install = request.config.stash.get(_STUDENT_INSTALL_KEY, None)
    if install is None:
        install = request.config.stash[_STUDENT_INSTALL_KEY] = student_env.start(PROJECT_ROOT)
    return install
