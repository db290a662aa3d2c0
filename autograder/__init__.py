"""A course-in-a-box auto-grader for optimization and backpropagation assignments.

Kept import-light on purpose: the sandbox's fork server and the vendored student copy of
``autograder.checks`` must not pay for the CLI's dependencies.
"""

__version__ = "0.1.0"
