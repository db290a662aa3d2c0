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


def child_read_paths() -> list[str]:
    """What a confined child may still read: the interpreter's libraries and system dirs."""
    paths = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(sysconfig.get_paths()[key])
    for p in ("/usr", "/lib", "/lib64", "/etc/localtime", "/etc/ld.so.cache", "/dev/urandom",
              "/dev/zero"):
        paths.add(p)
    for mod in ("numpy", "IPython"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__file__", None):
            paths.add(os.path.dirname(os.path.dirname(m.__file__)))
    # never the package root or one of its parents (it holds solutions/ and the tests)
    out = []
    for p in sorted(paths):
        ap = os.path.abspath(p)
        if not os.path.exists(ap) or ap == PKG_ROOT or PKG_ROOT.startswith(ap.rstrip("/") + "/"):
            continue
        out.append(ap)
    return out


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
