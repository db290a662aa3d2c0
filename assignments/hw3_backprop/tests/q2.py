from autograder.checks import test_case

OK_FORMAT = False

name = "q2"
points = 4

LOSS_HINT = "loss = 0.5 (y - t)**2 + lam * 0.5 * w**2 with y = sigmoid(w x + b)"
GRAD_HINT = (
    "error signals: ybar = y - t, zbar = ybar * sigmoid'(z) = ybar * y (1 - y), "
    "dloss_dw = zbar * x + lam * w (w feeds both z and the penalty), "
    "dloss_db = zbar (the bias is not penalised)"
)


@test_case(name='logistic_least_squares: loss and gradients', points=1, hidden=False)
def test_lls_matches_reference(logistic_least_squares):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q2")
    args = (0.8, -0.3, 1.5, 1.0, 0.0)
    got = assert_no_mutation(logistic_least_squares, *args, name="logistic_least_squares")
    expected = ref.call("lls_lam0", "logistic_least_squares", *args)
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        "logistic_least_squares must return three floats (loss, dloss_dw, dloss_db)"
    )
    label = "logistic_least_squares(w=0.8, b=-0.3, x=1.5, t=1.0, lam=0.0)"
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name=f"{label} loss",
                 hint=LOSS_HINT)
    assert_close(got[1], expected[1], rtol=1e-9, atol=1e-15, name=f"{label} dloss_dw",
                 hint=GRAD_HINT)
    assert_close(got[2], expected[2], rtol=1e-9, atol=1e-15, name=f"{label} dloss_db",
                 hint=GRAD_HINT)


@test_case(name='logistic_least_squares: regularised gradient matches finite differences', points=1, hidden=False)
def test_lls_regularised_finite_differences(logistic_least_squares):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient

    ref = Reference("q2")
    w, b, x, t, lam = -0.6, 0.4, 2.0, 0.0, 0.5

    def loss(p):
        y = 1.0 / (1.0 + np.exp(-(p[0] * x + p[1])))
        return 0.5 * (y - t) ** 2 + lam * 0.5 * p[0] ** 2

    got = logistic_least_squares(w, b, x, t, lam)
    expected = ref.call("lls_lam05", "logistic_least_squares", w, b, x, t, lam)
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        "logistic_least_squares must return three floats (loss, dloss_dw, dloss_db)"
    )
    label = "logistic_least_squares(w=-0.6, b=0.4, x=2.0, t=0.0, lam=0.5)"
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name=f"{label} loss",
                 hint=LOSS_HINT)
    assert_close(got, expected, rtol=1e-9, atol=1e-15, name=label, hint=GRAD_HINT)
    claimed = np.array([float(got[1]), float(got[2])])
    assert_gradient(loss, claimed, np.array([w, b]), h=1e-6, rtol=1e-6, atol=1e-10,
                    name="(dloss_dw, dloss_db) vs finite differences of the loss",
                    hint=GRAD_HINT)


@test_case(name='logistic_least_squares: other inputs', points=2, hidden=True)
def test_lls_hidden(logistic_least_squares):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q2")
    # strong penalty, t = 1 and t = 0, negative x, a saturated unit (z = -30, gradient ~ 1e-13),
    # NumPy scalars and 0-d arrays as inputs
    cases = [
        (1.7, 0.9, -1.2, 1.0, 2.0),
        (np.float64(-2.5), np.float64(1.5), np.float64(0.3), np.float64(0.0), np.float64(0.01)),
        (np.array(3.0), np.array(-0.5), np.array(-9.8), np.array(1.0), np.array(0.25)),
        (0.2, -0.7, 0.0, 1.0, 1.0),
    ]
    # all the calls at once (one round trip in the grader), read in order below
    outcomes = call_each([(logistic_least_squares, args) for args in cases],
                         names=["logistic_least_squares"] * len(cases))
    for i, ((w, b, x, t, lam), outcome) in enumerate(zip(cases, outcomes)):
        wf, bf, xf, tf, lf = (float(v) for v in (w, b, x, t, lam))

        def loss(p, xf=xf, tf=tf, lf=lf):
            y = 1.0 / (1.0 + np.exp(-(p[0] * xf + p[1])))
            return 0.5 * (y - tf) ** 2 + lf * 0.5 * p[0] ** 2

        got = outcome.get()
        expected = ref.call(f"lls_hidden_{i}", "logistic_least_squares", wf, bf, xf, tf, lf)
        assert isinstance(got, (tuple, list)) and len(got) == 3, (
            "logistic_least_squares must return three floats (loss, dloss_dw, dloss_db)"
        )
        label = f"logistic_least_squares(w={wf}, b={bf}, x={xf}, t={tf}, lam={lf})"
        assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name=f"{label} loss",
                     hint=LOSS_HINT)
        assert_close(got, expected, rtol=1e-9, atol=1e-15, name=label, hint=GRAD_HINT)
        claimed = np.array([float(got[1]), float(got[2])])
        assert_gradient(loss, claimed, np.array([wf, bf]), h=1e-6, rtol=1e-6, atol=1e-10,
                        name=f"{label} gradient vs finite differences", hint=GRAD_HINT)
