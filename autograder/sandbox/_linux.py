"""Linux primitives through ctypes: unshare, prctl, a seccomp deny-list filter, Landlock.

No extra packages: the seccomp filter is a hand-written classic-BPF program (x86_64 only;
elsewhere ``seccomp_supported()`` is False) and Landlock is three raw syscalls.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_THREAD = 0x00010000

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

X86_64 = platform.machine() in ("x86_64", "AMD64")


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def unshare(flags: int) -> None:
    if hasattr(os, "unshare"):  # Python >= 3.12
        os.unshare(flags)
        return
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


MS_NOSUID = 2
MS_NODEV = 4
MS_REC = 16384
MS_PRIVATE = 1 << 18
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.mount.restype = ctypes.c_int


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount({target})")


def private_tmpfs(path: str, size_mb: int, uid: int | None, gid: int | None) -> None:
    """A private mount namespace with a size-limited tmpfs on ``path`` (the working directory):
    a disk quota that disappears with the last process of the sandbox."""
    unshare(CLONE_NEWNS)
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    opts = f"size={int(size_mb)}m,mode=0700,nr_inodes=4096"
    if uid is not None:
        opts += f",uid={uid},gid={gid}"
    mount("sandbox", path, "tmpfs", MS_NOSUID | MS_NODEV, opts)


MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096


def expose_readonly(cover: str, paths: list[str]) -> None:
    """Hide ``cover`` (e.g. /root, mode 0700) behind an empty tmpfs and bind-mount ``paths``
    (directories beneath it, e.g. the interpreter's standard library) back, read-only.

    Needs a private mount namespace (see :func:`private_tmpfs`) and the right to mount. After a
    switch to an unprivileged uid the standard library stays importable, and nothing else of
    ``cover`` is visible.
    """
    fds = []
    try:
        for p in paths:
            fds.append((p, os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)))
        mount("sandbox", cover, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds:
            os.makedirs(p, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC, None)
            mount("none", p, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        mount("none", cover, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")
    finally:
        for _, fd in fds:
            os.close(fd)


def enter_user_and_net_namespace() -> None:
    """Unprivileged network isolation: a new user namespace mapping only our own ids."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


# ----------------------------------------------------------------------------- seccomp

_SYS = {  # x86_64 syscall numbers
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
    "rt_sigqueueinfo": 129, "personality": 135, "pivot_root": 155, "chroot": 161,
    "mount": 165, "umount2": 166, "init_module": 175, "delete_module": 176, "tkill": 200,
    "tgkill": 234, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "unshare": 272, "accept4": 288, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "pidfd_open": 434, "clone3": 435, "clone": 56,
    "process_madvise": 440, "pidfd_getfd": 438,
    "inotify_init": 253, "inotify_init1": 294, "fanotify_init": 300,
}
DENIED = [
    "socket", "connect", "accept", "bind", "listen", "socketpair", "accept4", "fork", "vfork",
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "personality",
    "pivot_root", "chroot", "mount", "umount2", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "add_key", "request_key", "keyctl", "unshare", "setns",
    "perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "tkill",
    "process_madvise",
    # file watches: a sandbox watching a file its neighbour reads is a channel between two
    # submissions graded at the same time
    "inotify_init", "inotify_init1", "fanotify_init",
]
# signals only to ourselves (first argument == our pid, 0 or -pid for kill)
SELF_SIGNAL = ["kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"]

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000


def seccomp_supported() -> bool:
    return X86_64


def _seccomp_program(my_pid: int) -> list[tuple[int, int, int, int]]:
    deny = _RET_ERRNO | errno.EPERM
    enosys = _RET_ERRNO | errno.ENOSYS
    prog: list[tuple[int, int, int, int]] = []
    # the tail: [..., ALLOW, DENY, ENOSYS]; jumps are patched below
    body: list = []
    body.append(("ld", 4))                       # arch
    body.append(("jne_kill", _AUDIT_ARCH_X86_64))
    body.append(("ld", 0))                       # nr
    body.append(("jge", 0x40000000, "deny"))     # x32 ABI
    for name in DENIED:
        body.append(("jeq", _SYS[name], "deny"))
    body.append(("jeq", _SYS["clone3"], "enosys"))
    body.append(("jeq", _SYS["clone"], "clone"))
    for name in SELF_SIGNAL:
        body.append(("jeq", _SYS[name], "sig"))
    body.append(("ret", _RET_ALLOW))
    body.append(("label", "clone"))
    body.append(("ld", 16))                      # args[0] low word: flags
    body.append(("jset", CLONE_THREAD, "allow"))
    body.append(("ret", deny))
    body.append(("label", "sig"))
    body.append(("ld", 16))                      # args[0] low word: pid / tgid
    body.append(("jeq", my_pid & 0xFFFFFFFF, "allow"))
    body.append(("jeq", 0, "allow_nr_kill"))
    body.append(("jeq", (-my_pid) & 0xFFFFFFFF, "allow_nr_kill"))
    body.append(("ret", deny))
    body.append(("label", "allow_nr_kill"))       # pid 0 / -pid only make sense for kill()
    body.append(("ld", 0))
    body.append(("jeq", _SYS["kill"], "allow"))
    body.append(("ret", deny))
    body.append(("label", "allow"))
    body.append(("ret", _RET_ALLOW))
    body.append(("label", "deny"))
    body.append(("ret", deny))
    body.append(("label", "enosys"))
    body.append(("ret", enosys))
    body.append(("label", "kill"))
    body.append(("ret", _RET_KILL_PROCESS))
    # resolve labels
    labels = {}
    idx = 0
    for ins in body:
        if ins[0] == "label":
            labels[ins[1]] = idx
        else:
            idx += 1
    pc = 0
    for ins in body:
        op = ins[0]
        if op == "label":
            continue
        if op == "ld":
            prog.append((_LD_W_ABS, 0, 0, ins[1]))
        elif op == "ret":
            prog.append((_RET_K, 0, 0, ins[1]))
        elif op == "jne_kill":
            prog.append((_JEQ_K, 0, labels["kill"] - pc - 1, ins[1]))
        else:
            code = {"jeq": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K}[op]
            off = labels[ins[2]] - pc - 1
            if off > 255:
                raise RuntimeError("seccomp program too long for a short jump")
            prog.append((code, off, 0, ins[1]))
        pc += 1
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _SeccompTemplate:
    """The filter as bytes with the two constants that name the process left as slots: built
    once (in the fork server, before it forks), so a sandbox only writes its pid into it and
    installs it. Building the program in each sandbox ran code whose first use there cost page
    copies (about 0.25 ms per sandbox)."""

    def __init__(self) -> None:
        one, two = _seccomp_program(1), _seccomp_program(2)
        # the instructions naming the pid are those whose constant differs between two pids
        self.slots = [(8 * i + 4, b[3] == 0xFFFFFFFE) for i, (a, b) in enumerate(zip(one, two))
                      if a != b]
        if len(self.slots) != 2 or any(a[:3] != b[:3] for a, b in zip(one, two)):
            raise RuntimeError("unexpected seccomp program layout")
        self.raw = b"".join(struct.pack("<HBBI", *ins) for ins in one)
        self.count = len(one)

    def program(self, pid: int) -> bytes:
        raw = bytearray(self.raw)
        for offset, negated in self.slots:
            struct.pack_into("<I", raw, offset, (-pid if negated else pid) & 0xFFFFFFFF)
        return bytes(raw)


_SECCOMP: _SeccompTemplate | None = None


def prepare_seccomp() -> None:
    """Build the filter template now (the fork server calls this; children inherit it)."""
    global _SECCOMP
    if X86_64 and _SECCOMP is None:
        _SECCOMP = _SeccompTemplate()


def install_seccomp() -> None:
    """Deny networking, exec, fork (threads allowed), ptrace, namespaces, signals to others."""
    if not X86_64:
        raise OSError(errno.ENOSYS, "seccomp filter is only written for x86_64")
    prepare_seccomp()
    raw = _SECCOMP.program(os.getpid())
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(_SECCOMP.count, ctypes.cast(buf, ctypes.c_void_p))
    set_no_new_privs()
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
           "seccomp")


