from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 3

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
