"""Benchmark: this grader against ``otter run``, sandbox overhead, and memory per worker.

    python benchmarks/grading.py                      # 40 submissions of hw1, 6 otter runs
    python benchmarks/grading.py --n 80 --assignment hw3_backprop --otter-n 4
    python benchmarks/grading.py --all --n 200 --growth 1000   # the issue's table, one run

In one run it

1. generates a class of N submissions of one assignment (correct ones, partly correct ones and
   typical mistakes from ``examples/generate.py``, cycled; no hostile ones, whose time-outs would
   measure the limits rather than the grader) and grades it with ``grade_class`` on ``--workers``
   workers (default 2): submissions per second, wall clock from the call to the written reports;
2. grades the first ``--otter-n`` of them (default min(N, 6)) with otter-grader's ``otter run``,
   one process per submission, sequentially (otter run is what a course without this grader
   would script): submissions per second, and the ratio of the two rates. The scores of the two
   graders are compared on those submissions. Both write grades only: ``grade_class`` runs
   with ``feedback_pages=False`` (the HTML pages and pictures are timed separately, once);
3. times grading one correct submission through the sandbox (``Grader.grade``: parse, fork a
   sandbox, run its cells, every case through proxies) against grading the same notebook with
   no sandbox (``benchmarks/inprocess_baseline.py``: parse it, run its cells, run every case
   against the namespace they leave, in one plain process, as otter does in its kernel), the
   two alternating, in rounds: the median of the rounds' differences, in ms per submission,
   is the sandbox's overhead (printed with their quartiles: how much one run on this machine
   can be trusted), in wall-clock time and in CPU
   time (this process plus the sandboxes, from ``/proc``: a figure much less moved by whatever
   else the machine runs); that CPU is then split by process (the grader, the sandboxes, the
   fork server) against the parts of an in-process grading (parsing, cells, the student's
   calls, the tests' own work), with the pages each sandbox copies from the fork server and
   the price of a bare sandbox (``benchmarks/overhead_parts.py``): what the overhead is made of;
4. samples ``/proc`` while step 1 runs: the peak memory of each worker's process tree (the worker,
   its fork server and the sandboxes it forked), as the sum of proportional set sizes (PSS, which
   counts copy-on-write pages shared with the fork server once), plus the peak RSS (VmHWM) of the
   worker processes themselves and of the largest single process.

5. the start-up time: from the call of ``grade_class`` to the first submission's grading start
   (workers, fork servers and their probes), from the store's timestamps;
6. with ``--growth N`` (hw4 only, or ``--assignment``'s), grades a class of N as well: the cost
   per submission at ``--n`` and at N, and their ratio (1.0 = linear).

With ``--all`` it does this for all four assignments and ends with one table. The figures are
printed next to their targets: overhead <= 20 ms per submission, throughput >= 100x
``otter run`` on 2 cores, start-up < 1 s, peak memory per worker <= 300 MB, 1,000 hw4
submissions in < 60 s. ``main(argv)`` returns 0 (1 with
``--check-targets`` when a target is missed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The overhead is measured in this process standing in for a grading worker, so it gets a
# worker's environment: one BLAS thread (see autograder/grade/executor.py).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _load_sibling(name: str):
    """A module of benchmarks/ by its file (benchmarks/ is not a package, and putting it on
    sys.path would shadow ``distributed`` with benchmarks/distributed.py)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}",
                                                  Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


overhead_parts = _load_sibling("overhead_parts")

TARGET_OVERHEAD_MS = 20.0
TARGET_SPEEDUP = 100.0
TARGET_STARTUP_S = 1.0
TARGET_1000_S = 60.0
TARGET_WORKER_MB = 300.0
ROUND = 5        # gradings per side in one round of the overhead timing
SETTLE_S = 0.1   # between a round's sandboxed gradings and its in-process ones
SETTLE_BEFORE_TIMING_S = 3.0  # between grading the classes and timing the overhead
CLASS_KINDS = ("correct", "partial", "mistake")


