"""Finding processes a sandbox left behind, for the sandbox tests."""

from __future__ import annotations

import os


def ticks() -> float:
    """Clock ticks since boot (the unit of a process's start time in /proc/<pid>/stat)."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK")


def processes_of(uid: int | None, sid: int | None, started_before: float | None = None) -> list[str]:
    """Processes with this real uid or in this session that started before ``started_before``
    (clock ticks since boot; default now). Other graders on the machine may reuse the slot uid as
    soon as it is released, so later processes are not leftovers of the submission under test."""
    if started_before is None:
        started_before = ticks()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                status = f.read()
            with open(f"/proc/{d}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ruid = int(status.split("\nUid:")[1].split()[0])
        if int(stat[19]) > started_before + 1:  # +1: start times are rounded to a tick
            continue
        if (uid is not None and ruid == uid) or (sid is not None and int(stat[3]) == sid):
            found.append(f"{d} state={stat[0]} uid={ruid} sid={stat[3]}")
    return found
