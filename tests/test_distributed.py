"""Grading on a Dask cluster (``--scheduler``): the same grades as the local executor; killing a
Dask worker, the client or the scheduler mid-batch and re-running grades every submission exactly
once; a submission that kills every Dask worker it lands on ends as ``grader_fault``; the grading
workers hold none of the cluster's connections; a missing ``distributed`` says what to install."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from autograder.grade import grade_class  # noqa: E402
from autograder.grade.distributed import DaskExecutor  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402
from tests.fixtures.grade_helpers import (  # noqa: E402
    ADD_ROWS_WRONG,
    DOUBLE_OK,
    OTTER_INIT,
    REPO,
    TEST_LIMITS,
    TINY_BUNDLE,
    correct_cells,
    make_workdir_root,
    rows,
    stored,
    write_notebook,
)

DASK = Path(sys.executable).parent / "dask"


def _gradings(out: Path) -> dict[str, int]:
    """How many results the store took per submission, over all runs (exactly once: all 1)."""
    return dict(rows(out / "results.sqlite", "SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))


def _attempts(folder: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in folder.iterdir()}


def _fake_config(tmp_path: Path) -> dict:
    attempts = tmp_path / "attempts"
    attempts.mkdir(exist_ok=True)
    return {"bundle_dir": str(TINY_BUNDLE), "factory": "tests.test_distributed_fakes:make",
            "valid": True, "attempts_dir": str(attempts)}


def _fake_class(subs: Path, names: list[str]) -> None:
    for name in names:
        write_notebook(subs / f"{name}.ipynb", [f"x = {name!r}"])


@pytest.fixture
def workdir_roots():
    """Makes sandbox working-directory roots (make_workdir_root) and removes them afterwards."""
    made: list[Path] = []

    def make() -> Path:
        made.append(make_workdir_root())
        return made[-1]

    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fake_env(monkeypatch):
    # the grading workers (fresh interpreters) import the fake grader from this checkout
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


class ExternalCluster:
    """``dask scheduler`` and ``dask worker`` processes, as an instructor starts them."""

    def __init__(self, root: Path, workers: int = 2):
        self.root = root
        self.file = root / "scheduler.json"
        self.file.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO),
               # the two settings docs/distributed.md tells instructors to give the scheduler
               "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2",
               "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": open(root / "cluster.log", "ab")}  # noqa: SIM115
        self.scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.file)], env=env, start_new_session=True, **quiet)
        _wait_for(lambda: self.file.exists() and self.file.stat().st_size > 0)
        import json

        self.address = json.loads(self.file.read_text())["address"]
        self.workers = subprocess.Popen(
            [str(DASK), "worker", self.address, "--nworkers", str(workers), "--nthreads", "1",
             "--no-dashboard", "--memory-limit", "0"], env=env, start_new_session=True, **quiet)
        self.n_workers = workers

    def wait_workers(self) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(self.n_workers, timeout=60)

    def close(self) -> None:
        for proc in (self.workers, self.scheduler):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def test_local_cluster_grades_as_the_local_executor(tmp_path, workdir_roots):
    """Real sandboxed grading of the tiny assignment: same status and points per submission."""
    subs = tmp_path / "subs"
    for i in range(3):
        write_notebook(subs / f"ok{i}.ipynb", correct_cells())
    write_notebook(subs / "wrong.ipynb", [OTTER_INIT, DOUBLE_OK, ADD_ROWS_WRONG])
    write_notebook(subs / "syntax.ipynb", ["def double(x)\n    return 2 * x"])
    write_notebook(subs / "exits.ipynb", [DOUBLE_OK, "import os\ndef add_rows(A):\n    os._exit(1)"])
    (subs / "broken.ipynb").write_text("{not json")
    limits = Limits(**TEST_LIMITS)
    grade_class(subs, TINY_BUNDLE, tmp_path / "local", workers=2, limits=limits,
                        progress=False, workdir_root=workdir_roots())
    dask = grade_class(subs, TINY_BUNDLE, tmp_path / "dask", limits=limits, progress=False,
                       workdir_root=workdir_roots(), scheduler="local:2")
    assert dask.fatal is None
    want = {sid: (s["status"], s["score"], [c["passed"] for c in s["cases"]])
            for sid, s in stored(tmp_path / "local").items()}
    got = {sid: (s["status"], s["score"], [c["passed"] for c in s["cases"]])
           for sid, s in stored(tmp_path / "dask").items()}
    assert got == want
    assert want["ok0"][1] > want["wrong"][1]  # the comparison has something to compare
    assert set(_gradings(tmp_path / "dask").values()) == {1}


def _tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            inodes.update(line.split()[9] for line in list(handle)[1:])
    return inodes


def test_grading_workers_hold_no_cluster_connection(tmp_path, workdir_roots):
    """A sandbox escape into the grading worker must not reach the scheduler's connections."""
    subs = tmp_path / "subs"
    write_notebook(subs / "ok.ipynb", correct_cells())
    config = {"bundle_dir": str(TINY_BUNDLE), "bundle_hash": None, "limits": TEST_LIMITS,
              "workdir_root": str(workdir_roots())}
    from autograder.grade.bundle import load_bundle

    config["bundle_hash"] = load_bundle(TINY_BUNDLE).hash
    executor = DaskExecutor("local:1", config)
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", progress=False, executor=executor)
        assert summary.by_status == {"graded": 1}
        dask_pids = set(executor.client.run(os.getpid).values())
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) in dask_pids]
        graders = [p for p in children if b"worker_process" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert graders, "no grading worker process under the Dask worker"
        tcp = _tcp_inodes()
        for pid in [*dask_pids, *graders]:
            held = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                    if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}
            if pid in dask_pids:
                assert held & tcp, "the check cannot see the Dask worker's own connections"
            else:
                assert not held & tcp, f"grading worker {pid} holds a TCP connection"
    finally:
        executor.shutdown()


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_submission_that_kills_every_dask_worker_is_grader_fault(tmp_path, fake_env):
    """allowed-failures 0: the pill's batch fails with KilledWorker, is split, the pill alone
    fails again -> grader_fault; its batch-mates and the rest are graded once each."""
    subs = tmp_path / "subs"
    names = ["killdask", *[f"ok{i}" for i in range(7)]]
    _fake_class(subs, names)
    config = _fake_config(tmp_path)
    executor = DaskExecutor("local:2", config, allowed_failures=0)
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", progress=False, executor=executor)
    finally:
        executor.shutdown()
    results = stored(tmp_path / "out")
    assert results["killdask"]["status"] == "grader_fault"
    assert "KilledWorker" in results["killdask"]["message"]
    assert summary.by_status == {"graded": 7, "grader_fault": 1}
    # bounded: (allowed-failures + 1) deaths in its batch, as many alone; the scheduler does not
    # count a death it sees as a nanny's restart, so one more attempt is possible
    assert 2 <= _attempts(tmp_path / "attempts")["killdask"] <= 4
    assert set(_gradings(tmp_path / "out").values()) == {1}


