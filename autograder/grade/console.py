"""``autograder grade`` behind the CLI: arguments to ``grade_class``, errors to exit codes."""

from __future__ import annotations

from pathlib import Path

from autograder.grade.batch import BundleChanged, GradingInterrupted, OutputBusy, grade_class
from autograder.grade.bundle import BundleMissing
from autograder.grade.executor import WorkerStartError

USAGE_ERROR = 2
INTERRUPTED = 130  # the shell's code for a run ended by SIGINT


def parse_limits(pairs: tuple[str, ...] | list[str]):
    """``["call_wall_s=5", "memory_mb=512"]`` -> ``Limits`` (None when empty)."""
    if not pairs:
        return None
    from autograder.sandbox import Limits

    fields = Limits.__dataclass_fields__
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ValueError(f"--limit {pair!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        kind = fields[name].type
        values[name] = float(value) if "float" in str(kind) else int(value)
    return Limits(**values)


def run_grade(
    submissions: Path,
    *,
    assignment: str,
    out_dir: Path,
    bundle_dir: Path | None = None,
    workers: int | None = None,
    limits: tuple[str, ...] = (),
    quiet: bool = False,
    regrade: bool = False,
    scheduler: str | None = None,
) -> int:
    """Returns the exit code: 0 when the batch completed (whatever the submissions did), 2 for
    usage errors (no bundle, bad options), 1 when the grading workers could not start at all,
    130 after Ctrl-C (the reports are written from what is stored; a re-run resumes)."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        parsed_limits = parse_limits(limits)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}", soft_wrap=True)
        return USAGE_ERROR
    if scheduler:
        from autograder.grade.distributed import DistributedMissing, parse_scheduler, require

        try:
            parse_scheduler(scheduler)
            require()
        except (ValueError, DistributedMissing) as error:
            from rich.markup import escape  # the message names the extra: ".[dask]"

            console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            return USAGE_ERROR
    if bundle_dir is None:  # the one bundle location, whatever the working directory
        from autograder.release.bundles import default_bundle_dir

        bundle_dir = default_bundle_dir()
    bundle = Path(bundle_dir) / assignment
    if not (bundle / "manifest.json").is_file():
        console.print(f"[red]error:[/] no bundle for {assignment} in {bundle_dir}: run `autograder build {assignment}` first", soft_wrap=True)
        return USAGE_ERROR
    if not Path(submissions).is_dir():
        console.print(f"[red]error:[/] submissions folder not found: {submissions}", soft_wrap=True)
        return USAGE_ERROR
    try:
        summary = grade_class(
            submissions, bundle, out_dir, workers=workers, limits=parsed_limits,
            progress=not quiet, console=console, regrade=regrade, scheduler=scheduler,
        )
    except (BundleMissing, OutputBusy) as error:
        console.print(f"[red]error:[/] {error}", soft_wrap=True)
        return USAGE_ERROR
    except (BundleChanged, WorkerStartError) as error:  # e.g. the Dask scheduler unreachable
        console.print(f"[red]error:[/] {error}", soft_wrap=True)
        return 1
    except GradingInterrupted as error:
        console.print(f"[yellow]{error}[/]\ngrades: {error.csv_path}", soft_wrap=True)
        return INTERRUPTED
    if summary.fatal:
        console.print(f"[red]error:[/] {summary.fatal}", soft_wrap=True)
        return 1
    console.print(
        f"graded {summary.graded_now}, unchanged {summary.unchanged}, "
        f"skipped files {len(summary.skipped)} in {summary.elapsed_s:.1f} s -> {summary.out_dir}"
    )
    return 0
