from autograder.checks import test_case

OK_FORMAT = False

name = "q5"
points = 6

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


@test_case(name='adam_step: first step, t=1, default arguments', points=1, hidden=True)
def test_adam_first_step_and_defaults(adam_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q5")
    rng = np.random.default_rng(52)
    theta, grad = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    zeros = np.zeros((3, 2))
    # t = 1 from zero moments, default hyper-parameters (lr=1e-3, betas 0.9/0.999, eps=1e-8)
    got = assert_no_mutation(adam_step, theta, grad, zeros, zeros, 1, name="adam_step")
    expected = ref.call("adam_t1_defaults", "adam_step", theta, grad, zeros, zeros, 1)
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        "adam_step must return a triple (theta', m', v')"
    )
    assert_close(got, expected, rtol=1e-12, atol=1e-15,
                 name="adam_step(theta, grad, 0, 0, t=1) with the default arguments", hint=HINT)
    # independent check: at t = 1, mhat = grad and vhat = grad**2
    assert_close(theta - np.asarray(got[0]), 1e-3 * grad / (np.abs(grad) + 1e-8), rtol=1e-8,
                 atol=1e-15, name="the first step theta - theta' (should be lr * g / (|g| + eps))",
                 hint=HINT)


@test_case(name='adam_step: edge cases (t=1 tiny gradients, t=1000, 0-d, 3-d)', points=1, hidden=True)
def test_adam_hidden_edge_cases(adam_step):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q5")
    rng = np.random.default_rng(53)
    cases = {
        # t = 1 with gradients of 1e-8: the step is lr * g / (|g| + eps) = lr / 2 in size
        "tiny_t1": (rng.normal(size=4), 1e-8 * np.sign(rng.normal(size=4)), np.zeros(4),
                    np.zeros(4), 1, 0.01),
        # late step: the bias corrections are almost 1
        "late": (rng.normal(size=3), rng.normal(size=3), rng.normal(size=3),
                 rng.uniform(size=3), 1000, 0.001),
        "scalar": (np.array(0.4), np.array(-1.2), np.array(0.1), np.array(0.3), np.int64(2),
                   0.1),
        "cube": (rng.normal(size=(2, 2, 2)), rng.normal(size=(2, 2, 2)),
                 rng.normal(size=(2, 2, 2)), rng.uniform(size=(2, 2, 2)), 7, np.float64(0.02)),
    }
    # the four steps at once (one round trip in the grader), read in order below
    outcomes = call_each(
        [(adam_step, (theta, grad, m, v, t), {"lr": lr, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8})
         for theta, grad, m, v, t, lr in cases.values()],
        names=["adam_step"] * len(cases))
    for (key, (theta, grad, m, v, t, lr)), outcome in zip(cases.items(), outcomes):
        got = outcome.get()
        expected = ref.call(f"adam_hidden_{key}", "adam_step", theta, grad, m, v, int(t),
                            lr=float(lr), beta1=0.8, beta2=0.99, eps=1e-8)
        assert isinstance(got, (tuple, list)) and len(got) == 3, (
            "adam_step must return a triple (theta', m', v')"
        )
        assert_close(got, expected, rtol=1e-10, atol=1e-25,
                     name=f"adam_step ({key}: t={int(t)}, theta of shape {np.shape(theta)})",
                     hint=HINT)


@test_case(name='adam_step: trajectory on another quadratic', points=1, hidden=True)
def test_adam_hidden_path(adam_step):
    import numpy as np

    from autograder.checks import (
        GRAD,
        STATE,
        STEP,
        THETA,
        Reference,
        StepCall,
        assert_trajectory_close,
        problems,
        run_steps,
    )

    ref = Reference("q5")

    def make_step(fn, lr):
        def step(th, g, state):
            m, v, t = state
            th, m, v = fn(th, g, m, v, t + 1, lr=lr, beta1=0.9, beta2=0.999, eps=1e-8)
            return th, (m, v, t + 1)
        return step

    # the first steps on a problem the public tests never show (convergence: test_adam_path)
    problem = problems.quadratic(dim=3, condition=5.0, seed=2)
    z3 = np.zeros(3)
    # the same step as data (state (m, v), t = the step number): the loop runs next to the stub
    step = StepCall(adam_step, THETA, GRAD, STATE[0], STATE[1], STEP, lr=0.1, beta1=0.9,
                    beta2=0.999, eps=1e-8, returns=(THETA, STATE[0], STATE[1]))
    traj = run_steps(step, problem.start(), problem.grad, 6, state=(z3, z3))
    expected = ref.compute("adam_traj_hidden", lambda sol: run_steps(
        make_step(sol.adam_step, 0.1), problem.start(), problem.grad, 6,
        state=(z3, z3, 0)).iterates)
    assert_trajectory_close(traj, expected, rtol=1e-10, atol=1e-13,
                            name="Adam (lr=0.1), second quadratic", hint=HINT)