# -- the class ---------------------------------------------------------------------------------


def _load_generator():
    spec = importlib.util.spec_from_file_location("_demo_generate", REPO / "examples" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_class(hw: str, n: int, folder: Path) -> list[Path]:
    """N notebooks cycled from the demo class's correct, partial and mistaken submissions."""
    generator = _load_generator()
    pool = [
        s
        for s in generator.build_class(hw, REPO)
        if s.kind in CLASS_KINDS and s.suffix == ".ipynb" and s.data
    ]
    if not pool:
        raise SystemExit(f"no usable submission of {hw} (student template missing?)")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        sub = pool[i % len(pool)]
        name = sub.student_id.split("_", 1)[1]
        path = folder / f"b{i + 1:04d}_{name}.ipynb"
        path.write_bytes(sub.data)
        paths.append(path)
    return paths


def ensure_bundle(hw: str, build_dir: Path) -> Path:
    from autograder.demo import ensure_bundle as build_if_needed

    build_if_needed(hw, REPO, build_dir)
    bundle = build_dir / hw
    if not (bundle / f"{hw}-autograder.zip").is_file():
        from autograder.release.core import build_assignment

        with tempfile.TemporaryDirectory() as tmp:
            build_assignment(hw, repo_root=REPO, out_dir=build_dir, template_dir=tmp)
    return bundle


# -- memory sampling ---------------------------------------------------------------------------


def _read_ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    try:
        return int(data.rsplit(b")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return _status_kb(pid, "VmRSS")


class TreeSampler(threading.Thread):
    """Samples the process trees of this process's children (the grading workers)."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True, name="memory-sampler")
        self.interval = interval
        self.root = os.getpid()
        self.stop_event = threading.Event()
        self.tree_pss_kb: dict[int, int] = {}  # worker pid -> peak sum of PSS over its tree
        self.worker_hwm_kb: dict[int, int] = {}  # worker pid -> VmHWM of the worker itself
        self.max_process_hwm_kb = 0
        self.max_tree_size = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)
        self.sample()

    def stop(self) -> None:
        self.stop_event.set()
        self.join()

    def sample(self) -> None:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                ppid = _read_ppid(entry)
                if ppid is not None:
                    children.setdefault(ppid, []).append(int(entry))
        for worker in children.get(self.root, []):
            tree, todo = [], [worker]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(children.get(pid, []))
            total = sum(_pss_kb(pid) for pid in tree)
            self.tree_pss_kb[worker] = max(self.tree_pss_kb.get(worker, 0), total)
            self.worker_hwm_kb[worker] = max(
                self.worker_hwm_kb.get(worker, 0), _status_kb(worker, "VmHWM")
            )
            self.max_tree_size = max(self.max_tree_size, len(tree))
            for pid in tree:
                self.max_process_hwm_kb = max(self.max_process_hwm_kb, _status_kb(pid, "VmHWM"))
        self.samples += 1


class _CountingProxy:
    """Counts the calls made through a sandbox proxy (attributes are forwarded): ``counter[0]``
    calls, ``counter[1]`` step loops run in the sandbox (one request each), ``counter[2]``
    batched requests (``checks.call_each``: several of the calls in one request), ``counter[3]``
    requests in all (round trips, callbacks not counted)."""

    def __init__(self, proxy, counter: list[int]):
        self._proxy = proxy
        self._counter = counter

    def __call__(self, *args, **kwargs):
        self._counter[0] += 1
        self._counter[3] += 1
        return self._proxy(*args, **kwargs)

    def run_loop(self, *args):
        self._counter[1] += 1
        self._counter[3] += 1
        return self._proxy.run_loop(*args)

    def call_batch(self, entries):  # checks.call_each: several calls in one request
        self._counter[0] += len(entries)
        self._counter[2] += 1
        self._counter[3] += 1
        return self._proxy.call_batch([(getattr(fn, "_proxy", fn), a, k) for fn, a, k in entries])

    def __getattr__(self, name):
        return getattr(self._proxy, name)


def _requests_of(grader, task: dict) -> dict[str, int]:
    """The requests one ``Grader.grade`` of ``task`` sends its sandbox, by kind (``run``: the
    cells; ``calls``, ``call``, ``loop``: the cases', whose first requests cross together;
    ``labels``, ``globals``...: the rest)."""
    from autograder.sandbox.submission import Submission

    sent: dict[str, int] = {}
    original = Submission._send

    def counting(sub, header, arrays, deadline):
        sent[str(header.get("op"))] = sent.get(str(header.get("op")), 0) + 1
        return original(sub, header, arrays, deadline)

    Submission._send = counting
    try:
        grader.grade(task)
    finally:
        Submission._send = original
    # (replies to the child's callbacks are not requests)
    return {op: n for op, n in sent.items() if op not in ("cb_result", "cb_error")}


def _own_cpu_s() -> float:
    """This process's CPU time, exact (scheduler nanoseconds), all threads."""
    try:
        with open("/proc/self/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return time.process_time()


def _tree_cpu_s(zygote_pid: int | None) -> float:
    """CPU of this process + the fork server + the sandboxes it reaped (clock ticks)."""
    total = _own_cpu_s()
    try:
        with open(f"/proc/{zygote_pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, TypeError, ValueError):
        pass
    return total


# -- the measurements --------------------------------------------------------------------------


@dataclass
class Figures:
    assignment: str
    n: int
    workers: int
    ours_seconds: float = 0.0
    ours_rate: float = 0.0
    ours_statuses: dict = field(default_factory=dict)
    otter_n: int = 0
    otter_seconds: float = 0.0
    otter_rate: float = 0.0
    otter_per_submission_s: list = field(default_factory=list)
    speedup: float | None = None
    scores_compared: int = 0
    scores_agree: int = 0
    score_disagreements: list = field(default_factory=list)
    sandbox_ms: float = 0.0
    inprocess_ms: float = 0.0
    overhead_ms: float = 0.0
    overhead_repeats: int = 0
    overhead_quartiles_ms: tuple = ()  # of the rounds' differences: how far one run can be trusted
    sandbox_cpu_ms: float = 0.0
    inprocess_cpu_ms: float = 0.0
    overhead_cpu_ms: float = 0.0
    startup_s: float | None = None
    loops: int = 0
    growth_n: int = 0
    growth_seconds: float = 0.0
    growth_per_submission_ratio: float | None = None
    pages_seconds: float | None = None
    breakdown_ms: dict = field(default_factory=dict)
    cpu_parts: dict = field(default_factory=dict)  # benchmarks/overhead_parts.py
    n_cases: int = 0
    proxy_calls: int = 0
    batches: int = 0
    requests: int = 0
    grading_requests: dict = field(default_factory=dict)
    worker_tree_peak_mb: float = 0.0
    worker_process_peak_mb: float = 0.0
    largest_process_peak_mb: float = 0.0
    rusage_children_maxrss_mb: float = 0.0
    memory_samples: int = 0
    load_average: float = 0.0


def _startup_seconds(out: Path, started_wall: float) -> float | None:
    """From the call to the first submission's grading start: the store records when each
    submission was graded and how long it took."""
    import sqlite3

    try:
        with sqlite3.connect(out / "results.sqlite") as db:
            row = db.execute("SELECT MIN(graded_at - execution_time) FROM submissions").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None or row[0] is None else max(0.0, row[0] - started_wall)


def grade_ours(class_dir: Path, bundle: Path, out: Path, workers: int, figures: Figures) -> dict:
    from autograder.grade import grade_class

    sampler = TreeSampler()
    sampler.start()
    started_wall = time.time()
    started = time.perf_counter()
    try:
        # grades only, as otter run writes grades only (the pages are timed on their own)
        summary = grade_class(class_dir, bundle, out, workers=workers, progress=False,
                              feedback_pages=False)
    finally:
        elapsed = time.perf_counter() - started
        sampler.stop()
    figures.startup_s = _startup_seconds(out, started_wall)
    figures.ours_seconds = elapsed
    figures.ours_rate = figures.n / elapsed
    figures.ours_statuses = dict(summary.by_status)
    figures.worker_tree_peak_mb = max(sampler.tree_pss_kb.values(), default=0) / 1024
    figures.worker_process_peak_mb = max(sampler.worker_hwm_kb.values(), default=0) / 1024
    figures.largest_process_peak_mb = sampler.max_process_hwm_kb / 1024
    figures.memory_samples = sampler.samples
    # ru_maxrss of waited-for descendants, in KiB on Linux: the largest single process.
    figures.rusage_children_maxrss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return dict(summary.totals)


def _otter_command() -> list[str]:
    exe = Path(sys.executable).with_name("otter")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("otter")
    return [found] if found else [sys.executable, "-m", "otter"]


def grade_otter(paths: list[Path], zip_path: Path, work: Path, ours: dict, figures: Figures) -> None:
    command = _otter_command()
    total = 0.0
    for path in paths:
        out = work / path.stem
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "run", "-a", str(zip_path), "-o", str(out), "--no-logo", str(path)],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.perf_counter() - started
        total += seconds
        figures.otter_per_submission_s.append(round(seconds, 3))
        results = out / "results.json"
        if done.returncode != 0 or not results.is_file():
            figures.score_disagreements.append(f"{path.stem}: otter run failed ({done.returncode})")
            continue
        data = json.loads(results.read_text())
        otter_score = sum(float(t.get("score") or 0.0) for t in data.get("tests", []))
        if "score" in data and data["score"] is not None:
            otter_score = float(data["score"])
        figures.scores_compared += 1
        if abs(otter_score - ours.get(path.stem, -1.0)) < 1e-6:
            figures.scores_agree += 1
        else:
            figures.score_disagreements.append(
                f"{path.stem}: ours {ours.get(path.stem)}, otter {otter_score:g}"
            )
    figures.otter_n = len(paths)
    figures.otter_seconds = total
    figures.otter_rate = len(paths) / total if total else 0.0
    if figures.otter_rate:
        figures.speedup = figures.ours_rate / figures.otter_rate


def measure_overhead(hw: str, bundle: Path, notebook: Path, repeats: int, figures: Figures) -> None:
    """Median time of grading one correct submission via the sandbox vs in-process.

    The sandbox path is ``Grader.grade`` (what a worker does per submission). Its parts are timed
    again with the sandbox API directly: fork a sandbox and run the cells, run every case
    through proxies, close; and a sandbox with one trivial cell gives the bare fork cost.
    """
    from autograder.grade.worker_process import pin_to_cpu, schedule_as_batch

    # Measured as a grading worker runs: pinned to one CPU with its sandboxes, as a batch job.
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
    pin_to_cpu(0)
    schedule_as_batch()
    try:
        _measure_pinned(hw, bundle, notebook, repeats, figures)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
        if policy is not None:
            os.sched_setscheduler(0, policy, os.sched_param(0))


def _measure_pinned(hw: str, bundle: Path, notebook: Path, repeats: int, figures: Figures) -> None:
    from autograder.grade.inputs import discover, load_cells
    from autograder.grade.worker import Grader
    from autograder.runner import run_question
    from autograder.testfiles import load_questions

    questions = load_questions(bundle / "tests")
    wanted = sorted({n for q in questions for c in q.cases for n in c.params if n != "env"})
    with tempfile.TemporaryDirectory(prefix="bench-one-") as tmp:
        one = Path(tmp) / notebook.name
        shutil.copyfile(notebook, one)
        (ref,) = discover(tmp, hw).submissions
        task = ref.to_task()
        cells, _ = load_cells(task, hw)
        grader = Grader(bundle)
        try:
            result = grader.grade(task)  # warm-up (imports, first fork)
            figures.grading_requests = _requests_of(grader, task)
            if result["score"] != result["max_score"]:
                raise SystemExit(
                    f"the correct submission scored {result['score']}/{result['max_score']} "
                    f"via the sandbox ({result['status']}: {result.get('message', '')[:300]})"
                )
            # the same notebook with no sandbox (own process: parse, run the cells, run the
            # cases), in rounds alternating with the sandboxed gradings: both sides are measured
            # on the same machine at the same moments (a busy neighbour moves both, not their
            # difference). A round grades ROUND + 1 times through the sandbox and times the last
            # ROUND (each then pays the close of the one before and the preparation of the one
            # after, as in a class), lets the fork server settle, then grades ROUND times
            # in-process; the overhead is the median over the rounds of the difference of the
            # two medians
            baseline = subprocess.Popen(
                [sys.executable, str(REPO / "benchmarks" / "inprocess_baseline.py"), "--serve",
                 str(bundle), str(one), hw],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
            sandbox_times, rows, differences = [], [], []
            zygote = grader.server.zygote_pid
            sandbox_cpu = 0.0
            cpu_parts = overhead_parts.Parts()
            try:
                for _ in range(max(1, -(-repeats // ROUND))):
                    grader.grade(task)  # its sandbox was prepared while the last round settled
                    cpu0, reading = _tree_cpu_s(zygote), overhead_parts.Reading.now(zygote)
                    mine = []
                    for _ in range(ROUND):
                        started = time.perf_counter()
                        grader.grade(task)
                        mine.append(time.perf_counter() - started)
                    sandbox_cpu += (_tree_cpu_s(zygote) - cpu0) / ROUND
                    cpu_parts.add(overhead_parts.Reading.now(zygote).minus(reading), ROUND)
                    time.sleep(SETTLE_S)  # the last close and the next preparation, not timed
                    theirs = []
                    for _ in range(ROUND):
                        baseline.stdin.write("grade\n")
                        baseline.stdin.flush()
                        line = baseline.stdout.readline()
                        if not line:
                            raise SystemExit("the in-process baseline stopped")
                        theirs.append(json.loads(line))
                    sandbox_times += mine
                    rows += theirs
                    differences.append(statistics.median(mine) * 1000
                                       - statistics.median(r["wall_ms"] for r in theirs))
                splits = []
                for _ in range(5):  # the in-process grading's parts (untimed gradings)
                    baseline.stdin.write("split\n")
                    baseline.stdin.flush()
                    splits.append(json.loads(baseline.stdout.readline()))
                inprocess_split = {f"{k}_ms": statistics.median(s[k] for s in splits)
                                   for k in splits[0]}
            finally:
                baseline.stdin.close()
                baseline.wait(timeout=60)
            sandbox_cpu /= len(differences)
            server = grader.server
            parts: dict[str, list[float]] = {"bare": [], "spawn": [], "tests": [], "close": []}
            for i in range(repeats + 1):
                reading = overhead_parts.Reading.now(server.zygote_pid)
                t0 = time.perf_counter()
                sub = server.spawn(["x = 1"])
                sub.close()
                t1 = time.perf_counter()
                if i:
                    cpu_parts.add(overhead_parts.Reading.now(server.zygote_pid).minus(reading), 1,
                                  bare=True)
                sub = server.spawn(cells)
                t2 = time.perf_counter()
                try:
                    names = set(sub.names())
                    calls = [0, 0, 0, 0]
                    namespace = {
                        n: _CountingProxy(sub.proxy(n), calls) for n in wanted if n in names
                    }
                    for question in questions:
                        run_question(question, namespace)
                    t3 = time.perf_counter()
                finally:
                    sub.close()
                t4 = time.perf_counter()
                if i:  # the first round is a warm-up
                    for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                        parts[key].append(seconds)
        finally:
            grader.close()
    if any(row["score"] != row["max_score"] for row in rows):
        raise SystemExit(f"the correct submission scores {rows[0]['score']}/"
                         f"{rows[0]['max_score']} graded in-process")
    figures.sandbox_ms = statistics.median(sandbox_times) * 1000
    figures.inprocess_ms = statistics.median(row["wall_ms"] for row in rows)
    figures.overhead_ms = statistics.median(differences)
    if len(differences) >= 2:
        q1, _, q3 = statistics.quantiles(differences, n=4)
        figures.overhead_quartiles_ms = (round(q1, 2), round(q3, 2))
    figures.overhead_repeats = len(sandbox_times)
    figures.breakdown_ms = {k: round(statistics.median(v) * 1000, 2) for k, v in parts.items()}
    figures.n_cases = sum(len(q.cases) for q in questions)
    figures.proxy_calls = calls[0]
    figures.batches = calls[2]
    figures.requests = calls[3]
    figures.loops = calls[1]
    figures.sandbox_cpu_ms = sandbox_cpu * 1000
    figures.inprocess_cpu_ms = statistics.median(row["cpu_ms"] for row in rows)
    figures.overhead_cpu_ms = figures.sandbox_cpu_ms - figures.inprocess_cpu_ms
    figures.cpu_parts = cpu_parts.as_dict(inprocess_split, sum(figures.grading_requests.values())
                                          or figures.requests)


# -- report ------------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def report(f: Figures) -> list[tuple[str, bool | None]]:
    print(f"\nbenchmark: {f.assignment}, {f.n} submissions, {f.workers} workers, {os.cpu_count()} cores "
          f"(load average at the start {f.load_average:.2f}: the figures assume an idle machine)")
    print(f"  this grader   : {f.ours_rate:8.2f} submissions/s  ({f.n} in {f.ours_seconds:.2f} s; "
          f"{', '.join(f'{k} {v}' for k, v in sorted(f.ours_statuses.items()))})")
    if f.otter_n:
        per = statistics.mean(f.otter_per_submission_s)
        print(f"  otter run     : {f.otter_rate:8.3f} submissions/s  ({f.otter_n} sequential runs, "
              f"{per:.2f} s each)")
        print(f"  scores agree  : {f.scores_agree}/{f.scores_compared} submissions graded by both")
        for line in f.score_disagreements:
            print(f"    {line}")
    else:
        print("  otter run     : skipped (--otter-n 0)")
    checks: list[tuple[str, bool | None]] = []
    speedup_ok = None if f.speedup is None else f.speedup >= TARGET_SPEEDUP
    checks.append(("throughput", speedup_ok))
    speedup = "n/a" if f.speedup is None else f"{f.speedup:.1f}x"
    print(f"  throughput ratio (ours / otter run): {speedup:>8}   target >= {TARGET_SPEEDUP:g}x   "
          f"[{_mark(speedup_ok)}]")
    overhead_ok = f.overhead_ms <= TARGET_OVERHEAD_MS
    checks.append(("overhead", overhead_ok))
    print(f"  sandbox overhead per submission: {f.overhead_ms:8.1f} ms   target <= "
          f"{TARGET_OVERHEAD_MS:g} ms   [{_mark(overhead_ok)}]")
    if f.overhead_quartiles_ms:
        q1, q3 = f.overhead_quartiles_ms
        print(f"    (the median of {f.overhead_repeats // ROUND} rounds' differences; their "
              f"quartiles {q1:.1f} and {q3:.1f} ms: this machine's spread within one run)")
    print(f"    in CPU time (this process + fork server + sandboxes): {f.overhead_cpu_ms:.1f} ms "
          f"({f.sandbox_cpu_ms:.1f} ms via the sandbox, {f.inprocess_cpu_ms:.1f} ms in-process)")
    print(f"    (one correct submission, {f.n_cases} cases, {f.overhead_repeats} gradings each way in "
          f"alternating rounds of {ROUND}, medians: "
          f"{f.sandbox_ms:.1f} ms via the sandbox (Grader.grade), {f.inprocess_ms:.1f} ms "
          "in-process: parse, run the cells, run the cases, no sandbox)")
    if f.grading_requests:
        kinds = ", ".join(f"{n} {op}" for op, n in sorted(f.grading_requests.items()))
        print(f"    requests of one Grader.grade: {sum(f.grading_requests.values())} ({kinds}; "
              "the cases run ahead to their first requests, which cross as one)")
    b = f.breakdown_ms
    if b:
        print(f"    sandbox parts: fork + run the notebook's cells {b['spawn']:.1f} ms (a bare fork "
              f"with one trivial cell and close: {b['bare']:.1f} ms), every case through proxies, "
              f"one case at a time, {b['tests']:.1f} ms ({f.requests} requests: {f.proxy_calls} "
              f"proxy calls, {f.batches} batched requests among them, and {f.loops} step loops "
              f"run in the sandbox, callbacks not counted), close {b['close']:.1f} ms")
    for line in overhead_parts.lines(f.cpu_parts):
        print(line)
    startup_ok = None if f.startup_s is None else f.startup_s < TARGET_STARTUP_S
    checks.append(("startup", startup_ok))
    shown = "n/a" if f.startup_s is None else f"{f.startup_s:.2f} s"
    print(f"  start-up (call to the first submission's grading): {shown:>8}   target < "
          f"{TARGET_STARTUP_S:g} s   [{_mark(startup_ok)}]")
    if f.growth_n:
        per_small = f.ours_seconds / f.n
        per_big = f.growth_seconds / f.growth_n
        print(f"  growth: {f.n} submissions {per_small * 1000:.1f} ms each, {f.growth_n} "
              f"submissions {per_big * 1000:.1f} ms each (ratio {per_big / per_small:.2f}; "
              f"{f.growth_n} in {f.growth_seconds:.1f} s)")
        if f.growth_n >= 1000:
            big_ok = f.growth_seconds * 1000 / f.growth_n < TARGET_1000_S
            checks.append(("1000 submissions", big_ok))
            print(f"    1,000 submissions in {f.growth_seconds * 1000 / f.growth_n:.1f} s "
                  f"(scaled)   target < {TARGET_1000_S:g} s   [{_mark(big_ok)}]")
    if f.pages_seconds is not None:
        print(f"  feedback pages and similarity for the class (not in the rate above): "
              f"{f.pages_seconds:.1f} s")
    memory_ok = f.worker_tree_peak_mb <= TARGET_WORKER_MB
    checks.append(("memory", memory_ok))
    print(f"  peak memory per worker (PSS of worker + fork server + sandboxes): "
          f"{f.worker_tree_peak_mb:6.1f} MB   target <= {TARGET_WORKER_MB:g} MB   [{_mark(memory_ok)}]")
    print(f"    worker process VmHWM {f.worker_process_peak_mb:.1f} MB; largest single process "
          f"VmHWM {f.largest_process_peak_mb:.1f} MB; RUSAGE_CHILDREN ru_maxrss "
          f"{f.rusage_children_maxrss_mb:.1f} MB; {f.memory_samples} samples")
    return checks


ASSIGNMENTS = ("hw1_linear_regression", "hw2_layer_gradient", "hw3_backprop", "hw4_optimizers")


def run_one(hw: str, args, otter_n: int, growth: int) -> Figures:
    bundle = ensure_bundle(hw, args.build_dir)
    figures = Figures(assignment=hw, n=args.n, workers=args.workers, load_average=os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        work = (args.work_dir / hw if args.all else args.work_dir) if args.work_dir else Path(tmp)
        if work.exists() and args.work_dir:
            for sub in ("class", "ours", "otter", "growth", "growth-out"):
                shutil.rmtree(work / sub, ignore_errors=True)
        paths = write_class(hw, args.n, work / "class")
        print(f"grading {args.n} submissions of {hw} with {args.workers} workers ...", flush=True)
        ours = grade_ours(work / "class", bundle, work / "ours", args.workers, figures)
        if args.pages:
            from autograder.grade import grade_class

            started = time.perf_counter()
            grade_class(work / "class", bundle, work / "ours", workers=args.workers,
                        progress=False)  # everything graded already: reports and pages only
            figures.pages_seconds = time.perf_counter() - started
        if growth:
            print(f"grading {growth} submissions of {hw} ...", flush=True)
            write_class(hw, growth, work / "growth")
            started = time.perf_counter()
            from autograder.grade import grade_class

            grade_class(work / "growth", bundle, work / "growth-out", workers=args.workers,
                        progress=False, feedback_pages=False)
            figures.growth_n = growth
            figures.growth_seconds = time.perf_counter() - started
        if otter_n:
            print(f"grading {otter_n} of them with otter run, one after another ...", flush=True)
            grade_otter(paths[:otter_n], bundle / f"{hw}-autograder.zip", work / "otter", ours, figures)
        print(f"timing the sandbox's overhead ({args.repeats} repeats) ...", flush=True)
        # what the runs above leave behind (otter's kernels exiting, the kernel tearing down
        # hundreds of sandboxes' cgroups and memory) settles first: the timing is pinned to one
        # CPU and assumes an idle machine
        time.sleep(SETTLE_BEFORE_TIMING_S)
        measure_overhead(hw, bundle, paths[0], args.repeats, figures)
    return figures


def table(all_figures: list[Figures]) -> None:
    print("\n| assignment | ours sub/s | otter sub/s | ratio (>= 100x) | overhead ms wall (<= 20) "
          "| overhead ms CPU | start-up s (< 1) | peak MB/worker | calls + loops (requests of a grading) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for f in all_figures:
        ratio = "n/a" if f.speedup is None else f"{f.speedup:.1f}x"
        otter = f"{f.otter_rate:.3f}" if f.otter_n else "n/a"
        startup = "n/a" if f.startup_s is None else f"{f.startup_s:.2f}"
        print(f"| {f.assignment} | {f.ours_rate:.2f} | {otter} | {ratio} | {f.overhead_ms:.1f} | "
              f"{f.overhead_cpu_ms:.1f} | {startup} | {f.worker_tree_peak_mb:.0f} | "
              f"{f.proxy_calls} + {f.loops} ({sum(f.grading_requests.values()) or f.requests}) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the grader against otter run.")
    parser.add_argument("--assignment", "-a", default="hw1_linear_regression")
    parser.add_argument("--all", action="store_true", help="all four assignments, one table")
    parser.add_argument("--n", type=int, default=40, help="submissions in the class (default 40)")
    parser.add_argument("--otter-n", type=int, default=None,
                        help="submissions graded with otter run (default min(N, 6); 0 skips)")
    parser.add_argument("--growth", type=int, default=0,
                        help="also grade a class of this many (hw4 with --all) for the growth")
    parser.add_argument("--pages", action="store_true",
                        help="also time writing the feedback pages of the class")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="repeats of the overhead timing")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the class and outputs here (default: a temporary folder)")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build",
                        help="where the bundle is (built there when missing or stale)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--check-targets", action="store_true",
                        help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    otter_n = min(args.n, 6) if args.otter_n is None else max(0, min(args.otter_n, args.n))
    hws = ASSIGNMENTS if args.all else (args.assignment,)
    all_figures, missed = [], []
    for hw in hws:
        growth = args.growth if (not args.all or hw == "hw4_optimizers") else 0
        figures = run_one(hw, args, otter_n, growth)
        checks = report(figures)
        missed += [f"{hw}: {name}" for name, ok in checks if ok is False]
        all_figures.append(figures)
    if len(all_figures) > 1:
        table(all_figures)
    if args.json:
        data = [asdict(f) for f in all_figures]
        args.json.write_text(json.dumps(data if args.all else data[0], indent=1) + "\n")
    return 1 if args.check_targets and missed else 0


if __name__ == "__main__":
    sys.exit(main())
