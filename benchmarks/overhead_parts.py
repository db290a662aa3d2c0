"""Where the sandbox's overhead goes, measured in the benchmark's own run (benchmarks/grading.py).

The overhead is a difference of two wall-clock medians; this splits its CPU side by process:

* the grader (the benchmark process, standing in for a worker) against the tests' own work
  in-process: the extra is the requests' grader end (arguments into shared memory, messages
  encoded and parsed, answers judged) and the sandbox's bookkeeping;
* the sandboxes against the student's code in-process (the cells and the calls the tests
  make): the extra is a fresh process's price (set-up, the pages it copies from the fork
  server as it first writes to them, exit) and the requests' sandbox end;
* the fork server: the fork, the clean-up, the pages it copies while a sandbox shares them;

with the page copies counted from ``/proc`` (minor faults), and the bare price of a sandbox that
runs one trivial cell. CPU times of the fork server and the sandboxes come from the fork
server's ``/proc/<pid>/stat`` (its own ticks and those of the sandboxes it reaped).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Reading:
    grader_s: float
    server_s: float
    sandboxes_s: float
    server_faults: int
    sandbox_faults: int

    @classmethod
    def now(cls, server_pid: int | None) -> Reading:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        grader = usage.ru_utime + usage.ru_stime
        try:
            with open(f"/proc/{server_pid}/stat") as handle:
                f = handle.read().rsplit(")", 1)[1].split()
            # fields after the name: 7 minflt, 8 cminflt, 11 utime, 12 stime, 13 cutime, 14 cstime
            return cls(grader, (int(f[11]) + int(f[12])) / _TCK, (int(f[13]) + int(f[14])) / _TCK,
                       int(f[7]), int(f[8]))
        except (OSError, TypeError, ValueError, IndexError):
            return cls(grader, 0.0, 0.0, 0, 0)

    def minus(self, other: Reading) -> Reading:
        return Reading(self.grader_s - other.grader_s, self.server_s - other.server_s,
                       self.sandboxes_s - other.sandboxes_s, self.server_faults - other.server_faults,
                       self.sandbox_faults - other.sandbox_faults)


@dataclass
class Parts:
    """Sums over gradings, divided by their count when printed."""

    gradings: int = 0
    total: Reading = field(default_factory=lambda: Reading(0.0, 0.0, 0.0, 0, 0))
    bare: int = 0
    bare_total: Reading = field(default_factory=lambda: Reading(0.0, 0.0, 0.0, 0, 0))

    def add(self, delta: Reading, count: int, bare: bool = False) -> None:
        if bare:
            self.bare += count
            self.bare_total = _plus(self.bare_total, delta)
        else:
            self.gradings += count
            self.total = _plus(self.total, delta)

    def as_dict(self, inprocess: dict | None, requests: int) -> dict:
        """Per grading, in ms (faults as counts): what the table and the JSON carry."""
        if not self.gradings:
            return {}
        n = self.gradings
        out = {
            "grader_cpu_ms": self.total.grader_s * 1000 / n,
            "server_cpu_ms": self.total.server_s * 1000 / n,
            "sandboxes_cpu_ms": self.total.sandboxes_s * 1000 / n,
            "server_page_copies": self.total.server_faults / n,
            "sandbox_page_copies": self.total.sandbox_faults / n,
            "requests": requests,
        }
        if self.bare:
            b = self.bare_total
            out["bare_cpu_ms"] = (b.grader_s + b.server_s + b.sandboxes_s) * 1000 / self.bare
            out["bare_page_copies"] = (b.server_faults + b.sandbox_faults) / self.bare
        if inprocess:
            out.update({f"inprocess_{k}": v for k, v in inprocess.items()})
        return out


def _plus(a: Reading, b: Reading) -> Reading:
    return Reading(a.grader_s + b.grader_s, a.server_s + b.server_s, a.sandboxes_s + b.sandboxes_s,
                   a.server_faults + b.server_faults, a.sandbox_faults + b.sandbox_faults)


def lines(parts: dict) -> list[str]:
    """The printed explanation of the CPU overhead (empty when it was not measured)."""
    if not parts or "inprocess_tests_ms" not in parts:
        return []
    p = parts
    tests, student = p["inprocess_tests_ms"], p["inprocess_cells_ms"] + p["inprocess_student_ms"]
    grader_extra = p["grader_cpu_ms"] - tests - p["inprocess_parse_ms"]
    sandbox_extra = p["sandboxes_cpu_ms"] - student
    requests = max(1, int(p["requests"]))
    out = [
        "    where the CPU overhead goes (per grading of that submission, this run):",
        f"      grader      {p['grader_cpu_ms']:6.1f} ms against {tests:.1f} ms of the tests' own "
        f"work in-process (+ {p['inprocess_parse_ms']:.1f} ms parsing the notebook in "
        f"both): {grader_extra:+.1f} ms, the grader end of {requests} requests (the calls "
        "in them encoded, observed and judged one by one) and the verdict plumbing",
        f"      sandbox     {p['sandboxes_cpu_ms']:6.1f} ms against {student:.1f} ms of the "
        f"student's code in-process (cells {p['inprocess_cells_ms']:.1f}, calls "
        f"{p['inprocess_student_ms']:.1f}): {sandbox_extra:+.1f} ms, a fresh process "
        f"({p['sandbox_page_copies']:.0f} pages copied from the fork server on first write, at "
        "about 1.7 us each here) and the sandbox end of the requests",
        f"      fork server {p['server_cpu_ms']:6.1f} ms: fork, clean-up, "
        f"{p['server_page_copies']:.0f} pages it copies while a sandbox shares them",
    ]
    if "bare_cpu_ms" in p:
        out.append(f"      (a sandbox that runs one trivial cell and closes costs "
                   f"{p['bare_cpu_ms']:.1f} ms of CPU in all three processes, "
                   f"{p['bare_page_copies']:.0f} page copies: the fixed price per submission)")
    return out
