"""Per-submission overhead of the sandbox: spawn (one trivial cell), one proxy call, close.

``python -m autograder.sandbox.bench [n]`` prints the numbers; ``measure_overhead()`` returns them.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import numpy as np

from .errors import Limits

CELLS = ["import numpy as np\ndef f(x):\n    return 2 * x\n"]
ROUND_TRIPS = 200  # tiny calls timed one by one for the round-trip figure


def _cpu_now(zygote_pid: int | None) -> float | None:
    """CPU seconds of this process + the fork server + the sandboxes it has reaped."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    try:
        with open(f"/proc/{zygote_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return s.ru_utime + s.ru_stime + ticks / os.sysconf("SC_CLK_TCK")


def measure_round_trip(sub, calls: int = ROUND_TRIPS) -> dict:
    """Median and 90th percentile (ms) of one proxy round trip: ``f(x)`` with ``x`` a (5, 3)
    array, ``calls`` times after a short warm-up, in a running submission defining ``f``."""
    f = sub.proxy("f")
    x = np.random.default_rng(0).normal(size=(5, 3))
    for _ in range(10):
        f(x)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        f(x)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"round_trip_median_ms": statistics.median(times),
            "round_trip_p90_ms": times[int(0.9 * (len(times) - 1))]}


def measure_overhead(n: int = 30, *, server=None, limits: Limits | None = None,
                     round_trips: int = ROUND_TRIPS, **server_options) -> dict:
    """Time ``n`` rounds of spawn + one call on a 1000-float array + close, in milliseconds.

    Uses ``server`` (a started ForkServer) or starts its own with ``server_options`` (its
    start-up time is reported separately as ``start_ms``). ``cpu_ms_per_submission`` is the CPU
    time of this process, the fork server and the sandboxes per round (all rounds; it includes
    whatever else this process did meanwhile). The first round is a warm-up and is discarded
    from the wall-clock figures.
    """
    from .forkserver import ForkServer

    own = server is None
    start_ms = None
    if own:
        t0 = time.perf_counter()
        server = ForkServer(limits or Limits(), **server_options).start()
        start_ms = (time.perf_counter() - t0) * 1e3
    cpu0 = _cpu_now(server.zygote_pid)
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
        # CPU of grader + fork server + the reaped sandboxes: a figure that depends much less
        # on what else runs on the machine than wall-clock time
        cpu1 = _cpu_now(server.zygote_pid)
        rt = {"round_trip_median_ms": None, "round_trip_p90_ms": None}
        if round_trips:
            with server.spawn(CELLS, limits=limits) as sub:
                rt = measure_round_trip(sub, round_trips)
    finally:
        if own:
            server.close()
    cpu_ms = (cpu1 - cpu0) * 1e3 / (n + 1) if cpu0 is not None and cpu1 is not None else None
    return {
        "n": n,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "spawn_median_ms": statistics.median(spawn_t),
        "call_median_ms": statistics.median(call_t),
        "close_median_ms": statistics.median(close_t),
        **rt,
        "round_trips": round_trips,
        "start_ms": start_ms,
        "cpu_ms_per_submission": cpu_ms,
        "protections": protections,
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 30
    r = measure_overhead(n)
    print(f"sandbox per-submission overhead over {r['n']} rounds: median {r['median_ms']:.1f} ms "
          f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}); spawn {r['spawn_median_ms']:.1f}, "
          f"call {r['call_median_ms']:.1f}, close {r['close_median_ms']:.1f}; "
          f"fork server start {r['start_ms']:.0f} ms; "
          f"CPU {r['cpu_ms_per_submission'] or 0:.1f} ms per submission")
    if r["round_trip_median_ms"] is not None:
        print(f"proxy round trip (f(x), x a (5, 3) array, {r['round_trips']} calls): median "
              f"{r['round_trip_median_ms'] * 1e3:.0f} us, 90th percentile "
              f"{r['round_trip_p90_ms'] * 1e3:.0f} us")
    print("protections:", ", ".join(f"{k}={'on' if v else 'OFF'}" for k, v in
                                    r["protections"].items()))


if __name__ == "__main__":
    main()
