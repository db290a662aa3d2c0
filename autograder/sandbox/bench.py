"""Per-submission overhead of the sandbox: spawn (one trivial cell), one proxy call, close.

``python -m autograder.sandbox.bench [n]`` prints the numbers; ``measure_overhead()`` returns them.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from .errors import Limits

CELLS = ["import numpy as np\ndef f(x):\n    return 2 * x\n"]


def measure_overhead(n: int = 30, *, server=None, limits: Limits | None = None) -> dict:
    """Time ``n`` rounds of spawn + one call on a 1000-float array + close, in milliseconds.

    Uses ``server`` (a started ForkServer) or starts its own (its start-up time is reported
    separately as ``start_ms``). The first round is a warm-up and is discarded.
    """
    from .server import ForkServer

    own = server is None
    start_ms = None
    if own:
        t0 = time.perf_counter()
        server = ForkServer(limits or Limits()).start()
        start_ms = (time.perf_counter() - t0) * 1e3
    x = np.arange(1000.0)
    times, spawn_t, call_t, close_t = [], [], [], []
    try:
        for i in range(n + 1):
            t0 = time.perf_counter()
            sub = server.spawn(CELLS, limits=limits)
            t1 = time.perf_counter()
            try:
                y = sub.proxy("f")(x)
                t2 = time.perf_counter()
                if not np.array_equal(y, 2 * x):
                    raise RuntimeError("wrong result from the sandbox")
            finally:
                sub.close()
            t3 = time.perf_counter()
            if i == 0:
                continue
            times.append((t3 - t0) * 1e3)
            spawn_t.append((t1 - t0) * 1e3)
            call_t.append((t2 - t1) * 1e3)
            close_t.append((t3 - t2) * 1e3)
        protections = dict(server.protections)
    finally:
        if own:
            server.close()
    return {
        "n": n,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "spawn_median_ms": statistics.median(spawn_t),
        "call_median_ms": statistics.median(call_t),
        "close_median_ms": statistics.median(close_t),
        "start_ms": start_ms,
        "protections": protections,
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 30
    r = measure_overhead(n)
    print(f"sandbox per-submission overhead over {r['n']} rounds: median {r['median_ms']:.1f} ms "
          f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}); spawn {r['spawn_median_ms']:.1f}, "
          f"call {r['call_median_ms']:.1f}, close {r['close_median_ms']:.1f}; "
          f"fork server start {r['start_ms']:.0f} ms")
    print("protections:", ", ".join(f"{k}={'on' if v else 'OFF'}" for k, v in
                                    r["protections"].items()))


if __name__ == "__main__":
    main()
