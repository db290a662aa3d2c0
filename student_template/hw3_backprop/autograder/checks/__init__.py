"""What every test is written with: comparisons, gradient checks, convergence checks,
benchmark problems, the no-mutation check and recorded expected values.

Imports NumPy and the standard library only: this package is copied verbatim into each
student template (``student_template/<hw>/autograder/checks/``).
"""

from . import problems  # the module too: ``checks.problems.quadratic``
from .compare import CloseResult, assert_close, check_close
from .convergence import Trajectory, assert_converges, assert_trajectory_close, run_steps
from .each import Outcome, call_each
from .expected import (
    MissingExpectedValue,
    Reference,
    load_expected,
    recording,
    save_expected,
)
from .gradcheck import (
    GradCheckResult,
    assert_directional,
    assert_gradient,
    assert_gradient_fast,
    assert_sampled,
    assert_vjp,
    check_directional,
    check_gradient,
    check_sampled,
    check_vjp,
    numerical_gradient,
)
from .mutation import assert_no_mutation
from .numerics import assert_warning_free
from .problems import (
    LinearRegressionData,
    LogisticRegressionData,
    Problem,
    linear_regression_data,
    logistic_regression_data,
    quadratic,
    rosenbrock,
    xor,
    xor_accuracy,
)
from .steps import GRAD, STATE, STEP, THETA, StepCall

__all__ = [
    "GRAD",
    "STATE",
    "STEP",
    "THETA",
    "StepCall",
    "CloseResult",
    "GradCheckResult",
    "LinearRegressionData",
    "LogisticRegressionData",
    "MissingExpectedValue",
    "Outcome",
    "Problem",
    "Reference",
    "Trajectory",
    "assert_close",
    "assert_converges",
    "assert_directional",
    "assert_gradient",
    "assert_gradient_fast",
    "assert_no_mutation",
    "assert_sampled",
    "assert_trajectory_close",
    "assert_vjp",
    "assert_warning_free",
    "call_each",
    "check_close",
    "check_directional",
    "check_gradient",
    "check_sampled",
    "check_vjp",
    "linear_regression_data",
    "load_expected",
    "logistic_regression_data",
    "numerical_gradient",
    "problems",
    "quadratic",
    "recording",
    "rosenbrock",
    "run_steps",
    "save_expected",
    "test_case",
    "xor",
    "xor_accuracy",
]


def __getattr__(name):
    # ``from autograder.checks import test_case`` (every test file) loads otter only then: the
    # rest of the library needs NumPy and the standard library alone.
    if name == "test_case":
        from .cases import test_case

        return test_case
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