# ----------------------------------------------------------------------------- Landlock

_SYS_LL_CREATE, _SYS_LL_ADD, _SYS_LL_RESTRICT = 444, 445, 446
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_ALL_V1 = (1 << 13) - 1
_FS_REFER = 1 << 13
_FS_TRUNCATE = 1 << 14
_FS_IOCTL_DEV = 1 << 15
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX = 1 << 0
_SCOPE_SIGNAL = 1 << 1


_LANDLOCK_ABI: int | None = None  # the kernel's; it cannot change while we run


def landlock_abi() -> int:
    global _LANDLOCK_ABI
    if _LANDLOCK_ABI is None:
        if not X86_64:  # syscall numbers are the same on aarch64, but keep it simple
            return 0
        ret = _libc.syscall(ctypes.c_long(_SYS_LL_CREATE), None, ctypes.c_size_t(0),
                            ctypes.c_uint32(1))
        _LANDLOCK_ABI = int(ret) if ret > 0 else 0
    return _LANDLOCK_ABI


def _fs_mask(abi: int) -> int:
    mask = _FS_ALL_V1
    if abi >= 2:
        mask |= _FS_REFER
    if abi >= 3:
        mask |= _FS_TRUNCATE
    if abi >= 5:
        mask |= _FS_IOCTL_DEV
    return mask


