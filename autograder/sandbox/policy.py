"""What a sandboxed child may see: its environment, the paths it may read, the limits' ceilings.

Computed in the fork server from the interpreter it runs (never taken from a request), so a
grading worker that has been taken over cannot widen what a child may read or do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}

#: Per-spawn limits are the requester's to choose, but never beyond these.
CEILINGS = {"run_wall_s": 3600.0, "run_cpu_s": 3600.0, "call_wall_s": 3600.0,
            "call_cpu_s": 3600.0, "memory_mb": 16384, "nproc": 256, "fsize_mb": 1024,
            "nfiles": 1024, "output_bytes": 64 << 20, "disk_mb": 4096}

#: Protections a requester may ask for (each is switched on only where the probe shows it works).
FEATURES = ("setuid", "cgroup_pids", "cgroup_memory", "netns", "userns", "tmpfs", "stdlib",
            "landlock", "seccomp", "rlimits")


def clamp_limits(requested: dict, defaults: dict) -> dict:
    """``requested`` limits (plain numbers) within :data:`CEILINGS`; missing ones from defaults."""
    out = {}
    for key, ceiling in CEILINGS.items():
        value = requested.get(key, defaults.get(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            value = defaults[key]
        value = min(value, ceiling)
        out[key] = int(value) if isinstance(ceiling, int) else float(value)
    return out


def blocking_ancestor(path: str) -> str | None:
    """The outermost directory on ``path`` that others cannot traverse (None if there is none)."""
    parts = path.split("/")
    for i in range(2, len(parts) + 1):
        d = "/".join(parts[:i])
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return None
    return None


def hidden_paths(wanted: list[str]) -> dict | None:
    """When paths a less privileged process needs sit under a directory others cannot enter
    (pyenv under /root, mode 0700): the directory to cover and the paths to expose again."""
    cover, paths = None, []
    for p in wanted:
        p = os.path.realpath(p)
        d = blocking_ancestor(p) if os.path.isdir(p) else None
        if d is None or d == p or (cover is not None and d != cover):
            continue
        cover = d
        if p not in paths:
            paths.append(p)
    if cover is None or cover in ("/", "/usr", "/tmp", "/proc", "/dev", "/sys"):
        return None
    return {"cover": cover, "paths": paths}


def stdlib_paths() -> list[str]:
    out = []
    for key in ("stdlib", "platstdlib"):
        with contextlib.suppress(KeyError):
            out.append(sysconfig.get_paths()[key])
    return out


#: Third-party packages a child may read when the requester names none: what it preloads.
DEFAULT_PACKAGES = ("numpy", "IPython")


def child_read_paths(packages=DEFAULT_PACKAGES) -> tuple[list[str], list[str]]:
    """What a confined child may still read: ``(read, list_only)``.

    ``read``: the standard library, system dirs, and the directories of the third-party
    ``packages`` the assignment allows (numpy and its ``numpy.libs``, say). ``list_only``: the
    site-packages directories themselves, which a child may list (so the import system finds
    an allowed package) but not read: a package the policy refuses (torch, the grader's own
    autograder.checks) is found and then cannot be opened, whatever the student's code does to
    the import system in its own process."""
    import importlib.util

    paths = set()
    for key in ("stdlib", "platstdlib"):
        with contextlib.suppress(KeyError):
            paths.add(sysconfig.get_paths()[key])
    for p in ("/usr", "/lib", "/lib64", "/etc/localtime", "/etc/ld.so.cache", "/dev/urandom",
              "/dev/zero"):
        paths.add(p)
    site = set()
    for key in ("purelib", "platlib"):
        with contextlib.suppress(KeyError):
            site.add(os.path.realpath(sysconfig.get_paths()[key]))
    for name in dict.fromkeys((*DEFAULT_PACKAGES, *packages)):
        if not (isinstance(name, str) and name.isidentifier()):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        where = list(spec.submodule_search_locations or ()) or [spec.origin]
        for p in where:
            p = os.path.realpath(p)
            parent = os.path.dirname(p)
            if parent not in site:
                continue  # the standard library (read anyway) or somewhere we do not open
            paths.add(p)
            libs = os.path.join(parent, f"{name}.libs")  # the wheel's bundled shared libraries
            if os.path.isdir(libs):
                paths.add(libs)
    # never the package root or one of its parents (it holds solutions/ and the tests)
    out = []
    for p in sorted(paths):
        ap = os.path.abspath(p)
        if not os.path.exists(ap) or ap == PKG_ROOT or PKG_ROOT.startswith(ap.rstrip("/") + "/") \
                or ap.startswith(PKG_ROOT + "/"):
            continue
        out.append(ap)
    listed = sorted(p for p in site if os.path.isdir(p) and p != PKG_ROOT
                    and not PKG_ROOT.startswith(p.rstrip("/") + "/"))
    return out, listed


def zygote_path() -> list[str]:
    """The fork server's import path: the package root, then the grader's path entries that
    belong to the installation (under a prefix, site-/dist-packages, or listed in PYTHONPATH).
    Never the current directory or the script's directory: the fork server runs as root and
    must not import a stray ``json.py`` lying in a directory of submissions."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    configured = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(":") if p}
    out = [PKG_ROOT]
    for p in sys.path:
        if not p:
            continue
        ap = os.path.realpath(p)
        if ap in out or not os.path.isdir(ap):
            continue
        if (ap in configured or os.path.basename(ap) in ("site-packages", "dist-packages")
                or any(ap == q or ap.startswith(q.rstrip("/") + "/") for q in prefixes)):
            out.append(ap)
    return out
