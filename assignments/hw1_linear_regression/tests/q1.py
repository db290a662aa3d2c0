from autograder.checks import test_case

OK_FORMAT = False

name = "q1"
points = 4

DESIGN_HINT = (
    "the columns of X keep their original order (x_1 first) and the column of ones comes LAST "
    "in the lecture's design matrix: X_D = [X, 1]"
)
POLY_HINT = (
    "the columns go from the highest power down: x**m, x**(m-1), ..., x, 1 "
    "(m+1 columns; the last one is the constant x**0 = 1)"
)


def _float64(value, name, hint):
    """After the values matched: the result must be a float64 NumPy array."""
    import numpy as np

    dtype = getattr(value, "dtype", None)
    assert isinstance(value, np.ndarray) and dtype == np.float64, (
        f"{name}: the values are right but the result is a {type(value).__name__} of dtype "
        f"{dtype}; return a float64 NumPy array\nhint: {hint}"
    )


@test_case(name='design_matrix: columns in order, ones column last', points=1, hidden=False)
def test_design_matrix(design_matrix):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q1")
    X = np.random.default_rng(0).normal(size=(5, 3))
    got = assert_no_mutation(design_matrix, X, name="design_matrix")
    assert_close(got, ref.call("design_5x3", "design_matrix", X), rtol=0, atol=0,
                 name="design_matrix(X) for X of shape (5, 3)", hint=DESIGN_HINT)
    _float64(got, "design_matrix(X)", DESIGN_HINT)


@test_case(name='polynomial_design_matrix: powers x**m down to 1', points=1, hidden=False)
def test_polynomial_design_matrix(polynomial_design_matrix):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q1")
    x = np.array([-1.5, -0.5, 0.0, 0.5, 2.0, 3.0])
    got = assert_no_mutation(polynomial_design_matrix, x, 3, name="polynomial_design_matrix")
    assert_close(got, ref.call("poly_m3", "polynomial_design_matrix", x, 3), rtol=1e-14,
                 atol=0, name="polynomial_design_matrix(x, 3)", hint=POLY_HINT)
    _float64(got, "polynomial_design_matrix(x, 3)", POLY_HINT)


@test_case(name='design_matrix: other shapes (one column, one row)', points=1, hidden=True)
def test_design_matrix_other_shapes(design_matrix):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q1")
    rng = np.random.default_rng(11)
    shapes = ((1, 1), (7, 1), (4, 6))
    inputs = [rng.uniform(-10, 10, size=shape) for shape in shapes]  # (drawn in this order)
    # the three calls at once (one round trip in the grader), read in order below
    outcomes = call_each([(design_matrix, (X,)) for X in inputs], names=["design_matrix"] * 3)
    for (n, d), X, outcome in zip(shapes, inputs, outcomes):
        got = outcome.get()
        assert_close(got, ref.call(f"design_{n}x{d}", "design_matrix", X), rtol=0, atol=0,
                     name=f"design_matrix(X) for X of shape ({n}, {d})", hint=DESIGN_HINT)
        _float64(got, f"design_matrix(X) for X of shape ({n}, {d})", DESIGN_HINT)


@test_case(name='polynomial_design_matrix: degrees 0 to 5', points=1, hidden=True)
def test_polynomial_degrees(polynomial_design_matrix):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q1")
    rng = np.random.default_rng(12)
    stub = "polynomial_design_matrix"
    sizes = ((4, 0), (1, 1), (9, 5), (3, 2))
    inputs = [rng.uniform(-2, 2, size=n) for n, _ in sizes]  # (drawn in this order)
    # the four calls at once (one round trip in the grader), read in order below
    outcomes = call_each([(polynomial_design_matrix, (x, m)) for x, (_, m) in zip(inputs, sizes)],
                         names=[stub] * len(sizes))
    for (n, m), x, outcome in zip(sizes, inputs, outcomes):
        got = outcome.get()
        assert_close(got, ref.call(f"poly_n{n}_m{m}", "polynomial_design_matrix", x, m),
                     rtol=1e-13, atol=0,
                     name=f"polynomial_design_matrix(x, {m}), x of shape ({n},)", hint=POLY_HINT)
        _float64(got, f"polynomial_design_matrix(x, {m})", POLY_HINT)
