from autograder.checks import test_case

OK_FORMAT = False

name = "q2"
points = 4

HINT = (
    "heavy-ball form: velocity' = beta * velocity + grad (no (1 - beta) factor, unlike the RL "
    "lecture's average), then theta' = theta - lr * velocity' with the NEW velocity; "
    "return (theta', velocity')"
)


@test_case(name="momentum_step: one step, velocity' = beta v + grad", points=1, hidden=False)
def test_momentum_step(momentum_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q2")
    rng = np.random.default_rng(20)
    theta, grad, velocity = (rng.normal(size=(2, 3)) for _ in range(3))
    got = assert_no_mutation(momentum_step, theta, grad, velocity, 0.1, 0.9,
                             name="momentum_step")
    expected = ref.call("mom_step", "momentum_step", theta, grad, velocity, 0.1, 0.9)
    assert_close(got, expected, rtol=1e-12, atol=1e-15,
                 name="momentum_step(theta, grad, velocity, lr=0.1, beta=0.9)", hint=HINT)


@test_case(name='momentum_step: trajectory and convergence', points=1, hidden=False)
def test_momentum_path(momentum_step):
    import numpy as np

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

    ref = Reference("q2")
    # one run of the student's steps serves both checks: its first 6 iterates against the
    # reference trajectory, its last against the optimum (the run is replayed, not re-run)
    problem = problems.quadratic(dim=2, condition=5.0, seed=1)
    v0 = np.zeros(2)

    step = StepCall(momentum_step, THETA, GRAD, STATE, 1.0, 0.3)  # the loop runs next to the stub
    traj = run_steps(step, problem.start(), problem.grad, 32, state=v0)
    expected = ref.compute("mom_traj", lambda sol: run_steps(
        lambda th, g, v: sol.momentum_step(th, g, v, 1.0, 0.3), problem.start(), problem.grad,
        6, state=v0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="momentum (lr=1, beta=0.3) on a quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, v: (next(replay), v), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="momentum (lr=1, beta=0.3)", hint=HINT)


@test_case(name='momentum_step: other inputs', points=2, hidden=True)
def test_momentum_hidden(momentum_step):
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

    ref = Reference("q2")
    rng = np.random.default_rng(21)
    # beta = 0 is plain SGD; a 0-d theta; a 3-D theta with NumPy scalar hyper-parameters
    cases = []
    for key, shape, beta in (("beta0", (4,), 0.0), ("scalar", (), 0.5), ("cube", (2, 3, 2), 0.99)):
        theta, grad, velocity = (np.asarray(rng.normal(size=shape)) for _ in range(3))
        cases.append((key, shape, beta, theta, grad, velocity))
    problem = problems.quadratic(dim=3, condition=3.0, seed=4)
    v0 = np.zeros(3)
    step = StepCall(momentum_step, THETA, GRAD, STATE, 1.5, 0.2)  # the loop runs next to the stub
    # the three steps and the loop at once (one round trip in the grader), read in order below
    *outcomes, run = call_each(
        [(momentum_step, (theta, grad, velocity, np.float64(0.05), np.float64(beta)))
         for _, _, beta, theta, grad, velocity in cases]
        + [(run_steps, (step, problem.start(), problem.grad, 22), {"state": v0})],
        names=["momentum_step"] * (len(cases) + 1))
    for (key, shape, beta, theta, grad, velocity), outcome in zip(cases, outcomes):
        got = outcome.get()
        expected = ref.call(f"mom_hidden_{key}", "momentum_step", theta, grad, velocity, 0.05,
                            beta)
        assert_close(got, expected, rtol=1e-12, atol=1e-15,
                     name=f"momentum_step on theta of shape {shape}, beta={beta}", hint=HINT)
    traj = run.get()
    expected = ref.compute("mom_traj_hidden", lambda sol: run_steps(
        lambda th, g, v: sol.momentum_step(th, g, v, 1.5, 0.2), problem.start(), problem.grad,
        6, state=v0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="momentum (lr=1.5, beta=0.2), second quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, v: (next(replay), v), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="momentum (lr=1.5, beta=0.2)", hint=HINT)
