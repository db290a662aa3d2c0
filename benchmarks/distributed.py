"""Benchmark: the local executor against a Dask LocalCluster on the same machine, and a projection.

    python benchmarks/distributed.py                       # 1,000 submissions of hw1, 2 workers
    python benchmarks/distributed.py --n 200 --assignment hw3_backprop

In one run it

1. generates a class of N submissions (``benchmarks/grading.py``'s ``write_class``: correct,
   partial and mistaken submissions of ``examples/generate.py``, cycled) and grades it with
   ``grade_class`` twice: with the local executor on ``--workers`` workers, and with
   ``--scheduler local:W`` (a LocalCluster of W single-threaded worker processes, each owning one
   grading worker). Both throughputs (submissions per second, wall clock from the call to the
   written reports, the cluster's start included) and their ratio are printed (target: the
   cluster within 10 % of the local executor), and the two stores must hold the same grades;
2. measures Dask's own cost per task on a LocalCluster of W workers: the wall time of 2,000
   no-op tasks divided by their number (what a task costs the scheduler, the client and a worker,
   on the same cores as the grading);
3. projects a class of 10^5 submissions over 50 workers from the measured figures: grading time
   (N x seconds per submission per worker / workers) against the scheduler's serial cost (number
   of tasks x cost per task), for tasks of 1 and of ``BATCH_SIZE`` submissions, plus the measured
   start-up (cluster and grading workers).

``main(argv)`` returns 0 (1 with ``--check-targets`` when the ratio is below 0.9).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file's own folder comes first on sys.path when it is run as a script, and its name would
# then shadow the `distributed` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGET_RATIO = 0.9


def _grading_benchmark():
    spec = importlib.util.spec_from_file_location("_bench_grading", REPO / "benchmarks" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _noop(x):
    return x


def dask_task_cost(workers: int, n: int = 2000) -> tuple[float, float]:
    """(seconds per no-op task, seconds to start a LocalCluster and connect)."""
    import logging

    import dask
    from distributed import Client, LocalCluster, wait

    started = time.perf_counter()
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        start_s = time.perf_counter() - started
        wait(client.map(_noop, range(50), pure=False))  # warm: imports, connections
        t0 = time.perf_counter()
        wait(client.map(_noop, range(n), pure=False))
        per_task = (time.perf_counter() - t0) / n
    return per_task, start_s


def _grades(out: Path) -> dict:
    from autograder.grade.store import Store

    with Store(out / "results.sqlite") as store:
        return {s["id"]: (s["status"], round(float(s["score"]), 9)) for s in store.submissions()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--assignment", default="hw1_linear_regression")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--project-n", type=int, default=100_000)
    parser.add_argument("--project-workers", type=int, default=50)
    parser.add_argument("--check-targets", action="store_true")
    args = parser.parse_args(argv)

    from autograder.grade import grade_class
    from autograder.grade.distributed import BATCH_SIZE

    bench = _grading_benchmark()
    root = Path(tempfile.mkdtemp(prefix="ag-bench-dask-"))
    try:
        bundle = bench.ensure_bundle(args.assignment, root / "build")
        subs = root / "subs"
        bench.write_class(args.assignment, args.n, subs)
        print(f"{args.n} submissions of {args.assignment}, {args.workers} workers")

        t0 = time.perf_counter()
        local = grade_class(subs, bundle, root / "local", workers=args.workers, progress=False)
        local_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        dask = grade_class(subs, bundle, root / "dask", progress=False,
                           scheduler=f"local:{args.workers}")
        dask_s = time.perf_counter() - t0
        assert local.fatal is None and dask.fatal is None, (local.fatal, dask.fatal)
        same = _grades(root / "local") == _grades(root / "dask")

        per_task, start_s = dask_task_cost(args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    local_rate, dask_rate = args.n / local_s, args.n / dask_s
    ratio = dask_rate / local_rate
    print(f"local executor : {local_s:7.2f} s  {local_rate:7.2f} submissions/s  {local.by_status}")
    print(f"LocalCluster({args.workers}): {dask_s:7.2f} s  {dask_rate:7.2f} submissions/s  {dask.by_status}")
    print(f"ratio cluster/local: {ratio:.3f} (target >= {TARGET_RATIO}); same grades: {same}")
    print(f"Dask cost per task (no-op, {args.workers} workers): {per_task * 1e3:.2f} ms; "
          f"LocalCluster start: {start_s:.2f} s")

    # Projection: every worker grades at the measured per-worker rate; the scheduler handles
    # tasks one after another at the measured cost per task (an upper bound: part of that cost
    # is the client's and the workers', which run in parallel).
    per_sub = args.workers / local_rate  # seconds of one worker per submission
    n, w = args.project_n, args.project_workers
    grading = n * per_sub / w
    print(f"projection: {n} submissions over {w} workers at {per_sub * 1e3:.0f} ms per submission")
    for batch in (1, BATCH_SIZE):
        tasks = -(-n // batch)
        sched = tasks * per_task
        total = max(grading, sched) + start_s
        print(f"  tasks of {batch:2d}: {tasks:6d} tasks, scheduler {sched:7.1f} s "
              f"({100 * sched / grading:5.1f} % of grading {grading:.0f} s) -> about {total:.0f} s")
    if args.check_targets and (ratio < TARGET_RATIO or not same):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
