from autograder.checks import test_case

OK_FORMAT = False

name = "q1"
points = 4

HINT = (
    "run the backward pass in reverse order: dl/df3 = 2 (f3 - y), dh3/df2 = -sin(f2), "
    "dh2/df1 = exp(f1), dh1/df0 = cos(f0); then dl/dbeta_k = dl/df_k and "
    "dl/domega_k = dl/df_k * h_k (h_0 = x); grad follows the order of phi: "
    "[beta0, omega0, beta1, omega1, beta2, omega2, beta3, omega3]"
)


@test_case(name='toy_loss_and_grad: loss and gradient', points=1, hidden=False)
def test_toy_matches_reference(toy_loss_and_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q1")
    rng = np.random.default_rng(0)
    phi = rng.normal(scale=0.8, size=8)
    x, y = 0.7, -0.4
    got = assert_no_mutation(toy_loss_and_grad, x, y, phi, name="toy_loss_and_grad")
    expected = ref.call("toy_seed0", "toy_loss_and_grad", x, y, phi)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "toy_loss_and_grad must return a pair (loss, grad)"
    )
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-14, name="loss",
                 hint="loss = (f - y)**2 with f = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + "
                      "omega1 sin(beta0 + omega0 x)))")
    assert_close(got[1], expected[1], rtol=1e-8, atol=1e-12, name="grad", hint=HINT)


@test_case(name='toy_loss_and_grad: gradient matches finite differences', points=1, hidden=False)
def test_toy_gradient_finite_differences(toy_loss_and_grad):
    import numpy as np

    from autograder.checks import assert_close, assert_gradient

    rng = np.random.default_rng(1)
    phi = rng.normal(scale=0.8, size=8)
    x, y = -1.3, 0.9

    def loss(p):
        b0, w0, b1, w1, b2, w2, b3, w3 = p
        f = b3 + w3 * np.cos(b2 + w2 * np.exp(b1 + w1 * np.sin(b0 + w0 * x)))
        return (f - y) ** 2

    got_loss, got_grad = toy_loss_and_grad(x, y, phi)
    assert_close(got_loss, loss(phi), rtol=1e-10, atol=1e-14, name="loss",
                 hint="loss = (f - y)**2 (squared, not halved)")
    assert_gradient(loss, got_grad, phi, h=1e-6, rtol=1e-5, atol=1e-8,
                    name="grad vs finite differences of the loss", hint=HINT)


@test_case(name='toy_loss_and_grad: other points', points=2, hidden=True)
def test_toy_hidden_points(toy_loss_and_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q1")
    rng = np.random.default_rng(314)
    # x = 0 (dl/domega0 must vanish), NumPy scalar and 0-d array inputs, large targets
    points = [
        (0.0, 0.5),
        (np.float64(2.5), np.float64(-3.0)),
        (np.array(-0.25), np.array(10.0)),
        (1.0, 0.0),
    ]
    phis = [rng.normal(scale=1.0, size=8) for _ in points]  # drawn in the order of the points
    # all the calls at once (one round trip in the grader), read in order below
    outcomes = call_each([(toy_loss_and_grad, (x, y, phi)) for (x, y), phi in zip(points, phis)],
                         names=["toy_loss_and_grad"] * len(points))
    for i, ((x, y), phi, outcome) in enumerate(zip(points, phis, outcomes)):
        xf, yf = float(x), float(y)

        def loss(p, xf=xf, yf=yf):
            b0, w0, b1, w1, b2, w2, b3, w3 = p
            f = b3 + w3 * np.cos(b2 + w2 * np.exp(b1 + w1 * np.sin(b0 + w0 * xf)))
            return (f - yf) ** 2

        got = outcome.get()
        expected = ref.call(f"toy_hidden_{i}", "toy_loss_and_grad", xf, yf, phi)
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            "toy_loss_and_grad must return a pair (loss, grad)"
        )
        label = f"toy_loss_and_grad(x={xf}, y={yf}, phi)"
        assert_close(got[0], expected[0], rtol=1e-10, atol=1e-14, name=f"{label} loss")
        assert_close(got[1], expected[1], rtol=1e-8, atol=1e-12, name=f"{label} grad",
                     hint=HINT)
        assert_gradient(loss, got[1], phi, h=1e-6, rtol=1e-5, atol=1e-8,
                        name=f"{label} grad vs finite differences", hint=HINT)
