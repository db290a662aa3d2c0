"""The ``autograder`` command: a thin click group over plain functions."""

from __future__ import annotations

from pathlib import Path

import click

from autograder import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autograder")
def main() -> None:
    """Build, verify and batch-grade the optimization and backpropagation assignments."""


@main.command("build")
@click.argument("assignments", nargs=-1)
@click.option("--check", is_flag=True, help="Exit non-zero if student_template/ is stale.")
@click.option("--repo-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Bundles go to OUT_DIR/<hw> (default: <repository>/build, from any folder).")
@click.option("--template-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Student copies go to TEMPLATE_DIR/<hw> (default: student_template/).")
@click.option("--no-zip", is_flag=True, help="Skip otter-grader's autograder zip.")
def build_command(assignments, check, repo_root, out_dir, template_dir, no_zip) -> None:
    """Build student_template/<hw> and build/<hw> (all four assignments when none given)."""
    from autograder.release.console import run_build

    raise SystemExit(run_build(assignments, repo_root=repo_root, out_dir=out_dir,
                               template_dir=template_dir, check=check, make_zip=not no_zip))


@main.command("verify")
@click.argument("assignments", nargs=-1)
@click.option("--repo-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--template-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--all", "all_", is_flag=True, help="Every assignment (the default when none given).")
@click.option("--per-stub", type=click.IntRange(min=0), default=None,
              help="Generated mutants per stub (default 4).")
@click.option("--budget", type=click.FloatRange(min=1), default=None,
              help="Seconds for grading one assignment's mutants (default 240).")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def verify_command(assignments, repo_root, template_dir, all_, per_stub, budget, workers) -> None:
    """Prove an assignment ready: reference full marks, blank zero, mutants caught, no leaks,
    and a kill matrix of hand-written and generated mutants (build/<hw>/verify.json)."""
    import dataclasses

    from autograder.release.console import run_verify
    from autograder.release.verify_mutants import MutationOptions

    given = {"per_stub": per_stub, "budget_s": budget, "workers": workers}
    options = dataclasses.replace(MutationOptions(),
                                  **{k: v for k, v in given.items() if v is not None})
    raise SystemExit(run_verify(() if all_ else assignments, repo_root=repo_root,
                                template_dir=template_dir, mutation=options))


@main.command("grade")
@click.argument("submissions", type=click.Path(file_okay=False, path_type=Path))
@click.option("--assignment", "-a", required=True, help="Assignment name, e.g. hw1_linear_regression.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: results.sqlite, grades.csv, results/<id>.json.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel grading workers (default: all cores).")
@click.option("--bundle-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where `autograder build` put the bundles (default: <repository>/build, "
                   "the same as build's, from any folder).")
@click.option("--repo-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The course checkout (default: the one this package is installed from).")
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE",
              help="Sandbox limit override, e.g. --limit call_wall_s=5 (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar or summary table.")
@click.option("--regrade", is_flag=True, help="Grade every submission again, changed or not.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT|local:N",
              help="Grade on a Dask cluster: a running `dask scheduler`, or local:N worker "
                   "processes here (needs the [dask] extra).")
def grade_command(submissions, assignment, out_dir, workers, bundle_dir, repo_root, limits,
                  quiet, regrade, scheduler) -> None:
    """Grade every submission in SUBMISSIONS (resumable; re-runs skip unchanged ones)."""
    from autograder.grade.console import USAGE_ERROR, parse_limits, run_grade
    from autograder.release.bundles import BundleNotFound, locate_bundle

    try:
        parse_limits(limits)
        bundle = locate_bundle(assignment, bundle_dir=bundle_dir, repo_root=repo_root)
    except (ValueError, BundleNotFound) as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(USAGE_ERROR) from None
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}", err=True)
    raise SystemExit(run_grade(submissions, assignment=assignment, out_dir=out_dir,
                               bundle_dir=bundle.path.parent, workers=workers, limits=limits,
                               quiet=quiet, regrade=regrade, scheduler=scheduler))


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder, wiped first (default: ./demo-out).")
@click.option("--assignment", "-a", "assignments", multiple=True,
              help="Only this assignment (repeatable; default: all four).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel grading workers (default: all cores).")
@click.option("--details", is_flag=True, help="One row per submission, with its expected outcome.")
@click.option("--strict", is_flag=True, help="Exit 1 if any outcome differs from the manifest.")
def demo_command(out, assignments, workers, details, strict) -> None:
    """Build what is missing and grade the bundled demo class (examples/<hw>/submissions)."""
    from autograder.demo import DemoError, run_demo

    try:
        code = run_demo(out=out, assignments=assignments or None, workers=workers,
                        details=details, strict=strict)
    except DemoError as error:
        raise click.ClickException(str(error)) from None
    raise SystemExit(code)

@main.command("gradebook")
@click.argument("outputs", nargs=-1, required=True, metavar="OUT_DIR|NAME=OUT_DIR...")
@click.option("--out", "out_csv", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The course table to write (course.csv).")
@click.option("--drop-lowest", type=click.IntRange(min=0), default=1, show_default=True,
              help="How many of each student's lowest assignment percentages do not count.")
@click.option("--roster", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="CSV mapping submissions to students (docs/gradebook.md).")
@click.option("--late", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="CSV of due dates, submission times and extensions.")
@click.option("--lms", type=click.Choice(["canvas", "moodle"]), default=None,
              help="Also write a CSV this LMS's gradebook imports.")
@click.option("--lms-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the LMS CSV goes (default: <out>-<lms>.csv).")
def gradebook_command(outputs, out_csv, drop_lowest, roster, late, lms, lms_out) -> None:
    """Combine graded output folders into one course table (best n-k of n assignments)."""
    from autograder.report.gradebook import build_gradebook, read_assignment, write_course_csv
    from autograder.report.late import read_late
    from autograder.report.lms import write_lms_csv
    from autograder.report.roster import RosterError, read_roster

    try:
        book = build_gradebook([read_assignment(spec) for spec in outputs],
                               drop_lowest=drop_lowest,
                               roster=read_roster(roster) if roster else None,
                               late=read_late(late) if late else None)
    except RosterError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"course table: {write_course_csv(out_csv, book)} ({len(book.rows)} students, "
               f"best {book.keep} of {len(book.assignments)} assignments)")
    if lms:
        target = lms_out or out_csv.with_name(f"{out_csv.stem}-{lms}.csv")
        click.echo(f"{lms} import file: {write_lms_csv(target, book, lms)}")


if __name__ == "__main__":
    main()
