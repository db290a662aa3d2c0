from autograder.checks import test_case

OK_FORMAT = False

name = "q1"
points = 2

SGD_HINT = "sgd_step returns theta - lr * grad, a new array shaped like theta"
BATCH_HINT = (
    "call rng.permutation(n) exactly once (no second shuffle, no new generator, no sampling "
    "with replacement) and cut it into consecutive slices perm[0:b], perm[b:2b], ...; "
    "the last batch keeps the remaining indices (shorter, never dropped)"
)


@test_case(name='sgd_step: one step', points=1, hidden=False)
def test_sgd_step(sgd_step):
    import numpy as np

    from autograder.checks import (
        GRAD,
        THETA,
        Reference,
        StepCall,
        assert_close,
        assert_converges,
        assert_trajectory_close,
        call_each,
        problems,
        run_steps,
    )

    ref = Reference("q1")
    rng = np.random.default_rng(10)
    theta, grad = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    # one run of the student's steps serves both checks below: its first 6 iterates against
    # the reference trajectory, its last against the optimum (the run is replayed, not re-run)
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    step = StepCall(sgd_step, THETA, GRAD, 1.6, returns=THETA)  # the loop runs next to the stub
    # the step (checked for changes to its arguments) and the loop at once (one round trip in
    # the grader), read in order below
    one, run = call_each([(sgd_step, (theta, grad, 0.1)),
                          (run_steps, (step, problem.start(), problem.grad, 30))],
                         names=["sgd_step"] * 2)
    got = one.get()
    assert_close(got, ref.call("sgd_2x3", "sgd_step", theta, grad, 0.1), rtol=1e-12, atol=1e-15,
                 name="sgd_step(theta (2, 3), grad, lr=0.1)", hint=SGD_HINT)

    traj = run.get()
    expected = ref.compute("sgd_traj", lambda sol: run_steps(
        lambda th, g, s: (sol.sgd_step(th, g, 1.6), s), problem.start(), problem.grad, 6
    ).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="gradient descent with sgd_step (lr=1.6) on a quadratic",
                            hint=SGD_HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, s: (next(replay), s), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="gradient descent with sgd_step (lr=1.6)",
                     hint=SGD_HINT)


@test_case(name='minibatch_indices: one permutation, consecutive slices', points=1, hidden=False)
def test_minibatch_indices(minibatch_indices):
    import numpy as np

    from autograder.checks import Reference, assert_close

    ref = Reference("q1")
    n, b, seed = 10, 3, 5
    gen = np.random.default_rng(seed)
    batches = minibatch_indices(n, b, gen)
    assert isinstance(batches, (list, tuple)), (
        f"minibatch_indices must return a list of index arrays, got {type(batches).__name__}"
    )
    expected_perm = np.random.default_rng(seed).permutation(n)
    sizes = [int(np.size(batch)) for batch in batches]
    assert sizes == [3, 3, 3, 1], (
        f"minibatch_indices(10, 3, rng): batch sizes {sizes}, expected [3, 3, 3, 1]\n"
        f"hint: {BATCH_HINT}"
    )
    for i, batch in enumerate(batches):
        assert isinstance(batch, np.ndarray) and batch.dtype.kind in "iu", (
            f"batch {i} must be a NumPy array of integers (usable as X[idx]), got "
            f"{type(batch).__name__} of dtype {getattr(batch, 'dtype', None)}"
        )
    drawn_once = np.random.default_rng(seed)
    drawn_once.permutation(n)
    joined = np.concatenate([np.asarray(batch) for batch in batches])
    assert np.array_equal(joined, expected_perm), (
        f"minibatch_indices(10, 3, rng): the batches concatenated are {joined.tolist()}, but "
        f"rng.permutation(10) of this generator is {expected_perm.tolist()}\nhint: {BATCH_HINT}"
    )
    assert gen.bit_generator.state == drawn_once.bit_generator.state, (
        "the generator's state after minibatch_indices is not the state after exactly one call "
        f"of rng.permutation({n})\nhint: {BATCH_HINT}"
    )
    expected = ref.call("batches_10_3", "minibatch_indices", n, b, np.random.default_rng(seed))
    assert_close(list(batches), expected, rtol=0, atol=0, name="minibatch_indices(10, 3, rng)",
                 hint=BATCH_HINT)
