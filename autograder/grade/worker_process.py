"""The grading worker process: ``python -m autograder.grade.worker_process TASK_FD RESULT_FD``.

Started by ``executor.LocalProcessExecutor``. It reads a config frame, sets itself up in the
order least privilege needs (``start_least_privileged``), says ``ready``, then grades one task
frame after another with ``worker.Grader`` and answers each with a result frame.
"""

from __future__ import annotations

import os
import sys
import traceback

# Nothing heavy at module level: ``main`` starts the fork server's process before it imports
# numpy and the grader, so the two processes' imports overlap.

# -- the worker process -----------------------------------------------------------------------


def start_least_privileged(config: dict, launched: tuple | None = None, cpu: int | None = None,
                           eased: bool = False):
    """The worker's grader, set up in the order least privilege needs (see ``privileges``):
    verified private copy of the bundle and the fork server while still privileged, then the
    drop, and only then the tests are loaded. ``launched``: the fork server's process, started
    early by ``main`` (``sandbox.launch``); ``cpu``: the CPU it is pinned to once it is ready;
    ``eased``: this worker and its fork server started at a lower priority (``_ease_start``),
    given back here, while still root."""
    from autograder.grade import privileges
    from autograder.grade.worker import Grader
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
    server = ForkServer(limits, workdir_root=workdir_root, launched=launched,
                        **server_policy(policy))
    try:
        server.start()
        if cpu is not None and server.zygote_pid:
            # launched before this worker pinned itself (its imports ran on any CPU); its
            # sandboxes share this worker's CPU (see ``pin_to_cpu``)
            os.sched_setaffinity(server.zygote_pid, {cpu})
        if server.zygote_pid:
            schedule_as_batch(server.zygote_pid)  # its sandboxes inherit it
        if eased:
            # the fork server first (its sandboxes inherit its priority), then this worker
            _set_priority(server.zygote_pid, 0)
            _set_priority(0, 0)
    except BaseException:
        server.close()
        raise
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



def _ease_start(index: int) -> bool:
    """Workers after the first start at a lower priority (nice 10) until their fork server is
    ready: the first submission waits only for the first worker, whose start-up (its imports
    and its fork server's, about 1.2 s of CPU) then has the machine's cores to itself instead of
    sharing them with every other worker's. Only as root, which can give the priority back
    (``start_least_privileged``) before it drops its privileges."""
    if index <= 0 or os.geteuid() != 0:
        return False
    try:
        _set_priority(0, EASED_NICE)
    except OSError:
        return False
    return True


EASED_NICE = 10


def _set_priority(pid: int, nice: int) -> None:
    """Nice value of ``pid`` (0: this process). With autogroup scheduling (Linux's default) a
    process's nice only ranks it within its session's group, and worker and fork server each lead
    a session of their own: the group's nice is set too."""
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    try:
        with open(f"/proc/{pid or 'self'}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroup scheduling: the process's own nice is what counts


def _discard(launched: tuple | None) -> None:
    if launched is None:
        return
    proc, sock = launched
    sock.close()  # the zygote exits when its control socket closes
    try:
        proc.wait(timeout=10)
    except Exception:
        proc.kill()


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


def schedule_as_batch(pid: int = 0) -> bool:
    """Run ``pid`` (this process by default) under SCHED_BATCH, the kernel's policy for
    non-interactive work: a batch task that wakes up does not preempt the one running, it waits
    for the tick. A worker and its sandbox share one CPU; under the default policy each answer
    of a batched request woke the worker, which took the CPU from the sandbox for that answer
    and gave it back (two context switches per call: about 100 for a hw4 submission, whose cases
    cross as one request); now the sandbox runs the calls on and the worker reads the answers
    when it blocks. Measured (A/B, pinned, 16 rounds): hw4 1.7 ms less per submission, hw1 and
    hw3 0.4-0.7 ms. Time limits are unaffected beyond a tick (a spinning child is preempted by
    it). Children inherit the policy; any process may choose it (no privilege)."""
    if not hasattr(os, "sched_setscheduler"):
        return False  # macOS: no such policy
    try:
        os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    from autograder.grade.frames import read_frame, write_frame

    _set_pdeathsig()
    task_fd, result_fd = int(argv[0]), int(argv[1])
    os.set_inheritable(task_fd, False)
    os.set_inheritable(result_fd, False)
    os.environ.pop("AUTOGRADER_EXPECTED_DIR", None)  # the bundle's own expected/ is the authority
    first = read_frame(task_fd)
    if not isinstance(first, dict) or first.get("type") != "config":
        return 2
    launched = None
    index = os.environ.get("AUTOGRADER_WORKER_CPU", "")
    index = int(index) if index.isdigit() else None
    try:
        config = first["config"]
        eased = False
        if not config.get("factory"):
            from autograder.sandbox.launch import launch_zygote

            eased = _ease_start(index or 0)
            launched = launch_zygote()  # before this process's own imports: they overlap
            if eased:
                _set_priority(launched[0].pid, EASED_NICE)  # a session (autogroup) of its own
        cpu = pin_to_cpu(index) if index is not None else None
        schedule_as_batch()
        if config.get("factory"):
            from autograder.grade.worker import Grader

            grader = Grader.from_config(config)
        else:
            grader = start_least_privileged(config, launched, cpu, eased)
    except Exception:
        _discard(launched)  # a fork server process that was never configured
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
