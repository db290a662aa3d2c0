from autograder.checks import test_case

OK_FORMAT = False

name = "q3"
points = 3

SOFTMAX_HINT = (
    "subtract each row's maximum before np.exp (softmax is unchanged by a shift of a row, and "
    "then no exponent is positive); normalise each row, i.e. sum along axis=1 with keepdims=True"
)
LOSS_HINT = (
    "the loss is a mean over the n rows, -(1/n) sum_i sum_j T_ij log softmax(Z)_ij; compute "
    "log softmax with log-sum-exp, (Z - m) - log(sum_j exp(Z_j - m)) with m the row maximum, "
    "never np.log of probabilities (they underflow to 0 and log(0) = -inf)"
)
GRAD_HINT = "dZ = (softmax(Z) - T) / n: the 1/n comes from the mean over the rows"


@test_case(name='softmax: rows sum to 1', points=1, hidden=False)
def test_softmax(softmax):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q3")
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(4, 5))
    # entries near 1e3: np.exp overflows unless the row maximum is subtracted
    Z_big = 800.0 + 300.0 * rng.normal(size=(3, 4))
    # both calls at once (one round trip in the grader; the first checked for in-place
    # changes, the second a plain call), read in order below
    checked, big = call_each([(softmax, (Z,)), (softmax, (Z_big,))], names=["softmax"] * 2,
                             no_mutation=[True, False])
    got = checked.get()
    assert_close(got, ref.call("softmax_small", "softmax", Z), rtol=1e-12, atol=1e-15,
                 name="softmax(Z), Z of shape (4, 5)", hint=SOFTMAX_HINT)
    assert_close(np.sum(got, axis=1), np.ones(4), rtol=0, atol=1e-12,
                 name="row sums of softmax(Z)", hint=SOFTMAX_HINT)
    got_big = big.get()
    assert_close(got_big, ref.call("softmax_big", "softmax", Z_big), rtol=1e-10, atol=1e-250,
                 name="softmax(Z) with entries around 800", hint=SOFTMAX_HINT)


@test_case(name='softmax_cross_entropy: loss and dZ', points=1, hidden=False)
def test_cross_entropy(softmax_cross_entropy):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, assert_no_mutation

    ref = Reference("q3")
    rng = np.random.default_rng(3)
    n, k = 5, 3
    Z = rng.normal(size=(n, k))
    T = np.eye(k)[rng.integers(0, k, size=n)]

    def loss(Zp):
        S = Zp - np.max(Zp, axis=1, keepdims=True)
        logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
        return -np.sum(T * logp) / n

    got = assert_no_mutation(softmax_cross_entropy, Z, T, name="softmax_cross_entropy")
    expected = ref.call("sce_small", "softmax_cross_entropy", Z, T)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "softmax_cross_entropy must return a pair (loss, dZ)"
    )
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name="loss", hint=LOSS_HINT)
    assert_close(got[1], expected[1], rtol=1e-9, atol=1e-15, name="dZ", hint=GRAD_HINT)
    assert_gradient(loss, got[1], Z, h=1e-6, rtol=1e-5, atol=1e-9,
                    name="dZ vs finite differences of the loss", hint=GRAD_HINT)


@test_case(name='softmax_cross_entropy: rows whose entries differ by up to 1e3', points=1, hidden=False)
def test_cross_entropy_large_gaps(softmax_cross_entropy):
    import numpy as np

    from autograder.checks import Reference, assert_close

    ref = Reference("q3")
    # the entries of each row differ by up to 1e3 and the target sits on a small entry:
    # its probability underflows to exactly 0, so log(probability) would be -inf
    Z = np.array([[0.0, 900.0, -100.0], [1000.0, 0.0, 10.0], [5.0, 4.0, -995.0]])
    T = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    got = softmax_cross_entropy(Z, T)
    expected = ref.call("sce_gaps", "softmax_cross_entropy", Z, T)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "softmax_cross_entropy must return a pair (loss, dZ)"
    )
    assert_close(got[0], expected[0], rtol=1e-12, atol=0, name="loss (rows differing by 1e3)",
                 hint=LOSS_HINT)
    assert_close(got[1], expected[1], rtol=1e-12, atol=1e-250,
                 name="dZ (rows differing by 1e3)", hint=GRAD_HINT)
