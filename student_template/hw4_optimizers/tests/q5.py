from autograder.checks import test_case

OK_FORMAT = False

name = "q5"
points = 3

HINT = (
    "m' = beta1 m + (1 - beta1) grad and v' = beta2 v + (1 - beta2) grad**2; bias correction "
    "mhat = m' / (1 - beta1**t), vhat = v' / (1 - beta2**t) with t 1-based (the first step is "
    "t = 1: use t as given, do not add 1); theta' = theta - lr * mhat / (sqrt(vhat) + eps): "
    "epsilon goes outside the square root (Kingma & Ba, torch.optim.Adam), not inside as in "
    "the RL lecture; return (theta', m', v')"
)


@test_case(name='adam_step: step t=3', points=1, hidden=False)
def test_adam_step(adam_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q5")
    rng = np.random.default_rng(50)
    theta, grad, m = rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    v = rng.uniform(size=(2, 2))
    got = assert_no_mutation(adam_step, theta, grad, m, v, 3, lr=0.01, beta1=0.9, beta2=0.999,
                             eps=1e-8, name="adam_step")
    expected = ref.call("adam_t3", "adam_step", theta, grad, m, v, 3, lr=0.01, beta1=0.9,
                        beta2=0.999, eps=1e-8)
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        "adam_step must return a triple (theta', m', v')"
    )
    assert_close(got, expected, rtol=1e-12, atol=1e-15,
                 name="adam_step(theta, grad, m, v, t=3, lr=0.01)", hint=HINT)


@test_case(name='adam_step: epsilon with tiny gradients', points=1, hidden=False)
def test_adam_tiny_gradients(adam_step):
    import numpy as np

    from autograder.checks import Reference, assert_close

    ref = Reference("q5")
    rng = np.random.default_rng(51)
    # gradients and moments around 1e-9: sqrt(vhat) + eps ~ 2e-8, but sqrt(vhat + eps) ~ 1e-4
    theta, grad, m = rng.normal(size=4), 1e-9 * rng.normal(size=4), 1e-9 * rng.normal(size=4)
    v = 1e-18 * rng.uniform(size=4)
    got = adam_step(theta, grad, m, v, 5, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    expected = ref.call("adam_tiny", "adam_step", theta, grad, m, v, 5, lr=1e-3, beta1=0.9,
                        beta2=0.999, eps=1e-8)
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        "adam_step must return a triple (theta', m', v')"
    )
    assert_close(got, expected, rtol=1e-10, atol=1e-30,
                 name="adam_step with gradients ~1e-9, t=5, eps=1e-8", hint=HINT)


@test_case(name='adam_step: trajectory from t=1 and convergence', points=1, hidden=False)
def test_adam_path(adam_step):
    import numpy as np

    from autograder.checks import (
        GRAD,
        STATE,
        STEP,
        THETA,
        Reference,
        StepCall,
        assert_converges,
        assert_trajectory_close,
        call_each,
        problems,
        run_steps,
    )

    ref = Reference("q5")

    def make_step(fn, lr, beta1, beta2):
        def step(th, g, state):
            m, v, t = state
            th, m, v = fn(th, g, m, v, t + 1, lr=lr, beta1=beta1, beta2=beta2, eps=1e-8)
            return th, (m, v, t + 1)
        return step

    def student_step(lr, beta1, beta2):
        # the same step as data, state (m, v) and t = the step number: the loop runs next to
        # the stub
        return StepCall(adam_step, THETA, GRAD, STATE[0], STATE[1], STEP, lr=lr, beta1=beta1,
                        beta2=beta2, eps=1e-8, returns=(THETA, STATE[0], STATE[1]))

    rosen = problems.rosenbrock()
    problem = problems.quadratic(dim=2, condition=4.0, seed=1)
    z2 = np.zeros(2)
    # both runs at once (one round trip in the grader), read in order below
    on_rosen, on_quadratic = call_each(
        [(run_steps, (student_step(0.05, 0.9, 0.999), rosen.start(), rosen.grad, 5),
          {"state": (z2, z2)}),
         (run_steps, (student_step(0.2, 0.5, 0.99), problem.start(), problem.grad, 40),
          {"state": (z2, z2)})],
        names=["adam_step"] * 2)
    traj = on_rosen.get()
    expected = ref.compute("adam_traj_rosen", lambda sol: run_steps(
        make_step(sol.adam_step, 0.05, 0.9, 0.999), rosen.start(), rosen.grad, 5,
        state=(z2, z2, 0)).iterates)
    assert_trajectory_close(traj, expected, rtol=1e-10, atol=1e-13,
                            name="Adam (lr=0.05) on the Rosenbrock function, t = 1, 2, ...",
                            hint=HINT)
    # one run of the student's steps serves both checks: its first 6 iterates against the
    # reference trajectory, its last against the optimum (the run is replayed, not re-run)
    traj = on_quadratic.get()
    expected = ref.compute("adam_traj_quadratic", lambda sol: run_steps(
        make_step(sol.adam_step, 0.2, 0.5, 0.99), problem.start(), problem.grad, 6,
        state=(z2, z2, 0)).iterates)
    assert_trajectory_close(traj, expected, k=6, rtol=1e-10, atol=1e-13,
                            name="Adam (lr=0.2, beta1=0.5, beta2=0.99) on a quadratic", hint=HINT)
    replay = iter(traj.iterates[1:])
    assert_converges(lambda th, g, s: (next(replay), s), problem, steps=traj.steps, tol=1e-4,
                     criterion="distance", name="Adam (lr=0.2, beta1=0.5, beta2=0.99)",
                     hint=HINT)
