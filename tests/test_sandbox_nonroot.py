"""The unprivileged path of the sandbox.

The interpreter lives under /root (mode 0700), so an ordinary user cannot run this test-suite's
Python here. The non-root path is therefore *simulated* with ``ForkServer(privileged=False)``,
which skips every step that needs root (slot uids, cgroups, ``unshare(CLONE_NEWNET)`` without a
user namespace) and uses what an ordinary user has: rlimits, a user+network namespace, Landlock
and seccomp. ``protections`` / ``missing_protections_message()`` must say what is missing.

``test_real_unprivileged_user`` runs the real thing as uid 65534 when given an interpreter that
user can read: set ``SANDBOX_NONROOT_PYTHON`` to a copy of the interpreter's prefix, e.g.::

    mkdir -p /tmp/nonroot-py/bin /tmp/nonroot-py/lib
    cp -a "$(python -c 'import sys; print(sys.base_prefix)')"/bin/python3.11 /tmp/nonroot-py/bin/
    (cd "$(python -c 'import sys; print(sys.base_prefix)')"/lib && tar cf - --exclude=site-packages \
        --exclude=test python3.11 libpython3.11.so*) | (cd /tmp/nonroot-py/lib && tar xf -)
    SANDBOX_NONROOT_PYTHON=/tmp/nonroot-py .venv/bin/pytest tests/test_sandbox_nonroot.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from autograder.sandbox import ForkServer, Limits, SandboxDied

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMITS = Limits(run_wall_s=4, run_cpu_s=2, call_wall_s=3, call_cpu_s=2, memory_mb=512)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS, privileged=False) as fs:
        yield fs


def test_protections_are_reported(server):
    p = server.protections
    assert p["setuid"] is False and p["cgroup_pids"] is False and p["rlimit_nproc"] is False
    assert p["rlimits"] is True
    msg = server.missing_protections_message()
    assert msg is not None and "setuid" in msg and "cgroup_pids" in msg
    assert "not running as root" in msg
    # user namespaces, Landlock and seccomp work without root on this kernel
    assert p["netns"] and p["landlock"] and p["seccomp"]
    assert p["signal_isolation"] and p["kill_all"] and p["file_isolation"]


def test_runs_and_calls_without_privileges(server):
    with server.spawn(["import numpy as np\ndef f(x):\n    return x.sum()"]) as sub:
        assert sub.uid is None and sub.cgroups == []
        assert sub.proxy("f")(np.arange(4.0)) == 6.0


def test_unprivileged_confinement_holds(server):
    me = os.getpid()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    cells = [
        f"import os, signal\nos.kill({me}, signal.SIGKILL)",
        "os.kill(os.getppid(), signal.SIGKILL)",
        f"open({os.path.join(REPO, 'solutions', '__init__.py')!r}).read()",
        f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
        "os.fork()",
        "def alive():\n    return 1",
    ]
    try:
        with server.spawn(cells) as sub:
            assert [c.ok for c in sub.cells] == [False, False, False, False, False, True]
            assert all("PermissionError" in c.error or "OSError" in c.error
                       for c in sub.cells[:5]), sub.cells
            assert sub.proxy("alive")() == 1
    finally:
        listener.close()
    os.kill(server.zygote_pid, 0)


def test_everything_off_is_reported_and_still_runs():
    with ForkServer(LIMITS, privileged=False, seccomp=False, landlock=False, netns=False) as fs:
        p = fs.protections
        assert not p["seccomp"] and not p["landlock"] and not p["netns"]
        assert not p["kill_all"] and not p["file_isolation"] and not p["signal_isolation"]
        msg = fs.missing_protections_message()
        for key in ("seccomp", "landlock", "netns", "kill_all"):
            assert key in msg
        with fs.spawn(["import os\ndef f():\n    os._exit(1)"]) as sub:
            with pytest.raises(SandboxDied):
                sub.proxy("f")()


def test_real_unprivileged_user():
    prefix = os.environ.get("SANDBOX_NONROOT_PYTHON")
    if os.geteuid() != 0 or not prefix or shutil.which("setpriv") is None:
        pytest.skip("needs root, setpriv and SANDBOX_NONROOT_PYTHON (see the module docstring)")
    exe = os.path.join(prefix, "bin", os.path.basename(os.path.realpath(sys.executable)))
    driver = os.path.join(REPO, "tests", "sandbox_payloads", "nonroot_driver.py")
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": os.path.join(prefix, "lib"),
           "PYTHONPATH": f"{sysconfig.get_paths()['purelib']}:{REPO}"}
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe,
                           driver], env=env, cwd="/tmp", capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["uid"] == 65534 and result["grader_alive"] and not result["connected"]
    assert result["call"] == [0.0, 2.0, 4.0]
    p = result["protections"]
    assert not p["setuid"] and not p["cgroup_pids"]
    assert p["netns"] and p["seccomp"] and p["landlock"] and p["signal_isolation"]
    assert "setuid" in result["message"]
    oks = [ok for ok, _ in result["cells"]]
    assert oks == [False] * 7 + [True], result["cells"]