def test_killing_a_dask_worker_mid_batch_loses_nothing(tmp_path, fake_env):
    subs = tmp_path / "subs"
    names = [f"slow{i}" for i in range(10)]
    _fake_class(subs, names)
    config = _fake_config(tmp_path)
    executor = DaskExecutor("local:2", config, batch_size=1)
    attempts = tmp_path / "attempts"

    def kill_one():
        _wait_for(lambda: len(list(attempts.iterdir())) >= 3)
        pid = next(iter(executor.client.run(os.getpid).values()))
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    try:
        summary = grade_class(subs, TINY_BUNDLE, tmp_path / "out", progress=False, executor=executor)
    finally:
        killer.join()
        executor.shutdown()
    assert summary.by_status == {"graded": 10}
    assert max(_attempts(attempts).values()) == 2  # what the dead worker held ran again
    again = grade_class(subs, TINY_BUNDLE, tmp_path / "out", progress=False,
                        executor=_no_grading_executor())
    assert again.graded_now == 0
    assert _gradings(tmp_path / "out") == dict.fromkeys(names, 1)


def _no_grading_executor():
    from autograder.grade.executor import InlineExecutor

    class Refuses(InlineExecutor):
        def __init__(self):
            self.protections_message = None

        def submit(self, task):
            raise AssertionError(f"{task['id']} graded again")

        def shutdown(self, wait=True, *, cancel_futures=False):
            pass

    return Refuses()


