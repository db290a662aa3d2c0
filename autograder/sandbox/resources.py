"""Privileged resources of a sandbox: slot uids, cgroups and working directories.

Runs in the fork server (``zygote``), the only process of a grading worker that keeps root's
powers: the trusted worker drops to an unprivileged user of its own after starting it, so it can
neither create cgroups nor chown directories, and must not be able to. The worker asks for a
sandbox; the fork server decides which uid, cgroups and directory it gets, and removes them
again on clean-up. Nothing here is chosen by the requester.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import pwd
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field

SLOT_UID_BASE = 60000
SLOT_COUNT = 1000
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_NAME = "autograder_sandbox"
MEMORY_CGROUP_SLACK_MB = 128


class ResourceError(Exception):
    """A sandbox's resources could not be allocated."""


class UidSlots:
    """Cross-process allocation of unused uids (``base`` + n) with lock files; the kernel drops a
    lock when its holder dies, so a killed grader leaks nothing."""

    def __init__(self, base: int = SLOT_UID_BASE, count: int = SLOT_COUNT, name: str = "slots"):
        self.base, self.count = base, count
        self._accounts: dict[int, bool] = {}
        self.dir = os.path.join(tempfile.gettempdir(), f"autograder-sandbox-{name}-{os.geteuid()}")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        st = os.lstat(self.dir)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or not os.path.isdir(self.dir) \
                or os.path.islink(self.dir):
            raise ResourceError(f"{self.dir} must be a directory owned by uid {os.geteuid()} "
                                "with mode 0700 (someone else created it?)")

    def _is_account(self, uid: int) -> bool:
        # asked once per uid for this fork server's life: the passwd lookup (NSS, a read and
        # parse of /etc/passwd) was most of the cost of a spawn's allocation
        known = self._accounts.get(uid)
        if known is None:
            try:
                pwd.getpwuid(uid)
                known = True
            except KeyError:
                known = False
            self._accounts[uid] = known
        return known

    def acquire(self) -> tuple[int, int]:
        for n in range(self.count):
            uid = self.base + n
            if self._is_account(uid):
                continue  # a real account: never use it
            fd = os.open(os.path.join(self.dir, f"{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return uid, fd
        raise ResourceError("no free sandbox slot uid")

    @staticmethod
    def release(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass
class Allocation:
    """What one sandbox was given (returned to the requester as plain data)."""

    uid: int | None
    gid: int | None
    workdir: str
    cgroups: list[str] = field(default_factory=list)
    slot_fd: int | None = None

    def public(self) -> dict:
        return {"uid": self.uid, "gid": self.gid, "workdir": self.workdir,
                "cgroups": list(self.cgroups)}


class Allocator:
    """Allocates and frees the resources of sandboxes for one fork server."""

    def __init__(self, workdir_root: str, privileged: bool):
        self.workdir_root = workdir_root
        self.privileged = privileged
        self.slots = UidSlots() if privileged else None
        self._cg_bases: dict[str, str] = {}
        self._counter = itertools.count()
        remove_stale_workdirs(workdir_root)

    def cgroup_base(self, controller: str) -> str | None:
        """The parent cgroup of this controller, created and probed once (None if unusable)."""
        if controller in self._cg_bases:
            return self._cg_bases[controller]
        if not self.privileged:
            return None
        base = os.path.join(CGROUP_ROOT, controller, CGROUP_NAME)
        try:
            os.makedirs(base, exist_ok=True)
            remove_stale_cgroups(base)
            probe = os.path.join(base, f"probe_{os.getpid()}_{next(self._counter)}")
            os.mkdir(probe)
            os.rmdir(probe)
        except OSError:
            return None
        self._cg_bases[controller] = base
        return base

    def allocate(self, features: dict, limits: dict) -> Allocation:
        alloc = Allocation(uid=None, gid=None, workdir="")
        try:
            if features.get("setuid"):
                alloc.uid, alloc.slot_fd = self.slots.acquire()
                alloc.gid = alloc.uid
            alloc.workdir = tempfile.mkdtemp(prefix=f"sbx-{os.getpid()}-", dir=self.workdir_root)
            if alloc.uid is not None:
                os.chown(alloc.workdir, alloc.uid, alloc.gid)
            os.chmod(alloc.workdir, 0o700)
            tag = f"{alloc.uid or 'u'}_{os.getpid()}_{next(self._counter)}"
            for controller in ("pids", "memory"):
                base = self._cg_bases.get(controller)
                if not features.get(f"cgroup_{controller}") or base is None:
                    continue
                cg = os.path.join(base, tag)
                os.mkdir(cg)
                alloc.cgroups.append(cg)
                if controller == "pids":
                    _write(os.path.join(cg, "pids.max"), str(int(limits["nproc"])))
                else:
                    # tmpfs pages (the working directory) are charged here too
                    mem = (int(limits["memory_mb"]) + int(limits["disk_mb"])
                           + MEMORY_CGROUP_SLACK_MB) << 20
                    _write(os.path.join(cg, "memory.limit_in_bytes"), str(mem))
        except BaseException:
            self.free(alloc)
            raise
        return alloc

    @staticmethod
    def oom_killed(alloc: Allocation) -> bool:
        for cg in alloc.cgroups:
            if "/memory/" in cg:
                try:
                    for line in read_text(os.path.join(cg, "memory.oom_control")).splitlines():
                        if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                            return True
                except (OSError, ValueError, IndexError):
                    pass
        return False

    @staticmethod
    def free(alloc: Allocation) -> None:
        """Remove the cgroups (already emptied) and the directory, release the uid."""
        for cg in alloc.cgroups:
            for _ in range(200):
                try:
                    os.rmdir(cg)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        alloc.cgroups = []
        if alloc.workdir:
            try:  # usually empty here (the files were on the child's private tmpfs)
                os.rmdir(alloc.workdir)
            except FileNotFoundError:
                pass
            except OSError:
                rmtree(alloc.workdir)
        if alloc.slot_fd is not None:
            UidSlots.release(alloc.slot_fd)
            alloc.slot_fd = None


# ----------------------------------------------------------------------------- stale leftovers


def remove_stale_cgroups(base: str) -> None:
    """Empty and remove the cgroups left behind by fork servers that died (``<uid>_<pid>_<n>``)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name.split("_")
        path = os.path.join(base, name)
        if len(parts) != 3 or not os.path.isdir(path) or not pid_is_dead(parts[1]):
            continue
        for _ in range(50):
            try:
                pids = [int(p) for p in read_text(os.path.join(path, "cgroup.procs")).split()]
            except (OSError, ValueError):
                break
            for p in pids:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.01)


def pid_is_dead(text: str) -> bool:
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_workdirs(root: str) -> None:
    """Remove ``sbx-<pid>-*`` working directories of fork servers that died without closing."""
    remove_dirs_of_dead(root, ("sbx",))


def remove_dirs_of_dead(root: str, prefixes: tuple[str, ...]) -> None:
    """Remove ``<prefix>-<pid>-<random>`` directories (``tempfile.mkdtemp`` names, whose random
    part has no '-') in ``root`` whose process ``pid`` has exited."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        head, _, rest = name.rpartition("-")
        prefix, _, pid = head.rpartition("-")
        if rest and prefix in prefixes and pid_is_dead(pid):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                rmtree(path)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read_text(path: str, limit: int = 1 << 20) -> str:
    """A small kernel file (cgroup, /proc) read with os calls: the fork server reads several
    per sandbox, and open()'s io objects wrote to pages it shares with its sandboxes (each a
    page copy while they live)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts, size = [], 0
        while size < limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(parts).decode("ascii", "replace")


def rmtree(path: str) -> None:
    """Remove ``path`` even where its owner took away the permissions. Only ever changes modes
    inside ``path`` itself (never its parent, which may be /tmp)."""
    top = os.path.abspath(path)

    def onerror(func, p, exc):
        parent = os.path.dirname(os.path.abspath(p))
        with contextlib.suppress(OSError):
            if parent == top or parent.startswith(top + "/"):
                os.chmod(parent, 0o700)
            os.chmod(p, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onerror)
    else:
        shutil.rmtree(path, onerror=onerror)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
