"""``autograder build`` and ``autograder verify`` (the package is called ``release``: tools take
a folder called ``build`` for output and skip it).

build: ``assignments/<hw>/`` + ``solutions/<hw>.py`` -> ``student_template/<hw>/`` (the notebook,
public tests, public expected values, the vendored checks) and ``build/<hw>/`` (every test, every
expected value, otter-grader's autograder zip). verify: the reference earns full marks, the blank
template nothing, every mutant loses points, tests are deterministic and nothing hidden leaks.
"""

from autograder.release.core import BuildResult, build_assignment, check_template, compare_trees
from autograder.release.sources import ASSIGNMENTS, BuildError, known_assignments
from autograder.release.verify import VerifyReport, verify_assignment

__all__ = [
    "ASSIGNMENTS",
    "BuildError",
    "BuildResult",
    "VerifyReport",
    "build_assignment",
    "check_template",
    "compare_trees",
    "known_assignments",
    "verify_assignment",
]
