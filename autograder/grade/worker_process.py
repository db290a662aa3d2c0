"""The grading worker process: ``python -m autograder.grade.worker_process TASK_FD RESULT_FD``.

Started by ``executor.LocalProcessExecutor``. It reads a config frame, sets itself up in the
order least privilege needs (``start_least_privileged``), says ``ready``, then grades one task
frame after another with ``worker.Grader`` and answers each with a result frame.
"""

from __future__ import annotations

import os
import sys
import traceback

from autograder.grade.worker import Grader

# -- the worker process -----------------------------------------------------------------------


def start_least_privileged(config: dict) -> Grader:
    """The worker's grader, set up in the order least privilege needs (see ``privileges``):
    verified private copy of the bundle and the fork server while still privileged, then the
    drop, and only then the tests are loaded."""
    from autograder.grade import privileges
    from autograder.sandbox import ForkServer, Limits

    limits = config.get("limits")
    limits = Limits(**limits) if isinstance(limits, dict) else Limits()
    uid, _lock_fd = privileges.worker_uid()  # the lock fd stays open: the uid is ours
    bundle_copy = privileges.private_bundle(config["bundle_dir"], config.get("bundle_hash"), uid)
    workdir_root = config.get("workdir_root")
    if workdir_root:
        os.makedirs(workdir_root, exist_ok=True)
    from autograder.grade.bundle import read_manifest
    from autograder.grade.import_check import bundle_policy
    from autograder.grade.worker import server_policy

    policy = bundle_policy(read_manifest(bundle_copy))  # the verified copy's manifest
    server = ForkServer(limits, workdir_root=workdir_root, **server_policy(policy)).start()
    try:
        done = privileges.drop(uid, readable=[str(bundle_copy)],
                               headroom_mb=int(config.get("worker_memory_mb") or
                                               max(privileges.DEFAULT_HEADROOM_MB, 2 * limits.memory_mb)))
    except Exception:
        server.close()
        raise
    grader = Grader(bundle_copy, limits, workdir_root=workdir_root, server=server, restartable=False)
    grader.protections.update({
        "worker_unprivileged": done["uid"] != 0,
        "worker_landlock": bool(done.get("landlock")),
        "worker_memory_limit": bool(done.get("address_space_mb")),
    })
    return grader



def _set_pdeathsig() -> None:
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    parent = os.environ.get("AUTOGRADER_WORKER_PARENT")
    if parent and os.getppid() != int(parent):
        os._exit(3)  # the grader died before we set the signal


def pin_to_cpu(index: int) -> int | None:
    """Pin this process (and the fork server and sandboxes it starts) to one CPU.

    A worker and its sandbox take turns (the worker waits while the student's code runs), so they
    lose nothing by sharing a core, and every proxy round trip then avoids waking a process on
    another CPU: measured on the 2-core CI machine, 228 -> 160 us per round trip and 18 -> 13 ms of
    fixed cost per submission. Workers are spread round-robin over the CPUs this process may use.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None  # macOS: the scheduler decides
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[index % len(allowed)]
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return None
    return cpu


def main(argv: list[str]) -> int:
    from autograder.grade.frames import read_frame, write_frame

    _set_pdeathsig()
    if os.environ.get("AUTOGRADER_WORKER_CPU", "").isdigit():
        pin_to_cpu(int(os.environ["AUTOGRADER_WORKER_CPU"]))
    task_fd, result_fd = int(argv[0]), int(argv[1])
    os.set_inheritable(task_fd, False)
    os.set_inheritable(result_fd, False)
    os.environ.pop("AUTOGRADER_EXPECTED_DIR", None)  # the bundle's own expected/ is the authority
    first = read_frame(task_fd)
    if not isinstance(first, dict) or first.get("type") != "config":
        return 2
    try:
        config = first["config"]
        grader = Grader.from_config(config) if config.get("factory") else start_least_privileged(config)
    except Exception:
        write_frame(result_fd, {"type": "fatal", "message": traceback.format_exc()})
        return 1
    try:
        write_frame(
            result_fd,
            {
                "type": "ready",
                "protections": grader.protections,
                "missing_protections": grader.protections_message,
            },
        )
        while True:
            frame = read_frame(task_fd)
            if frame is None:
                return 0
            result = grader.grade(frame["task"])
            write_frame(result_fd, {"type": "result", "result": result})
    finally:
        grader.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
