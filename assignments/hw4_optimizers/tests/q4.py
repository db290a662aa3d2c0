from autograder.checks import test_case

OK_FORMAT = False

name = "q4"
points = 4

HINT = (
    "v' = gamma * v + (1 - gamma) * grad**2 (elementwise), then "
    "theta' = theta - lr * grad / (sqrt(v') + eps) with the NEW v' and epsilon outside the "
    "square root (as torch.optim.RMSprop; the RL lecture writes sqrt(v + eps))"
)


@test_case(name='rmsprop_step: one step', points=1, hidden=False)
def test_rmsprop_step(rmsprop_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q4")
    rng = np.random.default_rng(40)
    theta, grad, v = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.uniform(size=(2, 3))
    # first step from v = 0 with tiny gradients: where epsilon goes matters
    theta2, grad2 = rng.normal(size=4), 1e-4 * rng.normal(size=4)
    # both steps at once (one round trip in the grader; the first checked for in-place
    # changes, the second a plain call), read in order below
    checked, tiny = call_each([(rmsprop_step, (theta, grad, v, 0.01, 0.9, 1e-8)),
                               (rmsprop_step, (theta2, grad2, np.zeros(4), 0.01, 0.9, 1e-3))],
                              names=["rmsprop_step"] * 2, no_mutation=[True, False])
    got = checked.get()
    expected = ref.call("rms_step", "rmsprop_step", theta, grad, v, 0.01, 0.9, 1e-8)
    assert_close(got, expected, rtol=1e-12, atol=1e-15,
                 name="rmsprop_step(theta, grad, v, lr=0.01, gamma=0.9, eps=1e-8)", hint=HINT)
    got = tiny.get()
    expected = ref.call("rms_tiny", "rmsprop_step", theta2, grad2, np.zeros(4), 0.01, 0.9, 1e-3)
    assert_close(got, expected, rtol=1e-12, atol=1e-18,
                 name="rmsprop_step(theta, grad ~1e-4, v=0, lr=0.01, gamma=0.9, eps=1e-3)",
                 hint=HINT)


@test_case(name='rmsprop_step: trajectory and convergence', points=1, hidden=False)
def test_rmsprop_path(rmsprop_step):
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

    ref = Reference("q4")
    # one run of the student's steps serves both checks: its first 6 iterates against the
    # reference trajectory, its last against the optimum (the run is replayed, not re-run)
    problem = problems.quadratic(dim=3, condition=5.0, seed=2)
    v0 = np.zeros(3)

    step = StepCall(rmsprop_step, THETA, GRAD, STATE, 0.1, 0.99, 1e-8)  # the loop runs next to the stub
    traj = run_steps(step, problem.start(), problem.grad, 26, state=v0)
    expected = ref.compute("rms_traj", lambda sol: run_steps(
        lambda th, g, v: sol.rmsprop_step(th, g, v, 0.1, 0.99, 1e-8), problem.start(),
        problem.grad, 6, state=v0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="RMSprop (lr=0.1, gamma=0.99) on a quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, v: (next(replay), v), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="RMSprop (lr=0.1, gamma=0.99)", hint=HINT)


@test_case(name='rmsprop_step: other inputs', points=2, hidden=True)
def test_rmsprop_hidden(rmsprop_step):
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

    ref = Reference("q4")
    rng = np.random.default_rng(41)
    cases = {
        # gradients of 1e-8 with eps = 1e-8: sqrt(v') + eps and sqrt(v' + eps) differ by 1e4
        "tiny": (rng.normal(size=5), 1e-8 * rng.normal(size=5), np.zeros(5), 1e-3, 0.9, 1e-8),
        "scalar": (np.array(1.5), np.array(-0.3), np.array(0.2), 0.1, 0.5, 1e-8),
        "cube": (rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)),
                 rng.uniform(size=(2, 3, 2)), np.float64(0.02), np.float64(0.999), 1e-6),
        "gamma0": (rng.normal(size=3), rng.normal(size=3), rng.uniform(size=3), 0.1, 0.0, 1e-8),
    }
    problem = problems.quadratic(dim=2, condition=3.0, seed=6)
    v0 = np.zeros(2)
    step = StepCall(rmsprop_step, THETA, GRAD, STATE, 0.05, 0.99, 1e-8)  # the loop runs next to the stub
    # the four steps and the loop at once (one round trip in the grader), read in order below
    *outcomes, run = call_each(
        [(rmsprop_step, args) for args in cases.values()]
        + [(run_steps, (step, problem.start(), problem.grad, 22), {"state": v0})],
        names=["rmsprop_step"] * (len(cases) + 1))
    for (key, (theta, grad, v, lr, gamma, eps)), outcome in zip(cases.items(), outcomes):
        got = outcome.get()
        expected = ref.call(f"rms_hidden_{key}", "rmsprop_step", theta, grad, v, float(lr),
                            float(gamma), eps)
        assert_close(got, expected, rtol=1e-11, atol=1e-20,
                     name=f"rmsprop_step ({key}: theta of shape {np.shape(theta)})", hint=HINT)
    traj = run.get()
    expected = ref.compute("rms_traj_hidden", lambda sol: run_steps(
        lambda th, g, v: sol.rmsprop_step(th, g, v, 0.05, 0.99, 1e-8), problem.start(),
        problem.grad, 6, state=v0).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="RMSprop (lr=0.05, gamma=0.99), second quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, v: (next(replay), v), problem, steps=traj.steps, tol=1e-6,
                     criterion="distance", name="RMSprop (lr=0.05, gamma=0.99)", hint=HINT)
