"""What ``autograder build`` and ``autograder verify`` print; each returns the exit code."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.release.bundles import default_bundle_dir, default_repo_root
from autograder.release.core import build_assignment, check_template
from autograder.release.sources import BuildError, known_assignments
from autograder.release.verify import verify_assignment
from autograder.release.verify_mutants import MutationOptions
from autograder.release.verify_report import print_mutation, write_verify_json


def _console() -> Console:
    # Piped output (CI logs) gets a readable width instead of 80 columns.
    probe = Console()
    return probe if probe.is_terminal else Console(width=140)


def _resolve(hws: tuple[str, ...], repo_root: Path, console: Console) -> list[str] | None:
    available = known_assignments(repo_root)
    chosen = list(hws) or available
    unknown = [hw for hw in chosen if hw not in available]
    if unknown:
        console.print(
            f"[red]unknown assignment(s): {', '.join(unknown)}[/red] "
            f"(found under {repo_root / 'assignments'}: {', '.join(available) or 'none'})"
        )
        return None
    if not chosen:
        console.print(f"[red]no assignments under {repo_root / 'assignments'}[/red]")
        return None
    return chosen


def run_build(
    hws: tuple[str, ...],
    *,
    repo_root: Path | None = None,
    out_dir: Path | None = None,
    template_dir: Path | None = None,
    check: bool = False,
    make_zip: bool = True,
    console: Console | None = None,
) -> int:
    console = console or _console()
    repo_root = (repo_root or default_repo_root()).resolve()
    chosen = _resolve(hws, repo_root, console)
    if chosen is None:
        return 2
    failed = False
    if check:
        for hw in chosen:
            try:
                problems = check_template(hw, repo_root=repo_root, template_dir=template_dir)
            except BuildError as error:
                console.print(f"[red]{hw}: build failed[/red]\n{error}", markup=False)
                failed = True
                continue
            if problems:
                failed = True
                console.print(f"{hw}: student_template is stale (run `autograder build {hw}`):")
                for problem in problems:
                    console.print(f"  {problem}", markup=False)
            else:
                console.print(f"{hw}: student_template is current")
        return 1 if failed else 0

    table = Table(title="autograder build")
    for column in ("assignment", "questions", "points", "public cases", "hidden cases"):
        table.add_column(column, no_wrap=True)
    out_dir = Path(out_dir).resolve() if out_dir is not None else default_bundle_dir(repo_root)
    written = []
    built = []
    for hw in chosen:
        try:
            result = build_assignment(
                hw,
                repo_root=repo_root,
                out_dir=out_dir,
                template_dir=template_dir,
                make_zip=make_zip,
            )
        except BuildError as error:
            failed = True
            console.print(f"{hw}: build failed", style="red")
            console.print(str(error), markup=False, highlight=False)
            table.add_row(hw, "FAILED", "-", "-", "-")
            continue
        table.add_row(
            hw,
            str(len(result.questions)),
            f"{result.total_points:g}",
            str(sum(q.public_cases for q in result.questions)),
            str(sum(q.hidden_cases for q in result.questions)),
        )
        written += [result.template_path, result.bundle_path]
        if result.zip_path:
            written.append(result.zip_path)
        built.append(hw)
    console.print(table)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)
    if built:
        option = "" if out_dir == default_bundle_dir(repo_root) else f" --bundle-dir {out_dir}"
        console.print(
            f"bundles in {out_dir}; grade from any folder with: autograder grade SUBMISSIONS "
            f"-a {built[0]} --out OUT{option}",
            markup=False,
            highlight=False,
        )
    return 1 if failed else 0


def run_verify(
    hws: tuple[str, ...],
    *,
    repo_root: Path | None = None,
    template_dir: Path | None = None,
    console: Console | None = None,
    mutation: MutationOptions | None = None,
) -> int:
    console = console or _console()
    repo_root = (repo_root or default_repo_root()).resolve()
    chosen = _resolve(hws, repo_root, console)
    if chosen is None:
        return 2
    failed = False
    for hw in chosen:
        report = verify_assignment(
            hw, repo_root=repo_root, template_dir=template_dir,
            mutation=mutation if mutation is not None else MutationOptions(),
        )
        table = Table(title=f"autograder verify {hw}", show_lines=False)
        table.add_column("check", no_wrap=True)
        table.add_column("result")
        table.add_column("detail", overflow="fold")
        for check in report.checks:
            table.add_row(
                escape(check.name),
                "[green]ok[/green]" if check.ok else "[red]FAIL[/red]",
                escape(check.detail),
            )
        console.print(table)
        if report.mutation is not None:
            print_mutation(console, report.mutation)
        json_path = write_verify_json(report, default_bundle_dir(repo_root) / hw / "verify.json")
        console.print(f"wrote {json_path}", markup=False, highlight=False)
        for check in report.checks:
            if not check.ok:
                console.print(f"{hw}: FAIL {check.name}: {check.detail}", markup=False,
                              highlight=False)
        verdict = "[green]ready to release[/green]" if report.ok else "[red]NOT ready[/red]"
        console.print(f"{hw}: {verdict}")
        failed = failed or not report.ok
    return 1 if failed else 0
