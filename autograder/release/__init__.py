"""``autograder build`` and ``autograder verify`` (the package is called ``release``: tools take
a folder called ``build`` for output and skip it).

build: ``assignments/<hw>/`` + ``solutions/<hw>.py`` -> ``student_template/<hw>/`` (the notebook,
public tests, public expected values, the vendored checks) and ``build/<hw>/`` (every test, every
expected value, otter-grader's autograder zip). verify: the reference earns full marks, the blank
template nothing, every mutant loses points, tests are deterministic and nothing hidden leaks.
"""

from autograder._lazy import lazy_names
from autograder.release.sources import ASSIGNMENTS, BuildError, known_assignments

# build and verify are imported when first used: they import nbformat, otter and the rest
# (about 1 s), which `autograder grade` does not need to find a bundle (``release.bundles``)
_LAZY = {"BuildResult": "core", "build_assignment": "core", "check_template": "core",
         "compare_trees": "core", "VerifyReport": "verify", "verify_assignment": "verify"}

__getattr__, __dir__ = lazy_names(__name__, _LAZY)

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
