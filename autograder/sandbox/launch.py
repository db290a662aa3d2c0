"""Start the fork server's process (``zygote``), importing nothing heavy.

Split from ``forkserver`` so a grading worker can start its fork server's process first, before
it imports numpy and the grader (about 0.4 s of CPU): the zygote's own imports (about 0.7 s)
then run at the same time. ``ForkServer(..., launched=...)`` takes the result and configures,
probes and locks the server in ``start()`` exactly as when it launches it itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from .policy import CHILD_ENV, zygote_path

_ZYGOTE_CODE = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]) + sys.path; "
                "from autograder.sandbox.zygote import main; main(int(sys.argv[2]))")


def launch_zygote() -> tuple[subprocess.Popen, socket.socket]:
    """The zygote's process and our end of its control socket (it says ``ready`` on it)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = dict(CHILD_ENV)
    env["HOME"] = "/"
    if os.environ.get("LD_LIBRARY_PATH"):  # an interpreter that needs it to find libpython
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    try:
        proc = subprocess.Popen(
            # -s: no user site; -P (3.11+): no script/cwd entry on sys.path (cwd is "/"
            # anyway). Not -I/-E: the environment is ours and PYTHONHASHSEED must apply
            [sys.executable, "-s", *(["-P"] if sys.version_info >= (3, 11) else []), "-c",
             _ZYGOTE_CODE, json.dumps(zygote_path()), str(child.fileno())],
            env=env, cwd="/", pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, start_new_session=True)
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return proc, parent
