"""``autograder demo``: build what is missing and grade the bundled demo class of every assignment.

The demo class lives in ``examples/<hw>/submissions/`` (made by ``examples/generate.py``): correct
notebooks, partly correct ones, typical mistakes, hostile ones and unreadable inputs, each named
after what it is, with ``examples/<hw>/manifest.json`` saying what a correct grader makes of it.
``run_demo`` builds any missing or stale bundle (``build/<hw>/``), grades each class into a fresh
output folder (``demo-out/<hw>/``: ``grades.csv``, ``results/``, ``results.sqlite``,
``summary.html``, ``feedback/<id>.html``), prints the
summary per assignment, checks every outcome against the manifest and says where the outputs are.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.release.sources import ASSIGNMENTS, PROJECT_ROOT

#: Written into the output folder so that a later run may wipe it (and nothing else).
MARKER = ".autograder-demo"
DEFAULT_OUT = "demo-out"

#: Limits of the demo: tighter wall-clock limits than the grader's defaults, so the hostile
#: submissions (infinite loops, floods) cost seconds rather than minutes.
DEMO_LIMITS = {
    "run_wall_s": 5.0,
    "run_cpu_s": 4.0,
    "call_wall_s": 2.0,
    "call_cpu_s": 2.0,
    "memory_mb": 768,
}

#: Statuses meaning "the file could not be turned into cells".
UNREADABLE = {"invalid_notebook", "empty", "unsafe_zip"}


class DemoError(Exception):
    """The demo cannot run; the message says what to do."""


@dataclass
class Outcome:
    """One submission's grade next to what the manifest expects of it."""

    id: str
    status: str
    score: float
    max_score: float
    expect: str
    ok: bool
    description: str = ""
    questions: dict[str, float] = field(default_factory=dict)


@dataclass
class AssignmentReport:
    hw: str
    out_dir: Path
    summary: Any  # autograder.grade.GradeSummary
    outcomes: list[Outcome]
    build_note: str
    seconds: float

    @property
    def unexpected(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


# -- building ---------------------------------------------------------------------------------


def bundle_is_current(hw: str, repo_root: Path, build_dir: Path) -> bool:
    """True when ``build_dir/<hw>`` exists and was built from the current sources."""
    from autograder.release.sources import assignment_source, source_hash

    manifest = build_dir / hw / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        stored = json.loads(manifest.read_text(encoding="utf-8")).get("source_hash")
    except ValueError:
        return False
    return stored == source_hash(assignment_source(hw, repo_root=repo_root))


def ensure_bundle(hw: str, repo_root: Path, build_dir: Path) -> str:
    """Build ``build_dir/<hw>`` when it is missing or stale; returns what was done.

    The student template is built into a temporary folder: the demo never rewrites the
    committed ``student_template/``.
    """
    if bundle_is_current(hw, repo_root, build_dir):
        return "bundle up to date"
    from autograder.release.core import build_assignment

    started = time.monotonic()
    existed = (build_dir / hw / "manifest.json").is_file()
    with tempfile.TemporaryDirectory(prefix=f"demo-template-{hw}-") as tmp:
        build_assignment(hw, repo_root=repo_root, out_dir=build_dir, template_dir=tmp)
    verb = "rebuilt stale" if existed else "built missing"
    return f"{verb} bundle in {time.monotonic() - started:.1f} s"


# -- the output folder ------------------------------------------------------------------------


def fresh_out_dir(out: Path) -> Path:
    """Empty ``out`` (only if a previous demo made it, or it is empty) and mark it as ours."""
    out = out.resolve()
    if out.exists():
        if not out.is_dir():
            raise DemoError(f"{out} exists and is not a folder: choose another --out")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise DemoError(
                f"{out} is not empty and was not made by `autograder demo`: "
                "choose another --out or remove it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `autograder demo`; wiped by the next run\n")
    return out


# -- expectations -----------------------------------------------------------------------------


def read_grades(csv_path: Path) -> dict[str, dict]:
    rows = {}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["submission"]] = row
    return rows


def _float(text: str | None) -> float:
    try:
        return float(text or 0.0)
    except ValueError:
        return 0.0


def meets(entry: dict, row: dict | None, question_max: dict[str, float]) -> bool:
    """Whether a graded row matches what the manifest expects of the submission."""
    if row is None:
        return False
    status = row.get("status", "")
    if status == "error":  # an internal grader error is never what anyone expects
        return False
    total = _float(row.get("total"))
    possible = _float(row.get("max_total")) or sum(question_max.values())
    full = abs(total - possible) < 1e-9 and possible > 0
    lost = [q for q in entry.get("fails", []) if _float(row.get(q)) < question_max.get(q, 0.0)]
    expect = entry.get("expect", "any")
    if expect == "full":
        return full
    if expect == "zero":
        return total == 0.0
    if expect == "partial":
        return 0.0 < total < possible and len(lost) == len(entry.get("fails", []))
    if expect == "fails":
        return len(lost) == len(entry.get("fails", [])) and not full
    if expect == "rejected-or-zero":
        return total == 0.0
    if expect == "full-or-rejected":
        return full or (total == 0.0 and status in UNREADABLE)
    return True  # "any": it is graded, whatever the sandbox's limits made of it


