from autograder.checks import test_case

OK_FORMAT = False

name = "q6"
points = 5

HINT = (
    "make the generator with np.random.default_rng(seed) once, before the first epoch, and "
    "pass that same generator to every minibatch_indices call; theta starts at "
    "np.zeros(d); in every epoch, for each batch idx of minibatch_indices(n, batch_size, "
    "generator), in order: theta = sgd_step(theta, X[idx].T @ (X[idx] @ theta - y[idx]) / "
    "len(idx), lr) (the batch "
    "MEAN gradient); losses[e] = mean over all n points of 0.5 (x^T theta - y)^2, recorded "
    "after each epoch"
)


@test_case(name='sgd_linear_regression: theta and losses', points=2, hidden=False)
def test_sgd_linear_regression(sgd_linear_regression):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation, problems

    ref = Reference("q6")
    data = problems.linear_regression_data(n=12, d=3, seed=1, noise=0.1)
    X, y = data.X, data.y
    got = assert_no_mutation(sgd_linear_regression, X, y, 0.1, 5, 4, 0,
                             name="sgd_linear_regression")
    expected = ref.call("sgdlr_small", "sgd_linear_regression", X, y, 0.1, 5, 4, 0)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "sgd_linear_regression must return a pair (theta, losses)"
    )
    theta, losses = got
    label = "sgd_linear_regression(X (12, 3), y, lr=0.1, epochs=5, batch_size=4, seed=0)"
    assert_close(theta, expected[0], rtol=1e-10, atol=1e-13, name=f"{label}: theta", hint=HINT)
    assert_close(losses, expected[1], rtol=1e-10, atol=1e-14, name=f"{label}: losses",
                 hint=HINT)
    r = X @ np.asarray(theta, dtype=float) - y
    assert_close(losses[-1], 0.5 * np.mean(r * r), rtol=1e-10, atol=1e-15,
                 name="losses[-1] vs the mean loss of the returned theta", hint=HINT)


@test_case(name='sgd_linear_regression: converges', points=1, hidden=False)
def test_sgd_linear_regression_converges(sgd_linear_regression):
    import numpy as np

    from autograder.checks import Reference, assert_close, problems

    ref = Reference("q6")
    data = problems.linear_regression_data(n=40, d=3, seed=2, noise=0.1)
    theta, losses = sgd_linear_regression(data.X, data.y, 0.05, 30, 8, 3)
    expected = ref.compute("sgdlr_converge_first",
                           lambda sol: sol.sgd_linear_regression(data.X, data.y, 0.05, 30, 8, 3)[1][:5])
    assert_close(np.asarray(losses)[:5], expected, rtol=1e-9, atol=1e-14,
                 name="losses of the first 5 epochs (n=40, batch_size=8, lr=0.05)", hint=HINT)
    distance = float(np.linalg.norm(np.asarray(theta, dtype=float) - data.theta_star))
    assert distance <= 1e-2, (
        f"after 30 epochs theta is {distance:.3g} away from the least-squares solution "
        f"{np.round(data.theta_star, 4).tolist()} (got {np.round(theta, 4).tolist()}); "
        f"expected within 1e-2\nhint: {HINT}"
    )
    gap = float(losses[-1]) - data.problem.f_star
    assert gap <= 1e-4, (
        f"final loss {float(losses[-1]):.6g} is {gap:.3g} above the optimum "
        f"{data.problem.f_star:.6g}\nhint: {HINT}"
    )


@test_case(name='sgd_linear_regression: other data and batch sizes', points=2, hidden=True)
def test_sgd_linear_regression_hidden(sgd_linear_regression):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each, problems

    ref = Reference("q6")
    # n not divisible by the batch size, batch size 1, a batch larger than n
    cases = [
        (key, (n, d, b, lr, epochs, seed),
         problems.linear_regression_data(n=n, d=d, seed=seed + 100, noise=0.2))
        for key, (n, d, b, lr, epochs, seed) in {
            "uneven": (23, 4, 5, 0.05, 4, 7),
            "batch1": (9, 2, 1, 0.05, 3, 8),
            "bigbatch": (6, 3, 10, 0.2, 3, 9),
        }.items()
    ]
    long_run = problems.linear_regression_data(n=50, d=4, seed=3, noise=0.1)
    # the four runs at once (one round trip in the grader; each takes its seed, an int, and
    # makes its own generator): the three checked for in-place changes, the long one a plain
    # call; read in order below
    *outcomes, long_outcome = call_each(
        [(sgd_linear_regression, (data.X, data.y, lr, epochs, b, seed))
         for _, (n, d, b, lr, epochs, seed), data in cases]
        + [(sgd_linear_regression, (long_run.X, long_run.y, 0.05, 40, 7, 0))],
        names=["sgd_linear_regression"] * (len(cases) + 1),
        no_mutation=[True] * len(cases) + [False])
    for (key, (n, d, b, lr, epochs, seed), data), outcome in zip(cases, outcomes):
        got = outcome.get()
        expected = ref.call(f"sgdlr_hidden_{key}", "sgd_linear_regression", data.X, data.y, lr,
                            epochs, b, seed)
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            "sgd_linear_regression must return a pair (theta, losses)"
        )
        label = f"sgd_linear_regression(n={n}, d={d}, batch_size={b}, epochs={epochs})"
        assert_close(got[0], expected[0], rtol=1e-10, atol=1e-13, name=f"{label}: theta",
                     hint=HINT)
        assert_close(got[1], expected[1], rtol=1e-10, atol=1e-14, name=f"{label}: losses",
                     hint=HINT)
    data = long_run
    theta, losses = long_outcome.get()
    distance = float(np.linalg.norm(np.asarray(theta, dtype=float) - data.theta_star))
    assert distance <= 5e-2, (
        f"after 40 epochs (n=50, batch_size=7) theta is {distance:.3g} away from the "
        f"least-squares solution\nhint: {HINT}"
    )
    assert float(losses[-1]) - data.problem.f_star <= 1e-3, (
        f"final loss {float(losses[-1]):.6g} is far above the optimum "
        f"{data.problem.f_star:.6g}\nhint: {HINT}"
    )
