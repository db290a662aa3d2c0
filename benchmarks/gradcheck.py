"""What a gradient check costs at 10^5 parameters: directional vs full central differences.

    .venv/bin/python benchmarks/gradcheck.py [--n 100000] [--repeats 3] [--block 100] [--full]

The function is vectorised, ``f(x) = sum softplus(a x) + 0.5 x^T D x`` with ``D`` diagonal, and
its exact gradient is checked by

- ``check_directional`` (4 Gaussian directions: 8 evaluations of ``f`` whatever ``n``),
- ``assert_gradient_fast`` (4 directions + 20 sampled coordinates: 48 evaluations),
- ``check_gradient`` (full central differences: ``2 n`` evaluations).

All timings are medians of ``--repeats`` runs with ``time.perf_counter`` in this process. Full
central differences at ``n = 10^5`` take ``2 * 10^5`` evaluations of ``f`` (many minutes on a
small machine), so by default they are timed on a block of ``--block`` coordinates and scaled
by ``n / block`` (``check_sampled`` on ``block`` coordinates runs the same per-coordinate code
as ``check_gradient``; each coordinate costs exactly two evaluations of the same ``f``, so the cost
is linear in ``n``); the same comparison is also measured in full at ``n = 2000`` to show that
the extrapolation holds. ``--full`` measures the whole ``n`` (slow).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.checks import (  # noqa: E402  (after the path set-up)
    assert_gradient_fast,
    check_directional,
    check_gradient,
    check_sampled,
)


def make_problem(n: int, seed: int = 0):
    """f, its gradient, and a point, for n parameters."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    D = rng.uniform(0.1, 10.0, size=n)
    x = rng.normal(size=n)

    def f(z):
        return float(np.sum(np.logaddexp(0.0, a * z)) + 0.5 * np.sum(D * z * z))

    def grad(z):
        return a * np.exp(-np.logaddexp(0.0, -a * z)) + D * z

    return f, grad, x


def _median_time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _block_check(f, g, x, block: int):
    """Central differences on ``block`` coordinates: the per-coordinate code path of the full
    check (``check_sampled`` and ``check_gradient`` share it), two evaluations each."""
    return check_sampled(f, g, x, n_coords=block)


def measure(n: int, repeats: int, block: int | None, seed: int = 0) -> dict:
    """Time directional, fast and full checks at size n; block=None measures full in full."""
    f, grad, x = make_problem(n, seed)
    g = grad(x)
    t_eval, _ = _median_time(lambda: f(x), max(repeats, 5))
    t_dir, res_dir = _median_time(lambda: check_directional(f, g, x, n_directions=4), repeats)
    t_fast, res_fast = _median_time(lambda: assert_gradient_fast(f, g, x), repeats)
    if block is None or block >= n:
        t_full, res_full = _median_time(lambda: check_gradient(f, g, x), repeats)
        full_evals, extrapolated = res_full.n_evaluations, False
        full_passed = res_full.passed
    else:
        t_block, res_block = _median_time(lambda: _block_check(f, g, x, block), repeats)
        t_full = t_block * n / block
        full_evals, extrapolated = 2 * n, True
        full_passed = res_block.passed
    return {
        "n": n,
        "t_eval": t_eval,
        "t_directional": t_dir,
        "evals_directional": res_dir.n_evaluations,
        "t_fast": t_fast,
        "evals_fast": res_fast.n_evaluations,
        "t_full": t_full,
        "evals_full": full_evals,
        "full_extrapolated": extrapolated,
        "block": block if extrapolated else None,
        "ratio": t_full / t_dir,
        "passed": bool(res_dir.passed and res_fast.passed and full_passed),
    }


def report(r: dict, repeats: int) -> None:
    how = (f"extrapolated from {r['block']} coordinates x {r['n'] // r['block']}"
           if r["full_extrapolated"] else "measured in full")
    print(f"n = {r['n']} parameters; one evaluation of f: {1e3 * r['t_eval']:.3g} ms")
    print(f"  directional (4 directions):           {r['evals_directional']:>7d} evaluations, "
          f"{r['t_directional']:.4g} s (median of {repeats})")
    print(f"  assert_gradient_fast (4 dir + 20 co): {r['evals_fast']:>7d} evaluations, "
          f"{r['t_fast']:.4g} s")
    print(f"  full central differences:             {r['evals_full']:>7d} evaluations, "
          f"{r['t_full']:.4g} s ({how})")
    print(f"  ratio full / directional: {r['ratio']:.3g}  "
          f"(evaluations: {r['evals_full'] / r['evals_directional']:.3g}); all checks passed: "
          f"{r['passed']}")


def main(n: int = 100_000, repeats: int = 3, block: int | None = 100, full: bool = False,
         small: int | None = 2000) -> list[dict]:
    """Run the benchmark, print it, and return the measurements (one dict per size)."""
    results = []
    r = measure(n, repeats, None if full else block)
    report(r, repeats)
    results.append(r)
    if small and small < n:
        s = measure(small, repeats, None)
        report(s, repeats)
        sb = measure(small, repeats, min(block or small, small))
        print(f"  (at n = {small}: full measured {s['t_full']:.4g} s, "
              f"block-extrapolated {sb['t_full']:.4g} s)")
        results.extend([s, sb])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--full", action="store_true", help="measure full differences in full")
    args = parser.parse_args()
    main(args.n, args.repeats, args.block, args.full)
