"""Driver for tests/test_sandbox_nonroot.py::test_real_unprivileged_user: run by an ordinary
user (uid 65534). Prints one JSON line with what happened."""

import json
import os
import socket

import numpy as np

from autograder.sandbox import ForkServer, Limits

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
port = listener.getsockname()[1]
me = os.getpid()
cells = [
    f"import os, signal\nos.kill({me}, signal.SIGKILL)",
    "os.kill(os.getppid(), signal.SIGKILL)",
    f"open({os.path.join(REPO, 'solutions', '__init__.py')!r}).read()",
    f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
    "os.fork()",
    "open('/etc/passwd').read()",
    "b = bytearray(10**11)",
    "import numpy as np\ndef f(x):\n    return x * 2",
]
result = {"uid": os.getuid()}
with ForkServer(Limits(memory_mb=512)) as fs:
    result["protections"] = fs.protections
    result["message"] = fs.missing_protections_message()
    with fs.spawn(cells) as sub:
        result["cells"] = [[c.ok, c.error] for c in sub.cells]
        result["call"] = sub.proxy("f")(np.arange(3.0)).tolist()
listener.settimeout(0.1)
try:
    listener.accept()
    result["connected"] = True
except OSError:
    result["connected"] = False
result["grader_alive"] = True
print(json.dumps(result))
