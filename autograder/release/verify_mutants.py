"""verify's mutation stage: hand-written and generated mutants graded by the batch grader, the
kill matrix, and the checks it answers (dead cases, surviving mutants, kill rates).

``MutationOptions`` holds the one set of defaults (``autograder verify`` and the CI test use
them). ``assignments/<hw>/equivalent_mutants.toml`` lists generated mutants judged equivalent::

    [[equivalent]]
    id = "sgd_step:TransposeResult:1a2b3c4d"
    reason = "theta is 1-D in every case the contract allows: transposing changes nothing"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.release.generated_mutants import generate_mutants
from autograder.release.kill_matrix import (
    ERRORED,
    GRADED,
    REFERENCE_ID,
    BatchRun,
    KillMatrix,
    MutantSpec,
    grade_mutants,
    hand_written_source,
    rate_text,
)
from autograder.release.mutants import mutant_files

if TYPE_CHECKING:
    from autograder.release.sources import AssignmentSource
    from autograder.release.verify import VerifyReport
    from autograder.testfiles import Question

EQUIVALENT_FILE = "equivalent_mutants.toml"


@dataclass(frozen=True)
class MutationOptions:
    #: Generated mutants per stub (categories take turns: see generated_mutants.CATEGORY_ORDER).
    per_stub: int = 4
    #: Seconds for grading one assignment's mutants; what is left then is reported, not graded.
    budget_s: float = 240.0
    #: Parallel grading workers (default: all cores).
    workers: int | None = None


@dataclass(frozen=True)
class Equivalent:
    id: str
    reason: str


@dataclass
class MutationResult:
    options: MutationOptions
    matrix: KillMatrix
    run: BatchRun
    equivalent: list[Equivalent] = field(default_factory=list)
    generated: int = 0
    hand_written: int = 0

    @property
    def equivalent_ids(self) -> set[str]:
        return {e.id for e in self.equivalent}


def load_equivalents(path: Path) -> tuple[list[Equivalent], list[str]]:
    """The judged-equivalent mutants of ``path`` and what is wrong with the file (if anything)."""
    if not path.is_file():
        return [], []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        return [], [f"{path.name} is not valid TOML: {error}"]
    out, problems = [], []
    for i, entry in enumerate(data.get("equivalent", [])):
        mid = str(entry.get("id", "")).strip() if isinstance(entry, dict) else ""
        reason = str(entry.get("reason", "")).strip() if isinstance(entry, dict) else ""
        if not mid or not reason:
            problems.append(f"{path.name} entry {i + 1} needs both `id` and `reason`")
            continue
        out.append(Equivalent(mid, reason))
    return out, problems


def stub_names(questions: list[Question], reference_source: str) -> list[str]:
    """The functions the tests ask for that the reference module defines."""
    import ast

    defined = {n.name for n in ast.parse(reference_source).body if isinstance(n, ast.FunctionDef)}
    asked = {p for q in questions for c in q.cases for p in c.params}
    return sorted(defined & asked)


def mutant_specs(source: AssignmentSource, questions: list[Question], per_stub: int) -> tuple[
    str, list[MutantSpec]
]:
    reference = source.solutions_path.read_text(encoding="utf-8")
    specs = [
        MutantSpec(path.stem, "hand-written", path.stem.split("__")[0],
                   hand_written_source(reference, path.read_text(encoding="utf-8")))
        for path in mutant_files(source.mutants_dir)
    ]
    if per_stub > 0:
        specs += [
            MutantSpec(m.id, "generated", m.stub, m.source, m.category, m.diff)
            for m in generate_mutants(reference, stub_names(questions, reference), per_stub)
        ]
    return reference, specs


def run_mutation_stage(
    report: VerifyReport,
    source: AssignmentSource,
    questions: list[Question],
    bundle_dir: Path,
    options: MutationOptions,
) -> MutationResult:
    """Grade every mutant, build the kill matrix and add its checks to ``report``."""
    reference, specs = mutant_specs(source, questions, options.per_stub)
    run = grade_mutants(reference, specs, bundle_dir, budget_s=options.budget_s,
                        workers=options.workers)
    matrix = KillMatrix.from_run(run, specs)
    equivalent, problems = load_equivalents(source.assignment_dir / EQUIVALENT_FILE)
    result = MutationResult(
        options, matrix, run, equivalent,
        generated=sum(s.kind == "generated" for s in specs),
        hand_written=sum(s.kind == "hand-written" for s in specs),
    )

    control = run.graded.get(REFERENCE_ID)
    failing = [c.key for c in control.cases if not c.passed] if control else []
    control_ok = control is not None and control.status == GRADED and not failing and bool(
        control.cases)
    report.add(
        "batch grader: reference full marks (control for the kill matrix)",
        control_ok,
        f"{len(control.cases)} cases passed in the sandbox" if control_ok else
        (f"status {control.status}: {control.message[:200]}; failing: {', '.join(failing[:5])}"
         if control else "the reference was not graded")
        + ("" if control_ok else " (fix: `autograder grade` must work on this machine; run "
           "it on solutions/ as a script to see why)"),
    )
    if not control_ok:
        return result

    unfinished = [sid for sid, st in matrix.statuses.items() if st != GRADED]
    report.add(
        f"every mutant graded within {options.budget_s:g} s",
        not run.not_graded and not unfinished,
        (f"{len(run.not_graded)} of {len(specs)} not graded when the budget ran out (fix: "
         "`--budget` higher or `--per-stub` lower)" if run.not_graded else "")
        + ("; not graded normally: " + ", ".join(f"{s} ({matrix.statuses[s]})"
                                                  for s in unfinished[:5]) if unfinished else "")
        or f"{len(specs)} mutants ({result.hand_written} hand-written, {result.generated} "
           f"generated) in {run.elapsed_s:.1f} s on {run.workers} workers",
    )

    dead = matrix.dead_cases()
    report.add(
        "every case kills a mutant (kill matrix)",
        not dead,
        "; ".join(
            f"{c.key} kills none of {len(matrix.mutants)} mutants"
            + (f" (fails only on {len(matrix.kills(c.key, outcome=ERRORED))} that raise)"
               if matrix.kills(c.key, outcome=ERRORED) else "")
            for c in dead
        ) + (": no check of it can fail (a `return` before its assert? the expected value "
             "compared with itself?); fix the case, or add the hand-written mutant it exists "
             "to catch" if dead else "")
        or f"{len(matrix.cases)} cases, each kills at least one of {len(matrix.mutants)} mutants",
    )

    hand_survivors = matrix.survivors("hand-written")
    report.add(
        "every hand-written mutant killed by the batch grader",
        not hand_survivors,
        "; ".join(f"{m.id} passes all {len(matrix.passed_cases(m.id))} cases" for m in
                  hand_survivors)
        + (" (fix: add the test its docstring promises, or delete the mutant)"
           if hand_survivors else "")
        or f"{result.hand_written - len(hand_survivors)}/{result.hand_written} killed",
    )

    generated_ids = {m.id for m in matrix.mutants if m.kind == "generated"}
    survivors = {m.id for m in matrix.survivors("generated")}
    wrongly = sorted(e.id for e in equivalent if e.id in generated_ids and e.id not in survivors)
    problems += [f"{EQUIVALENT_FILE} lists {mid} as equivalent, but "
                 f"{', '.join(matrix.killers(mid)[:3])} kills it (fix: remove the entry)"
                 for mid in wrongly]
    killed, counted = matrix.kill_rates(exclude=result.equivalent_ids).get("*", (0, 0))
    open_survivors = sorted(survivors - result.equivalent_ids)
    report.add(
        "generated mutants: kill rate",
        not problems,
        "; ".join(problems)
        or f"{rate_text(killed, counted)} killed; {len(survivors & result.equivalent_ids)} "
           f"survivors judged equivalent ({EQUIVALENT_FILE}); {len(open_survivors)} survivors "
           "to kill with a new test or judge equivalent" + (
               f": {', '.join(open_survivors[:6])}" if open_survivors else ""),
    )
    return result
