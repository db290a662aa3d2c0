"""Smoke test of benchmarks/grading.py on a tiny class (3 submissions, one otter run)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _benchmark():
    spec = importlib.util.spec_from_file_location("_bench_grading", REPO / "benchmarks" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_benchmark_smoke(tmp_path, capsys):
    bench = _benchmark()
    figures_path = tmp_path / "figures.json"
    code = bench.main([
        "--assignment", "hw1_linear_regression",
        "--n", "3",
        "--otter-n", "1",
        "--repeats", "10",
        "--build-dir", str(tmp_path / "build"),
        "--work-dir", str(tmp_path / "work"),
        "--json", str(figures_path),
    ])
    assert code == 0
    out = capsys.readouterr().out
    for needle in ("submissions/s", "otter run", "throughput ratio", "target >= 100x",
                   "sandbox overhead per submission", "target <= 20 ms", "in CPU time",
                   "start-up", "target < 1 s", "peak memory per worker", "target <= 300 MB",
                   "where the CPU overhead goes", "pages copied from the fork server",
                   "the fixed price per submission"):
        assert needle in out, needle
    figures = json.loads(figures_path.read_text())
    assert figures["n"] == 3 and figures["ours_rate"] > 0
    assert figures["ours_statuses"] == {"graded": 3}
    assert figures["otter_n"] == 1 and figures["otter_rate"] > 0 and figures["speedup"] > 0
    # Both graders read the same test files: they must agree on the submission they both graded.
    assert figures["scores_compared"] == 1 and figures["scores_agree"] == 1, figures
    assert figures["sandbox_ms"] > 0 and figures["inprocess_ms"] > 0
    # two rounds of 5: the spread of their differences around the median is reported
    q1, q3 = figures["overhead_quartiles_ms"]
    assert q1 <= figures["overhead_ms"] <= q3 and "this machine's spread" in out
    assert figures["sandbox_cpu_ms"] > 0 and figures["inprocess_cpu_ms"] > 0
    # where the overhead goes: every process's share measured, the in-process grading split
    parts = figures["cpu_parts"]
    for key in ("grader_cpu_ms", "sandboxes_cpu_ms", "bare_cpu_ms", "inprocess_tests_ms",
                "inprocess_cells_ms", "inprocess_student_ms", "inprocess_parse_ms"):
        assert parts[key] > 0, (key, parts)
    # one grading: the cells' request and the cases' first requests as one (lookahead.py)
    assert figures["grading_requests"] == {"run": 1, "calls": 1}, figures["grading_requests"]
    assert parts["sandbox_page_copies"] > 0 and parts["requests"] == 2
    assert "requests of one Grader.grade: 2 (1 calls, 1 run;" in out
    # the split accounts for the in-process grading it splits (CPU, within a loose margin:
    # the split grading is a separate, untimed one)
    split = sum(parts[f"inprocess_{k}_ms"] for k in ("parse", "cells", "student", "tests"))
    assert 0.5 * figures["inprocess_cpu_ms"] < split < 2 * figures["inprocess_cpu_ms"], parts
    assert figures["startup_s"] is not None and figures["startup_s"] > 0
    assert set(figures["breakdown_ms"]) == {"bare", "spawn", "tests", "close"}
    # hw1's hidden cases batch some of their calls (checks.call_each): fewer round trips
    assert figures["batches"] >= 1
    assert 0 < figures["requests"] < figures["proxy_calls"] + figures["loops"]
    assert 0 < figures["worker_tree_peak_mb"] < 4096
    assert figures["memory_samples"] >= 1
    # The class is built from the demo generator: correct first, then cycled.
    names = sorted(p.name for p in (tmp_path / "work" / "class").iterdir())
    assert names[0] == "b0001_correct.ipynb" and len(names) == 3


def test_class_generation_cycles_the_pool(tmp_path):
    bench = _benchmark()
    paths = bench.write_class("hw2_layer_gradient", 45, tmp_path)
    assert len(paths) == 45 and len({p.name for p in paths}) == 45
    assert all(p.stat().st_size > 0 for p in paths)
    assert not any("hostile" in p.name or "bad_" in p.name for p in paths)
