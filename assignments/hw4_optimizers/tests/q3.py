from autograder.checks import test_case

OK_FORMAT = False

name = "q3"
points = 4

HINT = (
    "one scalar accumulator: accum' = accum + sum(grad**2) (the squared norm, summed over all "
    "entries), added BEFORE it is used; theta' = theta - lr * grad / sqrt(eps + accum') with "
    "eps inside the square root, as in the CV lecture; return accum' as a float"
)


@test_case(name='adagrad_norm_step: one step, scalar accumulator', points=1, hidden=False)
def test_adagrad_norm_step(adagrad_norm_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q3")
    rng = np.random.default_rng(30)
    # small gradients and eps = 1e-2: where eps goes matters
    theta, grad = rng.normal(size=3), 1e-3 * rng.normal(size=3)
    # a later step: accumulator already large, 2-D theta
    theta2, grad2 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    # both steps at once (one round trip in the grader), read in order below
    first, later = call_each([(adagrad_norm_step, (theta, grad, 0.0, 0.1, 1e-2)),
                              (adagrad_norm_step, (theta2, grad2, 2.5, 0.5, 1e-8))],
                             names=["adagrad_norm_step"] * 2)
    got = first.get()
    expected = ref.call("ada_first", "adagrad_norm_step", theta, grad, 0.0, 0.1, 1e-2)
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        "adagrad_norm_step must return a pair (theta', accum')"
    )
    label = "adagrad_norm_step(theta, grad ~1e-3, accum=0.0, lr=0.1, eps=1e-2)"
    assert_close(got[1], expected[1], rtol=1e-12, atol=1e-18, name=f"{label}: accum'", hint=HINT)
    assert_close(got[0], expected[0], rtol=1e-12, atol=1e-15, name=f"{label}: theta'", hint=HINT)
    got = later.get()
    expected = ref.call("ada_later", "adagrad_norm_step", theta2, grad2, 2.5, 0.5, 1e-8)
    assert_close(got, expected, rtol=1e-12, atol=1e-15,
                 name="adagrad_norm_step(theta (2, 2), grad, accum=2.5, lr=0.5, eps=1e-8)",
                 hint=HINT)


@test_case(name='adagrad_norm_step: trajectory and convergence', points=1, hidden=False)
def test_adagrad_norm_path(adagrad_norm_step):
    from autograder.checks import (
        GRAD,
        STATE,
        THETA,
        Reference,
        StepCall,
        assert_converges,
        assert_trajectory_close,
        problems,
        run_steps,
    )

    ref = Reference("q3")
    # one run of the student's steps serves both checks: its first 6 iterates against the
    # reference trajectory, its last against the optimum (the run is replayed, not re-run)
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)

    step = StepCall(adagrad_norm_step, THETA, GRAD, STATE, 2.0, 1e-8)  # the loop runs next to the stub
    traj = run_steps(step, problem.start(), problem.grad, 35, state=0.0)
    expected = ref.compute("ada_traj", lambda sol: run_steps(
        lambda th, g, a: sol.adagrad_norm_step(th, g, a, 2.0, 1e-8), problem.start(),
        problem.grad, 6, state=0.0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="adagrad_norm_step (lr=2) on a quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, a: (next(replay), a), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="adagrad_norm_step (lr=2)", hint=HINT)


@test_case(name='adagrad_norm_step: other inputs', points=2, hidden=True)
def test_adagrad_norm_hidden(adagrad_norm_step):
    import numpy as np

    from autograder.checks import (
        GRAD,
        STATE,
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

    ref = Reference("q3")
    rng = np.random.default_rng(31)
    cases = {
        # tiny gradients with the default-sized eps: sqrt(eps + accum') != sqrt(accum') + eps
        "tiny": (rng.normal(size=5), 1e-6 * rng.normal(size=5), 0.0, 0.01, 1e-8),
        "scalar": (np.array(0.7), np.array(-2.0), np.float64(1.0), 0.1, 1e-8),
        "cube": (rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2, 3)), np.array(1e6), 3.0, 1e-8),
    }
    problem = problems.quadratic(dim=2, condition=3.0, seed=6)
    step = StepCall(adagrad_norm_step, THETA, GRAD, STATE, 2.0, 1e-8)  # the loop runs next to the stub
    # the three steps and the loop at once (one round trip in the grader), read in order below
    *outcomes, run = call_each(
        [(adagrad_norm_step, args) for args in cases.values()]
        + [(run_steps, (step, problem.start(), problem.grad, 20), {"state": 0.0})],
        names=["adagrad_norm_step"] * (len(cases) + 1))
    for (key, (theta, grad, accum, lr, eps)), outcome in zip(cases.items(), outcomes):
        got = outcome.get()
        expected = ref.call(f"ada_hidden_{key}", "adagrad_norm_step", theta, grad, float(accum),
                            lr, eps)
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            "adagrad_norm_step must return a pair (theta', accum')"
        )
        label = f"adagrad_norm_step ({key}: theta of shape {np.shape(theta)}, accum={float(accum):g})"
        assert_close(got[1], expected[1], rtol=1e-12, atol=1e-20, name=f"{label}: accum'",
                     hint=HINT)
        assert_close(got[0], expected[0], rtol=1e-11, atol=1e-15, name=f"{label}: theta'",
                     hint=HINT)
    traj = run.get()
    expected = ref.compute("ada_traj_hidden", lambda sol: run_steps(
        lambda th, g, a: sol.adagrad_norm_step(th, g, a, 2.0, 1e-8), problem.start(),
        problem.grad, 6, state=0.0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="adagrad_norm_step (lr=2), second quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, a: (next(replay), a), problem, steps=traj.steps, tol=1e-4,
                     criterion="distance", name="adagrad_norm_step (lr=2)", hint=HINT)
