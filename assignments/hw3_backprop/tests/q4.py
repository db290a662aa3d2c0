from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 6

LOSS_HINT = (
    "loss = (1/n) sum_i 0.5 ||Y_i - T_i||^2: a mean over the n examples (rows), half the "
    "squared error, with H = sigmoid(X W1^T + b1) and Y = H W2^T + b2"
)
GRAD_HINT = (
    "backward pass: dY = (Y - T) / n, dW2 = dY^T H, db2 = dY summed over rows, dH = dY W2, "
    "dA = dH * H * (1 - H) (the sigmoid derivative), dW1 = dA^T X, db1 = dA summed over rows; "
    "each gradient has the shape of its parameter (dW1 is (h, d_in) like W1)"
)


@test_case(name='mlp_loss_and_grads: loss and gradients', points=1, hidden=False)
def test_mlp_matches_reference(mlp_loss_and_grads):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q4")
    rng = np.random.default_rng(4)
    n, d_in, h, d_out = 5, 3, 4, 2
    X = rng.normal(size=(n, d_in))
    T = rng.normal(size=(n, d_out))
    params = {"W1": rng.normal(size=(h, d_in)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(d_out, h)), "b2": rng.normal(size=d_out)}
    got = assert_no_mutation(mlp_loss_and_grads, X, T, params, name="mlp_loss_and_grads")
    expected = ref.call("mlp_small", "mlp_loss_and_grads", X, T, params)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "mlp_loss_and_grads must return a pair (loss, grads)"
    )
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name="loss", hint=LOSS_HINT)
    assert_close(got[1], expected[1], rtol=1e-8, atol=1e-13, name="grads", hint=GRAD_HINT)


@test_case(name='mlp_loss_and_grads: gradients match finite differences', points=2, hidden=False)
def test_mlp_finite_differences(mlp_loss_and_grads):
    import numpy as np

    from autograder.checks import assert_close, assert_gradient

    rng = np.random.default_rng(5)
    n, d_in, h, d_out = 6, 2, 3, 2
    X = rng.normal(size=(n, d_in))
    T = rng.normal(size=(n, d_out))
    params = {"W1": rng.normal(size=(h, d_in)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(d_out, h)), "b2": rng.normal(size=d_out)}

    def loss_of(p):
        H = 1.0 / (1.0 + np.exp(-(X @ p["W1"].T + p["b1"])))
        Y = H @ p["W2"].T + p["b2"]
        return 0.5 * np.sum((Y - T) ** 2) / n

    got_loss, grads = mlp_loss_and_grads(X, T, params)
    assert_close(got_loss, loss_of(params), rtol=1e-10, atol=1e-15, name="loss",
                 hint=LOSS_HINT)
    assert isinstance(grads, dict), "grads must be a dict with keys 'W1', 'b1', 'W2', 'b2'"
    for key in ("W1", "b1", "W2", "b2"):
        assert key in grads, f"grads has no key {key!r} (expected 'W1', 'b1', 'W2', 'b2')"

        def f(value, key=key):
            return loss_of({**params, key: value})

        assert_gradient(f, grads[key], params[key], h=1e-6, rtol=1e-5, atol=1e-9,
                        name=f"grads[{key!r}] vs finite differences of the loss",
                        hint=GRAD_HINT)


@test_case(name='mlp_loss_and_grads: other shapes', points=2, hidden=True)
def test_mlp_hidden_shapes(mlp_loss_and_grads):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_gradient, call_each

    ref = Reference("q4")
    rng = np.random.default_rng(40)
    # one example with one input and one output; a wider net with three outputs and n = 7
    cases = []
    for key_case, (n, d_in, h, d_out) in (("tiny", (1, 1, 3, 1)), ("wide", (7, 4, 6, 3))):
        X = rng.normal(size=(n, d_in))
        T = rng.normal(size=(n, d_out))
        params = {"W1": rng.normal(size=(h, d_in)), "b1": rng.normal(size=h),
                  "W2": rng.normal(size=(d_out, h)), "b2": rng.normal(size=d_out)}
        cases.append((key_case, (n, d_in, h, d_out), X, T, params))
    # both calls at once (one round trip in the grader), each checked for in-place changes,
    # read in order below
    outcomes = call_each([(mlp_loss_and_grads, (X, T, params)) for _, _, X, T, params in cases],
                         names=["mlp_loss_and_grads"] * len(cases))
    for (key_case, (n, d_in, h, d_out), X, T, params), outcome in zip(cases, outcomes):

        def loss_of(p, X=X, T=T, n=n):
            H = 1.0 / (1.0 + np.exp(-(X @ p["W1"].T + p["b1"])))
            Y = H @ p["W2"].T + p["b2"]
            return 0.5 * np.sum((Y - T) ** 2) / n

        got = outcome.get()
        expected = ref.call(f"mlp_hidden_{key_case}", "mlp_loss_and_grads", X, T, params)
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            "mlp_loss_and_grads must return a pair (loss, grads)"
        )
        label = f"n={n}, d_in={d_in}, h={h}, d_out={d_out}"
        assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name=f"loss ({label})",
                     hint=LOSS_HINT)
        assert_close(got[1], expected[1], rtol=1e-8, atol=1e-13, name=f"grads ({label})",
                     hint=GRAD_HINT)
        for key in ("W1", "b1", "W2", "b2"):
            def f(value, key=key, params=params, loss_of=loss_of):
                return loss_of({**params, key: value})

            assert_gradient(f, got[1][key], params[key], h=1e-6, rtol=1e-5, atol=1e-9,
                            name=f"grads[{key!r}] vs finite differences ({label})",
                            hint=GRAD_HINT)


@test_case(name='mlp_loss_and_grads: saturated hidden units', points=1, hidden=True)
def test_mlp_hidden_saturated(mlp_loss_and_grads):
    import numpy as np

    from autograder.checks import Reference, assert_close

    ref = Reference("q4")
    rng = np.random.default_rng(41)
    n, d_in, h, d_out = 8, 3, 5, 2
    X = rng.normal(size=(n, d_in))
    T = rng.normal(size=(n, d_out))
    # large first-layer weights: many hidden units saturate (sigmoid' close to 0)
    params = {"W1": 12.0 * rng.normal(size=(h, d_in)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(d_out, h)), "b2": rng.normal(size=d_out)}
    got = mlp_loss_and_grads(X, T, params)
    expected = ref.call("mlp_hidden_saturated", "mlp_loss_and_grads", X, T, params)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "mlp_loss_and_grads must return a pair (loss, grads)"
    )
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-15, name="loss (saturated units)",
                 hint=LOSS_HINT)
    assert_close(got[1], expected[1], rtol=1e-7, atol=1e-12, name="grads (saturated units)",
                 hint=GRAD_HINT)
