"""The ``autograder`` command: a thin click group over plain functions."""

from __future__ import annotations

import click

from autograder import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autograder")
def main() -> None:
    """Build, verify and batch-grade the optimization and backpropagation assignments."""


if __name__ == "__main__":
    main()
