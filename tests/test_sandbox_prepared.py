"""What the fork server prepares once for all its sandboxes, attacked from a submission.

The fork server builds the seccomp filter, the Landlock plan and a copy of the builtins module
once, and starts with the sandboxes' environment; every sandbox inherits them by fork. A student
who read zygote.py and _linux.py tampers with each from one submission; the next submission of
the same fork server must get them intact, and be confined exactly as before.
"""

from __future__ import annotations

import os

import pytest

from autograder.sandbox import ForkServer, Limits
from autograder.sandbox.policy import CHILD_ENV

LIMITS = Limits(run_wall_s=4, run_cpu_s=2, call_wall_s=2, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)

TAMPER = """
import sys, builtins, os
L = sys.modules["autograder.sandbox._linux"]
C = sys.modules["autograder.sandbox.child"]
# the filter: every instruction made an allow
if L._SECCOMP is not None:
    L._SECCOMP.raw = bytes(len(L._SECCOMP.raw))
    L._SECCOMP.slots = []
# the Landlock plans: everything readable and writable
for plan in L._LANDLOCK_PLANS.values():
    plan.fixed = [("/", (1 << 16) - 1)]
    plan.write_access = ((1 << 16) - 1, (1 << 16) - 1)
# the builtins every sandbox takes, and this one's
C._BUILTINS_COPY[:] = [type(builtins)("builtins")]
builtins.len = lambda x: 42
builtins.__dict__["sorted"] = None
os.environ["PLANTED"] = "yes"
os.putenv("PLANTED_TOO", "yes")
os.environ["PATH"] = "/tmp/evil"
"""


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs


def _global(sub, name):
    kind, value = sub.read_global(name)
    assert kind == "value", (name, kind, value)
    return value


def test_next_submission_has_pristine_builtins_and_environment(server):
    with server.spawn([TAMPER]) as first:
        assert all(c.ok for c in first.cells), first.cells
    cells = ["LEN = len([1, 2, 3])\nSORTED = sorted([2, 1])\n"
             "import os\nENV = sorted(os.environ.items())\n"
             "RAW_ENV = open('/proc/self/environ', 'rb').read() "
             "if os.access('/proc/self/environ', os.R_OK) else b''"]
    with server.spawn(cells) as second:
        assert all(c.ok for c in second.cells), second.cells
        assert _global(second, "LEN") == 3
        assert list(_global(second, "SORTED")) == [1, 2]
        env = {k: v for k, v in _global(second, "ENV")}
        assert "PLANTED" not in env and "PLANTED_TOO" not in env
        assert env["PATH"] == CHILD_ENV["PATH"]
        expected = dict(CHILD_ENV, HOME=second.workdir, TMPDIR=second.workdir)
        assert env == expected


@pytest.mark.parametrize("attempt, refused", [
    ("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)", "fork"),
    ("import socket\ns = socket.socket()", "socket"),
    ("open('/etc/hostname').read()", "read outside"),
    ("open('/var/tmp/planted-by-student', 'w').write('x')", "write outside"),
])
def test_next_submission_is_confined_as_before(server, attempt, refused):
    layer = "seccomp" if refused in ("fork", "socket") else "landlock"
    if not server.protections[layer]:
        pytest.skip(f"no {layer} on this machine")
    with server.spawn([TAMPER]) as first:
        assert all(c.ok for c in first.cells), first.cells
    with server.spawn([attempt]) as second:
        assert not second.cells[0].ok, (refused, second.cells)
    assert not os.path.exists("/var/tmp/planted-by-student")


def test_a_submission_cannot_loosen_its_own_filter_after_the_fact(server):
    """The tampering above runs after confinement: the submission doing it stays confined."""
    cells = [TAMPER, "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)"]
    if not server.protections["seccomp"]:
        pytest.skip("no seccomp on this machine")
    with server.spawn(cells) as sub:
        assert [c.index for c in sub.cells if not c.ok] == [1]