def check_outcomes(hw: str, examples_dir: Path, csv_path: Path, manifest: dict) -> list[Outcome]:
    question_max = {q["name"]: float(q.get("points", 0.0)) for q in manifest["questions"]}
    class_manifest = examples_dir / hw / "manifest.json"
    entries = []
    if class_manifest.is_file():
        entries = json.loads(class_manifest.read_text(encoding="utf-8"))["submissions"]
    rows = read_grades(csv_path)
    outcomes = []
    for entry in entries:
        row = rows.get(entry["id"])
        outcomes.append(
            Outcome(
                id=entry["id"],
                status=row["status"] if row else "missing",
                score=_float(row.get("total")) if row else 0.0,
                max_score=_float(row.get("max_total")) if row else sum(question_max.values()),
                expect=entry.get("expect", "any")
                + (f" ({', '.join(entry['fails'])})" if entry.get("fails") else ""),
                ok=meets(entry, row, question_max),
                description=entry.get("description", ""),
                questions={q: _float(row.get(q)) for q in question_max} if row else {},
            )
        )
    return outcomes


# -- console ----------------------------------------------------------------------------------


class _HoldSandboxNotice:
    """A stream for the grader's console that holds back its sandbox-protection notice (which
    ``grade_class`` prints for every assignment): the demo prints it once itself."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.sandbox_lines: list[str] = []

    def write(self, text: str) -> int:
        if "sandbox:" in text and "\n" in text and len(text) < 2000:
            self.sandbox_lines.append(text.strip())
            return len(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _held_notice(stream: _HoldSandboxNotice) -> str:
    for line in stream.sandbox_lines:
        return re.sub(r"\x1b\[[0-9;]*m", "", line).split("sandbox:", 1)[1].strip()
    return ""


def _outcome_table(report: AssignmentReport):
    from rich.table import Table

    table = Table(title=f"{report.hw}: every submission", title_justify="left")
    table.add_column("submission")
    table.add_column("status")
    table.add_column("score", justify="right")
    table.add_column("expected")
    table.add_column("")
    for o in report.outcomes:
        mark = "[green]as expected[/]" if o.ok else "[red]UNEXPECTED[/]"
        table.add_row(o.id, o.status, f"{o.score:g}/{o.max_score:g}", o.expect, mark)
    return table


def _overview_table(reports: list[AssignmentReport]):
    from rich.table import Table

    table = Table(title="demo class: overview", title_justify="left")
    for name, justify in (
        ("assignment", "left"),
        ("submissions", "right"),
        ("full marks", "right"),
        ("zero", "right"),
        ("mean", "right"),
        ("as expected", "right"),
        ("seconds", "right"),
    ):
        table.add_column(name, justify=justify)
    for r in reports:
        totals = list(r.summary.totals.values())
        possible = r.summary.max_total
        full = sum(1 for t in totals if possible and abs(t - possible) < 1e-9)
        zero = sum(1 for t in totals if t == 0.0)
        mean = sum(totals) / len(totals) if totals else 0.0
        ok = sum(1 for o in r.outcomes if o.ok)
        table.add_row(
            r.hw,
            str(len(totals)),
            str(full),
            str(zero),
            f"{mean:.1f}/{possible:g}",
            f"{ok}/{len(r.outcomes)}",
            f"{r.seconds:.1f}",
        )
    return table


# -- the demo ---------------------------------------------------------------------------------


def run_demo(
    *,
    out: str | Path | None = None,
    assignments: list[str] | tuple[str, ...] | None = None,
    workers: int | None = None,
    limits: dict | None = None,
    details: bool = False,
    strict: bool = False,
    repo_root: str | Path | None = None,
    examples_dir: str | Path | None = None,
    build_dir: str | Path | None = None,
    console: Any = None,
) -> int:
    """Build what is missing, grade the demo class of each assignment, print and return 0.

    ``strict``: return 1 when any submission's outcome differs from its manifest's expectation.
    Raises ``DemoError`` (a message naming the fix) when the checkout lacks what the demo needs.
    """
    from rich.console import Console

    from autograder.grade import grade_class
    from autograder.release.bundles import default_bundle_dir
    from autograder.release.sources import BuildError

    repo_root = Path(repo_root) if repo_root is not None else PROJECT_ROOT
    examples_dir = Path(examples_dir) if examples_dir is not None else repo_root / "examples"
    build_dir = Path(build_dir) if build_dir is not None else default_bundle_dir(repo_root)
    hws = list(assignments or ASSIGNMENTS)
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    for hw in hws:
        if not (examples_dir / hw / "submissions").is_dir():
            raise DemoError(
                f"no demo class at {examples_dir / hw / 'submissions'}: "
                "run `python examples/generate.py` in the repository"
            )
        if not (repo_root / "assignments" / hw).is_dir():
            raise DemoError(f"unknown assignment {hw}: no {repo_root / 'assignments' / hw}")
    out_root = fresh_out_dir(Path(out) if out is not None else Path.cwd() / DEFAULT_OUT)
    limit_values = {**DEMO_LIMITS, **(limits or {})}
    n_total = sum(
        1 for hw in hws for p in (examples_dir / hw / "submissions").iterdir() if p.is_file()
    )
    console.print(
        f"[bold]autograder demo[/]: {len(hws)} assignment(s), {n_total} submissions "
        f"-> {out_root}",
        soft_wrap=True,
    )
    console.print(
        f"demo limits per submission: cells {limit_values['run_wall_s']:g} s, each call "
        f"{limit_values['call_wall_s']:g} s, memory {limit_values['memory_mb']} MB "
        "(tighter than `autograder grade`'s defaults, so the hostile ones cost seconds)"
    )
    grader_stream = _HoldSandboxNotice(sys.stderr)
    grader_console = Console(file=grader_stream, highlight=False)
    reports: list[AssignmentReport] = []
    protections = ""
    started_all = time.monotonic()
    for hw in hws:
        console.rule(f"[bold]{hw}")
        try:
            note = ensure_bundle(hw, repo_root, build_dir)
        except BuildError as error:
            raise DemoError(f"cannot build {hw}: {error}") from None
        console.print(f"{note}: {build_dir / hw}", soft_wrap=True)
        started = time.monotonic()
        summary = grade_class(
            examples_dir / hw / "submissions",
            build_dir / hw,
            out_root / hw,
            workers=workers,
            limits=limit_values,
            progress=True,
            console=grader_console,
        )
        manifest = json.loads((build_dir / hw / "manifest.json").read_text(encoding="utf-8"))
        report = AssignmentReport(
            hw=hw,
            out_dir=out_root / hw,
            summary=summary,
            outcomes=check_outcomes(hw, examples_dir, summary.csv_path, manifest),
            build_note=note,
            seconds=time.monotonic() - started,
        )
        reports.append(report)
        if details:
            console.print(_outcome_table(report))
        ok = sum(1 for o in report.outcomes if o.ok)
        console.print(
            f"{len(summary.totals)} graded in {report.seconds:.1f} s; "
            f"{ok}/{len(report.outcomes)} as the manifest expects"
        )
        for o in report.unexpected:
            console.print(
                f"  [red]unexpected[/] {o.id}: expected {o.expect}, got {o.score:g}/{o.max_score:g} "
                f"({o.status})"
            )
        if not protections:  # printed once, as soon as a grading run reports it
            protections = summary.protections_message or _held_notice(grader_stream)
            if protections:
                console.print(f"[yellow]{protections}[/]")

    console.rule("[bold]summary")
    console.print(_overview_table(reports))
    for r in reports:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(r.summary.by_status.items()))
        console.print(f"{r.hw} statuses: {statuses}")
    if not protections:
        console.print("sandbox: every protection is in force")
    console.print("outputs:")
    for r in reports:
        n_results = len(list(r.summary.results_dir.glob("*.json"))) if r.summary.results_dir.is_dir() else 0
        pad = " " * len(r.hw)
        console.print(f"  {r.hw}: {r.summary.csv_path}", soft_wrap=True)
        console.print(f"  {pad}  {r.summary.results_dir}/ ({n_results} files)", soft_wrap=True)
        console.print(f"  {pad}  {r.summary.db_path}", soft_wrap=True)
        console.print(f"  {pad}  {r.out_dir / 'summary.html'} (class summary; feedback pages in "
                      f"{r.out_dir / 'feedback'}/)", soft_wrap=True)
    if len(reports) > 1:  # the course table: the lecture's rule, best n-1 of n
        from autograder.report.gradebook import build_gradebook, read_assignment, write_course_csv

        book = build_gradebook([read_assignment(f"{r.hw}={r.out_dir}") for r in reports],
                               drop_lowest=1)
        course = write_course_csv(out_root / "course.csv", book)
        console.print(f"  course table (best {len(reports) - 1} of {len(reports)} assignments, "
                      f"`autograder gradebook`): {course}", soft_wrap=True)
    unexpected = sum(len(r.unexpected) for r in reports)
    console.print(
        f"total {time.monotonic() - started_all:.1f} s; "
        + ("every outcome as expected" if not unexpected else f"{unexpected} unexpected outcome(s)")
        + " (see examples/<hw>/manifest.json)"
    )
    return 1 if strict and unexpected else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.demo`` (the CLI's ``autograder demo`` forwards to ``run_demo``)."""
    import argparse

    parser = argparse.ArgumentParser(description="Grade the bundled demo class.")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--assignment", "-a", action="append", default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--details", action="store_true")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run_demo(
            out=args.out,
            assignments=args.assignment,
            workers=args.workers,
            details=args.details,
            strict=args.strict,
        )
    except DemoError as error:
        print(f"autograder demo: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
