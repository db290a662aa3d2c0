"""Start-up of the grading workers: the fork server's process starts first (its imports overlap
the worker's), and workers after the first start at a lower priority that they give back,
worker and fork server, before they drop their privileges (issue 14's start-up target); both
run as batch jobs (SCHED_BATCH), pinned to the worker's CPU."""

from __future__ import annotations

import os
import time

import pytest

from autograder.grade.bundle import bundle_hash
from tests.fixtures.grade_helpers import TINY_BUNDLE


def _children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out.extend(int(p) for p in f.read().split())
    return out


def _nice(pid: int) -> tuple[int, str]:
    with open(f"/proc/{pid}/stat") as f:
        nice = int(f.read().rsplit(")", 1)[1].split()[16])
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            group = f.read().split()[-1]
    except OSError:
        group = "0"
    return nice, group


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the priority back")
def test_every_ready_worker_and_fork_server_runs_at_normal_priority(tmp_path):
    from autograder.grade.executor import LocalProcessExecutor

    config = {"bundle_dir": str(TINY_BUNDLE), "bundle_hash": bundle_hash(TINY_BUNDLE),
              "limits": None, "workdir_root": None}
    with LocalProcessExecutor(config, workers=2, log_dir=tmp_path) as ex:
        deadline = time.monotonic() + 60
        while not all(w.ready for w in ex._workers) or len(ex._workers) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.02)
        for worker in ex._workers:
            servers = _children(worker.proc.pid)
            assert servers, "the worker has no fork server"
            for pid in [worker.proc.pid, *servers]:
                assert _nice(pid) == (0, "0"), (worker.index, pid)
                assert os.sched_getaffinity(pid) == os.sched_getaffinity(worker.proc.pid)
                # a batch job: a woken worker waits for the tick instead of taking the CPU
                # from its sandbox at every answer (worker_process.schedule_as_batch)
                assert os.sched_getscheduler(pid) == os.SCHED_BATCH, (worker.index, pid)


def test_the_grade_package_loads_its_names_lazily_and_correctly():
    import subprocess
    import sys

    code = (
        "import sys, autograder.grade.worker\n"
        "assert 'autograder.grade.batch' not in sys.modules and 'rich' not in sys.modules\n"
        "import autograder.grade.globals  # the submodule named like the builtin\n"
        "from autograder.grade import OutputBusy, Store, grade_class, load_cells\n"
        "import autograder.grade.batch as batch, autograder.grade.store as store\n"
        "assert grade_class is batch.grade_class and Store is store.Store\n"
        "import autograder.grade as g\n"
        "assert 'write_reports' in dir(g)\n"
        "try:\n    g.no_such_name\nexcept AttributeError:\n    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
