from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

HINT = (
    "heavy-ball form: velocity' = beta * velocity + grad (no (1 - beta) factor, unlike the RL "
    "lecture's average), then theta' = theta - lr * velocity' with the NEW velocity; "
    "return (theta', velocity')"
)


@test_case(points=1, hidden=False)
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


@test_case(points=1, hidden=False)
def test_momentum_path(momentum_step):
    import numpy as np

    from autograder.checks import (
        Reference,
        assert_converges,
        assert_trajectory_close,
        problems,
        run_steps,
    )

    ref = Reference("q2")
    # condition number 50: plain gradient descent with lr = 1 is still at loss ~2e-4 after 100
    # steps; heavy-ball momentum gets below 1e-7 in 100
    problem = problems.quadratic(dim=5, condition=50.0, seed=2)
    v0 = np.zeros(5)

    def step(th, g, v):
        return momentum_step(th, g, v, 0.5, 0.8)

    traj = run_steps(step, problem.start(), problem.grad, 10, state=v0)
    expected = ref.compute("mom_traj", lambda sol: run_steps(
        lambda th, g, v: sol.momentum_step(th, g, v, 0.5, 0.8), problem.start(), problem.grad,
        10, state=v0).iterates)
    assert_trajectory_close(traj, expected, rtol=1e-10, atol=1e-13,
                            name="momentum (lr=0.5, beta=0.8) on a quadratic", hint=HINT)
    assert_converges(step, problem, steps=100, tol=1e-7, state=v0,
                     name="momentum (lr=0.5, beta=0.8)", hint=HINT)
