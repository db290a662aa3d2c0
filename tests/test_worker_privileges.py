"""Least privilege of the trusted grading worker: attacks from inside a worker that dropped.

The worker's code is trusted, but if a submission ever managed to run code in it (the issue's
.pth attack), this is what that code could do. Each attempt runs in a forked process that made
exactly the drop a real worker makes, and reports what succeeded.
"""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import pytest

from autograder.grade import privileges
from autograder.grade.bundle import bundle_hash
from tests.fixtures.grade_helpers import TINY_BUNDLE


def _in_dropped_worker(bundle_copy: Path, uid, attempts) -> dict:
    """Fork, drop as a worker does, run each attempt, return {name: "ok" | error text}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        out = {}
        try:
            privileges.drop(uid, readable=[str(bundle_copy)])
            for name, fn in attempts.items():
                try:
                    fn()
                    out[name] = "ok"
                except BaseException as exc:  # noqa: BLE001 - reported to the parent
                    out[name] = f"{type(exc).__name__}: {exc}"[:200]
        except BaseException as exc:  # noqa: BLE001
            out["drop"] = f"{type(exc).__name__}: {exc}"
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def copy_and_uid():
    uid, lock_fd = privileges.worker_uid()
    copy = privileges.private_bundle(TINY_BUNDLE, bundle_hash(TINY_BUNDLE), uid)
    yield copy, uid
    if lock_fd is not None:
        os.close(lock_fd)


def test_the_private_bundle_copy_is_verified(tmp_path):
    with pytest.raises(privileges.PrivilegeError, match="changed since grading started"):
        privileges.private_bundle(TINY_BUNDLE, "0" * 64, None)


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens only when run as root")
def test_a_dropped_worker_cannot_write_what_matters(copy_and_uid, tmp_path):
    copy, uid = copy_and_uid
    site = Path(sysconfig.get_paths()["purelib"])
    outside = tmp_path / "grades.csv"   # e.g. the output folder of this or another run
    outside.write_text("original")
    test_file = next((copy / "tests").glob("*.py"))
    secret = Path("/root") / f"autograder-secret-{os.getpid()}"  # e.g. a key in root's home
    secret.write_text("secret")
    secret.chmod(0o600)
    try:
        result = _run_attempts(copy, uid, site, outside, test_file, secret)
    finally:
        secret.unlink()
    assert "drop" not in result, result
    for denied in ("write_pth", "overwrite_expected", "overwrite_test", "write_output",
                   "become_root", "read_root"):
        assert result[denied] != "ok", (denied, result)
    for allowed in ("read_bundle", "import_numpy", "use_own_tmp"):
        assert result[allowed] == "ok", (allowed, result)
    assert not (site / "autograder-pwned.pth").exists()
    assert outside.read_text() == "original"
    assert bundle_hash(copy) == bundle_hash(TINY_BUNDLE)


def _run_attempts(copy, uid, site, outside, test_file, secret):
    return _in_dropped_worker(copy, uid, {
        "write_pth": lambda: (site / "autograder-pwned.pth").write_text("import os"),
        "overwrite_expected": lambda: next((copy / "expected").glob("*")).write_bytes(b"x"),
        "overwrite_test": lambda: test_file.write_text("evil"),
        "write_output": lambda: outside.write_text("0"),
        "become_root": lambda: os.setuid(0),
        "read_root": lambda: secret.read_text(),
        "read_bundle": lambda: test_file.read_text(),
        "import_numpy": lambda: __import__("numpy").linalg.norm([3.0, 4.0]),
        "use_own_tmp": lambda: open(os.path.join(os.environ["TMPDIR"], "x"), "w").close(),
    })


def test_a_dropped_worker_has_its_own_address_space_limit(copy_and_uid):
    copy, uid = copy_and_uid

    def allocate_a_lot():
        import numpy as np

        np.ones(8 << 30, dtype=np.uint8)  # 8 GiB, beyond the headroom

    result = _in_dropped_worker(copy, uid, {"huge": allocate_a_lot})
    assert result["huge"].startswith("MemoryError") or "Unable to allocate" in result["huge"]


def test_a_real_worker_reports_its_privileges(tmp_path):
    from autograder.grade.executor import LocalProcessExecutor

    config = {"bundle_dir": str(TINY_BUNDLE), "bundle_hash": bundle_hash(TINY_BUNDLE),
              "limits": None, "workdir_root": None}
    with LocalProcessExecutor(config, workers=1, log_dir=tmp_path) as ex:
        assert ex.ready_event.wait(60)
        assert ex.protections["worker_memory_limit"] is True
        assert ex.protections["worker_unprivileged"] is (os.geteuid() == 0)


def test_removing_leftovers_never_changes_the_parent_s_mode(tmp_path):
    """A failed removal (here: a file that vanished mid-way) once made /tmp mode 0700."""
    from autograder.sandbox.resources import rmtree

    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(0o1777)
    rmtree(str(parent / "already-removed"))  # what a concurrent removal looks like
    assert parent.stat().st_mode & 0o7777 == 0o1777
