"""Least privilege for a trusted grading worker.

A worker starts with the grader's powers (often root) because its fork server needs them. Right
after starting the fork server, and before it loads a single test, the worker:

1. copies the bundle's manifest, tests and expected values into a private folder that it can
   read but not write (owned by root, group the worker's own), after checking their hash
   against the one the grader computed (``private_bundle``);
2. as root, moves into a mount namespace of its own where the interpreter's files that sit under
   a directory others cannot enter (pyenv under /root, mode 0700) are bind-mounted back
   read-only, and then switches to an unprivileged uid of its own (59000 + n, never a real
   account), with no supplementary groups;
3. limits its own address space (``RLIMIT_AS``: what it uses now plus a headroom), so a
   callback that a submission makes expensive ends in a MemoryError, not in the OOM killer;
4. where Landlock is available, restricts itself to reading files and writing only its own
   temporary directory.

What a fault in the worker (or code a submission managed to run in it) could then do: read the
bundle it already holds, and write its temporary directory. Not site-packages, not the bundle,
not the results store (the grader's main process writes that), not another run's output.
"""

from __future__ import annotations

import os
import resource
import sys
import sysconfig
import tempfile
from pathlib import Path

WORKER_UID_BASE = 59000
WORKER_UID_COUNT = 1000
DEFAULT_HEADROOM_MB = 4096


class PrivilegeError(Exception):
    """The worker could not give up its privileges as required (it then refuses to grade)."""


def private_bundle(bundle_dir: str | Path, expected_hash: str | None, gid: int | None) -> Path:
    """A private, read-only copy of what a grade depends on, verified by its hash."""
    from autograder.grade.bundle import bundle_hash

    src = Path(bundle_dir)
    remove_stale_private_dirs()
    dest = Path(tempfile.mkdtemp(prefix=f"autograder-bundle-{os.getpid()}-"))
    for rel in _bundle_files(src):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((src / rel).read_bytes())
    found = bundle_hash(dest)
    if expected_hash and found != expected_hash:
        raise PrivilegeError(f"the bundle in {src} changed since grading started (hash "
                             f"{found[:12]}, expected {expected_hash[:12]}): rebuild and run again")
    for path in sorted(dest.rglob("*"), reverse=True):
        os.chmod(path, 0o750 if path.is_dir() else 0o440)
    os.chmod(dest, 0o750)
    if gid is not None:
        for path in [dest, *dest.rglob("*")]:
            os.chown(path, 0, gid)
    return dest


def remove_stale_private_dirs() -> None:
    """Remove the private bundle copies and temporary folders of workers that have exited (a
    worker cannot remove its own: it gave up the right to)."""
    from autograder.sandbox.resources import remove_dirs_of_dead

    remove_dirs_of_dead(tempfile.gettempdir(), ("autograder-bundle", "autograder-worker"))


def _bundle_files(src: Path) -> list[Path]:
    out = [Path("manifest.json")]
    for sub in ("tests", "expected"):
        if (src / sub).is_dir():
            out.extend(p.relative_to(src) for p in sorted((src / sub).rglob("*"))
                       if p.is_file() and "__pycache__" not in p.parts)
    return out


def worker_uid() -> tuple[int | None, int | None]:
    """An unused uid for this worker, held by a lock file for the worker's life (as root); or
    (None, None) when the worker is not root and so has no uid to give up."""
    from autograder.sandbox.resources import UidSlots

    if os.geteuid() != 0:
        return None, None
    slots = UidSlots(base=WORKER_UID_BASE, count=WORKER_UID_COUNT, name="workers")
    return slots.acquire()


def _needed_paths(extra: list[str]) -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(sysconfig.get_paths()[key])
        except KeyError:
            pass
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    paths.update(extra)
    return sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))


def _expose_hidden(paths: list[str]) -> list[dict]:
    """Bind the needed paths that sit under untraversable directories back, read-only."""
    from autograder.sandbox import _linux
    from autograder.sandbox.policy import blocking_ancestor

    groups: dict[str, list[str]] = {}
    for p in paths:
        cover = blocking_ancestor(p)
        if cover is None or cover == p:
            continue
        kept = groups.setdefault(cover, [])
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in kept):
            kept[:] = [q for q in kept if not q.startswith(p.rstrip("/") + "/")] + [p]
    done = []
    for cover, kept in sorted(groups.items()):
        if cover in ("/", "/usr", "/proc", "/dev", "/sys"):
            continue
        _linux.expose_readonly(cover, kept)
        done.append({"cover": cover, "paths": kept})
    return done


def drop(uid: int | None, *, headroom_mb: int = DEFAULT_HEADROOM_MB,
         readable: list[str] = (), landlock: bool = True) -> dict:
    """Give up this process's privileges for good (``uid`` from :func:`worker_uid`); returns
    what was done, as plain data for the worker's ready frame."""
    from autograder.sandbox import _linux

    done: dict = {"uid": os.geteuid()}
    private_tmp = tempfile.mkdtemp(prefix=f"autograder-worker-{os.getpid()}-")
    if uid is not None:
        os.chown(private_tmp, uid, uid)
        _linux.unshare(_linux.CLONE_NEWNS)
        _linux.mount("none", "/", None, _linux.MS_REC | _linux.MS_PRIVATE, None)
        done["exposed"] = _expose_hidden(_needed_paths(list(readable)))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid or os.getegid() != uid:
            raise PrivilegeError("the worker's uid did not change")
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise PrivilegeError("the worker could become root again")
        done["uid"] = uid
    os.environ["TMPDIR"] = private_tmp
    tempfile.tempdir = private_tmp
    address = _vm_size_bytes() + int(headroom_mb) * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (address, address))
    done["address_space_mb"] = address >> 20
    done["landlock"] = False
    if landlock and _linux.landlock_abi() >= 1:
        _linux.install_landlock(["/"], [private_tmp, os.devnull])
        done["landlock"] = True
    done["tmp"] = private_tmp
    return done


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise PrivilegeError("cannot read this process's address-space size")
