"""Grade mutants with the real batch grader and tabulate which case kills which mutant.

Every mutant (hand-written or generated) becomes a ``.py`` submission: the reference module with
the mutant's functions laid over it. They are graded by ``grade_class``, the function behind
``autograder grade`` (its sandbox, workers and store), against the bundle verify has just built,
in chunks, until the time budget is spent. The unmutated reference is graded first as a
control: when the batch grader does not give it full marks, no kill below means anything.

A case *kills* a mutant when a check of the case rejects what the mutant returned (the failure
ends in ``AssertionError``); it *errors* on a mutant when the mutant's code raised, timed out or
broke its sandbox. A case that kills nothing is dead: it still calls the student's function, so
crashing mutants fail it, but none of its checks can fail (``return`` before the assert, an
expected value compared with itself).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Sandbox limits for mutants (a reference case takes well under a second): a mutant that loops
#: for ever costs seconds, not the grader's default ten per call.
MUTANT_LIMITS = {"call_wall_s": 4.0, "call_cpu_s": 4.0, "run_wall_s": 10.0, "run_cpu_s": 10.0}
#: Submissions graded per ``grade_class`` call; the budget is checked between chunks.
CHUNK = 48
REFERENCE_ID = "reference"
GRADED = "graded"
KILLED, ERRORED, PASSED = "killed", "errored", "passed"

_CHECK_FAILED = re.compile(r"^AssertionError\b", re.MULTILINE)


@dataclass(frozen=True)
class MutantSpec:
    id: str
    kind: str  # "hand-written" | "generated"
    stub: str
    source: str  # the submission's text
    category: str = ""
    diff: str = ""


@dataclass(frozen=True)
class CaseRun:
    question: str
    case: str
    hidden: bool
    passed: bool
    message: str
    duration_s: float

    @property
    def key(self) -> str:
        return f"{self.question}/{self.case}"

    @property
    def outcome(self) -> str:
        if self.passed:
            return PASSED
        return KILLED if _CHECK_FAILED.search(self.message) else ERRORED


@dataclass(frozen=True)
class Graded:
    id: str
    status: str
    message: str
    cases: tuple[CaseRun, ...]


@dataclass
class BatchRun:
    graded: dict[str, Graded] = field(default_factory=dict)
    not_graded: list[str] = field(default_factory=list)  # the budget ran out first
    elapsed_s: float = 0.0
    workers: int = 1


def _file_name(sid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", sid) + ".py"


def hand_written_source(reference: str, mutant: str) -> str:
    """The reference, then the mutant in a cell of its own (``# %%``): its definitions win."""
    return reference.rstrip("\n") + "\n\n# %%\n" + mutant


def grade_mutants(
    reference_source: str,
    mutants: list[MutantSpec],
    bundle_dir: Path,
    *,
    budget_s: float,
    workers: int | None = None,
    limits: Mapping[str, float] | None = None,
) -> BatchRun:
    """Grade the reference (first) and ``mutants`` through ``grade_class``, chunk by chunk,
    until ``budget_s`` seconds have passed; what is left is listed in ``not_graded``."""
    from rich.console import Console

    from autograder.grade.batch import grade_class
    from autograder.grade.store import Store

    started = time.monotonic()
    workers = max(1, int(workers or os.cpu_count() or 1))
    run = BatchRun(workers=workers)
    todo = [(REFERENCE_ID, reference_source)] + [(m.id, m.source) for m in mutants]
    quiet = Console(file=open(os.devnull, "w"), stderr=False)  # noqa: SIM115 - closed below
    try:
        with tempfile.TemporaryDirectory(prefix="verify-mutants-") as tmp:
            for index in range(0, len(todo), CHUNK):
                chunk = todo[index : index + CHUNK]
                if index and time.monotonic() - started > budget_s:
                    run.not_graded += [sid for sid, _ in chunk]
                    continue
                subs = Path(tmp) / f"chunk{index}" / "submissions"
                out = Path(tmp) / f"chunk{index}" / "out"
                subs.mkdir(parents=True)
                names = {}
                for sid, text in chunk:
                    name = _file_name(sid)
                    names[Path(name).stem] = sid
                    (subs / name).write_text(text, encoding="utf-8")
                grade_class(
                    subs, bundle_dir, out, workers=min(workers, len(chunk)),
                    limits=dict(limits or MUTANT_LIMITS), progress=False, console=quiet,
                    feedback_pages=False,
                )
                with Store(out / "results.sqlite") as store:
                    for sub in store.submissions():
                        sid = names.get(sub["id"], sub["id"])
                        cases = tuple(
                            CaseRun(c["question"], c["name"], bool(c["hidden"]), bool(c["passed"]),
                                    c["message"], float(c["duration_s"]))
                            for c in store.cases(sub["id"])
                        )
                        run.graded[sid] = Graded(sid, sub["status"], sub["message"], cases)
    finally:
        quiet.file.close()
    run.elapsed_s = time.monotonic() - started
    return run


@dataclass
class KillMatrix:
    """Per case, the mutants it kills; per mutant, the cases that kill it."""

    cases: list[CaseRun]  # the reference control's cases, in bundle order
    mutants: list[MutantSpec]
    outcomes: dict[str, dict[str, str]]  # mutant id -> case key -> killed/errored/passed
    statuses: dict[str, str]
    durations: dict[str, float] = field(default_factory=dict)  # case key -> seconds, all runs

    @classmethod
    def from_run(cls, run: BatchRun, mutants: list[MutantSpec]) -> KillMatrix:
        control = run.graded.get(REFERENCE_ID)
        cases = list(control.cases) if control else []
        outcomes, statuses, durations = {}, {}, {}
        for graded in run.graded.values():
            for case in graded.cases:
                durations[case.key] = durations.get(case.key, 0.0) + case.duration_s
        for mutant in mutants:
            graded = run.graded.get(mutant.id)
            if graded is None:
                continue
            statuses[mutant.id] = graded.status
            outcomes[mutant.id] = {c.key: c.outcome for c in graded.cases}
        return cls(cases, [m for m in mutants if m.id in outcomes], outcomes, statuses, durations)

    def killers(self, mutant_id: str) -> list[str]:
        """Cases that fail on the mutant (by a check or by the mutant's error)."""
        return [key for key, o in self.outcomes[mutant_id].items() if o != PASSED]

    def kills(self, case_key: str, *, outcome: str = KILLED) -> list[str]:
        return [m.id for m in self.mutants if self.outcomes[m.id].get(case_key) == outcome]

    def survivors(self, kind: str | None = None) -> list[MutantSpec]:
        return [m for m in self.mutants if (kind is None or m.kind == kind)
                and not self.killers(m.id)]

    def passed_cases(self, mutant_id: str) -> list[str]:
        return [key for key, o in self.outcomes[mutant_id].items() if o == PASSED]

    def dead_cases(self) -> list[CaseRun]:
        return [case for case in self.cases if not self.kills(case.key)]

    def kill_rates(self, kind: str = "generated", exclude: set[str] = frozenset()) -> dict:
        """``{stub: (killed, counted)}`` and ``"*"`` for the whole assignment; mutants in
        ``exclude`` (judged equivalent) are not counted."""
        rates: dict[str, list[int]] = {}
        for mutant in self.mutants:
            if mutant.kind != kind or mutant.id in exclude:
                continue
            for key in (mutant.stub, "*"):
                entry = rates.setdefault(key, [0, 0])
                entry[0] += bool(self.killers(mutant.id))
                entry[1] += 1
        return {key: (k, n) for key, (k, n) in rates.items()}

    def case_cost_s(self, case_key: str) -> float:
        """Seconds the case took over every graded submission (what it costs a verify run)."""
        return self.durations.get(case_key, 0.0)


def rate_text(killed: int, counted: int) -> str:
    return f"{killed}/{counted} ({100.0 * killed / counted:.0f}%)" if counted else "0/0"