class _LandlockPlan:
    """What a ruleset is made of, worked out once per (ABI, paths): the ruleset attribute and,
    per path, the access it is granted (directories and files differ). The fork server prepares
    the plan of its sandboxes' fixed paths before it forks (``prepare_landlock``), so a sandbox
    only makes the system calls."""

    def __init__(self, abi: int, read_paths, list_paths) -> None:
        fs_all = _fs_mask(abi)
        net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
        scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
        if abi >= 6:
            self.attr = struct.pack("<QQQ", fs_all, net, scoped)
        elif abi >= 4:
            self.attr = struct.pack("<QQ", fs_all, net)
        else:
            self.attr = struct.pack("<Q", fs_all)
        self.restricts = {"fs": True, "net": bool(net), "signal": bool(scoped)}
        file_read = _FS_EXECUTE | _FS_READ_FILE
        self.write_access = (fs_all, _FS_WRITE_FILE | _FS_READ_FILE |
                             (_FS_TRUNCATE if abi >= 3 else 0))  # (directory, file)
        self.fixed = [r for r in (
            *(self.rule(p, file_read | _FS_READ_DIR, file_read) for p in read_paths),
            *(self.rule(p, _FS_READ_DIR, 0) for p in list_paths)) if r is not None]

    @staticmethod
    def rule(path: str, dir_access: int, file_access: int) -> tuple[str, int] | None:
        """(path, access) for a rule on ``path``; None when there is nothing to grant."""
        access = dir_access if os.path.isdir(path) else file_access
        return (path, access) if access else None  # a list-only rule for a file: nothing


_LANDLOCK_PLANS: dict = {}


def _landlock_plan(abi: int, read_paths, list_paths) -> _LandlockPlan:
    key = (abi, tuple(read_paths), tuple(list_paths))
    plan = _LANDLOCK_PLANS.get(key)
    if plan is None:
        plan = _LANDLOCK_PLANS[key] = _LandlockPlan(abi, read_paths, list_paths)
    return plan


def prepare_landlock(read_paths, list_paths=()) -> None:
    """Work out the plan of these paths now (the fork server calls this; children inherit it).
    A path that is a directory now is granted directory rights in every sandbox: if it were
    replaced by a file, adding its rule fails and the sandbox is not started (fail closed)."""
    abi = landlock_abi()
    if abi >= 1:
        _landlock_plan(abi, list(read_paths), list(list_paths))


def install_landlock(read_paths, write_paths, abi: int | None = None, list_paths=()) -> dict:
    """Restrict the file system to ``read_paths`` (read/execute), ``list_paths`` (directory
    listing only: their files stay unreadable unless under a read path) and ``write_paths`` (all),
    deny TCP bind/connect (ABI >= 4) and scope signals/abstract sockets (ABI >= 6).

    Returns what was restricted: ``{"fs": True, "net": bool, "signal": bool}``.
    """
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock not available")
    plan = _landlock_plan(abi, read_paths, list_paths)
    dir_write, file_write = plan.write_access
    rules = plan.fixed + [r for r in (plan.rule(p, dir_write, file_write) for p in write_paths)
                          if r is not None]
    abuf = ctypes.create_string_buffer(plan.attr, len(plan.attr))
    rfd = _check(_libc.syscall(ctypes.c_long(_SYS_LL_CREATE), abuf,
                               ctypes.c_size_t(len(plan.attr)), ctypes.c_uint32(0)),
                 "landlock_create_ruleset")
    try:
        for path, access in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = struct.pack("<Qi", access, pfd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                _check(_libc.syscall(ctypes.c_long(_SYS_LL_ADD), ctypes.c_int(rfd),
                                     ctypes.c_int(1), rbuf, ctypes.c_uint32(0)),
                       f"landlock_add_rule({path})")
            finally:
                os.close(pfd)
        set_no_new_privs()
        _check(_libc.syscall(ctypes.c_long(_SYS_LL_RESTRICT), ctypes.c_int(rfd),
                             ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(rfd)
    return dict(plan.restricts)
