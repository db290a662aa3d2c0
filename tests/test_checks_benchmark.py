"""Smoke test of benchmarks/gradcheck.py at a small size (no timing assertions)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "gradcheck.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_gradcheck", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_small(capsys):
    bench = _load()
    results = bench.main(n=400, repeats=1, block=50, small=100)
    out = capsys.readouterr().out
    assert "n = 400 parameters" in out and "ratio full / directional" in out
    big, small_full, small_block = results
    assert big["evals_directional"] == 8 and big["evals_fast"] == 48
    assert big["evals_full"] == 800 and big["full_extrapolated"] and big["block"] == 50
    assert small_full["evals_full"] == 200 and not small_full["full_extrapolated"]
    assert all(r["passed"] for r in results)
    assert all(r["t_full"] > 0 and r["t_directional"] > 0 for r in results)