CLIENT = """
import sys
from autograder.grade import grade_class
from autograder.grade.distributed import DaskExecutor
from tests.fixtures.grade_helpers import TINY_BUNDLE
config = {{"bundle_dir": str(TINY_BUNDLE), "factory": "tests.test_distributed_fakes:make",
          "valid": True, "attempts_dir": {attempts!r}}}
if __name__ == "__main__":
    executor = DaskExecutor({address!r}, config, batch_size=1)
    summary = grade_class({subs!r}, TINY_BUNDLE, {out!r}, progress=False, executor=executor)
    executor.shutdown()
    print(summary.fatal or "")
"""


def _client(tmp_path: Path, address: str, subs: Path, out: Path) -> subprocess.Popen:
    script = tmp_path / "client.py"
    script.write_text(CLIENT.format(attempts=str(tmp_path / "attempts"), address=address,
                                    subs=str(subs), out=str(out)))
    return subprocess.Popen([sys.executable, str(script)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored_count(out: Path) -> int:
    try:
        return len(rows(out / "results.sqlite", "SELECT id FROM submissions"))
    except Exception:
        return 0


def test_killing_the_client_or_the_scheduler_then_rerunning_grades_each_once(tmp_path, fake_env):
    # enough submissions that the second run is still grading when its scheduler is killed, even
    # when the first client was killed late on a loaded machine (12 were seen all graded first)
    names = [f"slow{i}" for i in range(20)]
    _fake_class(tmp_path / "subs", names)
    _fake_config(tmp_path)
    out = tmp_path / "out"
    cluster = ExternalCluster(tmp_path)
    try:
        cluster.wait_workers()
        # 1. the client is killed (SIGKILL) once a few results are stored
        client = _client(tmp_path, cluster.address, tmp_path / "subs", out)
        _wait_for(lambda: _stored_count(out) >= 3)
        client.kill()
        client.wait()
        first = _gradings(out)
        assert 3 <= len(first) < len(names)
        # 2. a new client on the same cluster; the scheduler is killed mid-batch
        client = _client(tmp_path, cluster.address, tmp_path / "subs", out)
        _wait_for(lambda: len(rows(out / "results.sqlite",
                                   "SELECT id FROM submissions WHERE status = 'graded'")) >= len(first) + 3)
        os.killpg(cluster.scheduler.pid, signal.SIGKILL)
        stdout, stderr = client.communicate(timeout=120)
        assert client.returncode == 0, stderr[-3000:]
        assert "scheduler" in stdout, stdout  # ClusterLost: the run says why it stopped
        statuses = {s: st for s, st in rows(out / "results.sqlite", "SELECT id, status FROM submissions")}
        assert "error" in statuses.values()  # what was not graded waits for the next run
    finally:
        cluster.close()
    cluster = ExternalCluster(tmp_path)
    try:
        cluster.wait_workers()
        client = _client(tmp_path, cluster.address, tmp_path / "subs", out)
        stdout, stderr = client.communicate(timeout=120)
        assert client.returncode == 0, stderr[-3000:]
    finally:
        cluster.close()
    final = stored(out)
    assert {s["status"] for s in final.values()} == {"graded"}
    counts = _gradings(out)
    # exactly once: no graded submission was graded again by a later run ("error" rows of the
    # stopped run are the ones that were graded again)
    graded_counts = rows(out / "results.sqlite",
                         "SELECT submission, COUNT(*) FROM gradings WHERE status = 'graded' GROUP BY submission")
    assert dict(graded_counts) == dict.fromkeys(names, 1), counts


def test_missing_distributed_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from autograder.grade.console import run_grade\n"
            f"sys.exit(run_grade({str(tmp_path)!r}, assignment='tiny_assignment', "
            f"out_dir={str(tmp_path / 'out')!r}, bundle_dir={str(TINY_BUNDLE.parent)!r}, "
            "scheduler='local:2'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 2
    assert 'pip install -e ".[dask]"' in proc.stderr.replace("\n", "")


def test_bad_scheduler_address_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from autograder.cli import main

    (tmp_path / "subs").mkdir()
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "subs"), "-a", TINY_BUNDLE.name,
                                       "--bundle-dir", str(TINY_BUNDLE.parent), "--out",
                                       str(tmp_path / "out"), "--scheduler", "local:zero"])
    assert result.exit_code == 2
    assert "local:N" in result.output
