"""Running optimiser steps in a loop, and checking where they go.

:func:`run_steps` drives any step function with one signature,
``theta, state = step(theta, grad, state)``. Stubs with other signatures are wrapped by the
test in a small adapter, e.g.::

    # sgd_step(theta, grad, lr) -> theta            (no state)
    step = lambda th, g, s: (sgd_step(th, g, 0.1), s)
    # momentum_step(theta, grad, velocity, lr, beta) -> (theta', velocity')
    step = lambda th, g, v: momentum_step(th, g, v, 0.1, 0.9)
    # adam_step(theta, grad, m, v, t, ...) -> (theta', m', v'); the state is (m, v, t)
    def step(th, g, s):
        m, v, t = s
        th, m, v = adam_step(th, g, m, v, t + 1, lr=0.05)
        return th, (m, v, t + 1)
    traj = run_steps(step, theta0, problem.grad, 100, state=(zeros, zeros, 0))

:func:`assert_trajectory_close` names the first step where a trajectory leaves the reference one
(metric of :func:`~.compare.assert_close`); :func:`assert_converges` checks that a step function
reaches a :class:`~.problems.Problem`'s optimum within a step budget and returns the loss curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import attachments
from ._safe import as_float_array, as_float_scalar, fmt, plain_array, type_name
from .compare import _mismatch_mask, assert_close, check_close
from .steps import StepCall, check_iterate, run_in_sandbox, sandbox_loop, sandbox_result

__all__ = ["Trajectory", "assert_converges", "assert_trajectory_close", "run_steps"]


@dataclass
class Trajectory:
    """Iterates of :func:`run_steps`.

    ``iterates`` has shape ``(n + 1, *theta0.shape)``, ``theta0`` first, where ``n`` is the
    number of steps run: ``steps``, or fewer if an iterate became non-finite (then
    ``diverged_at`` is the index of the first non-finite iterate, and the run stopped there).
    ``losses`` (``(n + 1,)``) holds ``loss_fn`` at every iterate when given, else None.
    ``states`` holds the state after each step when ``keep_states`` was set (``states[0]`` is
    the initial state), else None; ``final_state`` is always kept.
    """

    iterates: np.ndarray
    losses: np.ndarray | None = None
    states: list | None = None
    final_state: object = None
    diverged_at: int | None = None

    @property
    def final(self) -> np.ndarray:
        """The last iterate."""
        return self.iterates[-1]

    @property
    def steps(self) -> int:
        """Number of steps actually run."""
        return self.iterates.shape[0] - 1


def run_steps(step, theta0, grad_fn, steps, state=None, loss_fn=None, *,
              keep_states=False) -> Trajectory:
    """Loop ``theta, state = step(theta, grad_fn(theta), state)`` for ``steps`` steps.

    ``theta0`` is copied (float64) and never modified. Each returned ``theta`` is checked: it
    must be an array (or number) of ``theta0``'s shape, otherwise AssertionError naming the
    step. Stops early when an iterate has a NaN or inf (see :class:`Trajectory`).

    ``step`` may be a :class:`~.steps.StepCall` (the step as data); in batch grading its loop
    then runs inside the student's sandbox and only the iterates come back (checked here like
    those of a loop run here; ``keep_states`` keeps the loop here).
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError("steps must be >= 0")
    theta = as_float_array(theta0, "theta0")
    shape = theta.shape
    runner = None if keep_states else sandbox_loop(step)
    if runner is not None:
        iterates, state = run_in_sandbox(runner, step, theta, grad_fn, steps, state)
        return _trajectory_of(iterates, state, loss_fn)
    iterates = np.empty((steps + 1,) + shape)
    iterates[0] = theta
    losses = np.empty(steps + 1) if loss_fn is not None else None
    if losses is not None:
        losses[0] = _loss(loss_fn, theta)
    states = [state] if keep_states else None
    diverged = None
    n = 0
    for t in range(1, steps + 1):
        grad = grad_fn(theta.copy())
        if isinstance(step, StepCall):
            new_theta, state = step(theta.copy(), grad, state, t)
        else:
            out = step(theta.copy(), grad, state)
            if not isinstance(out, tuple) or len(out) != 2:
                raise AssertionError(
                    f"step {t}: the step function must return a pair (theta, state), got "
                    f"{type_name(out)}; wrap the stub in an adapter such as "
                    "`lambda th, g, s: (sgd_step(th, g, lr), s)`")
            new_theta, state = out
        theta = check_iterate(t, new_theta, shape)
        iterates[t] = theta
        if keep_states:
            states.append(state)
        n = t
        if losses is not None:
            losses[t] = _loss(loss_fn, theta)
        if not np.all(np.isfinite(theta)) or (losses is not None and not np.isfinite(losses[t])):
            diverged = t
            break
    return Trajectory(iterates[: n + 1].copy(), None if losses is None else losses[: n + 1].copy(),
                      states, state, diverged)


def sandbox_request(args: tuple, kwargs: dict):
    """For ``run_steps(*args, **kwargs)`` whose loop would run in the sandbox: ``(entry,
    finish)``, where ``entry`` is that loop as an entry of its proxy's ``call_batch`` (one
    request with other calls, ``checks.call_each``) and ``finish(answer)`` turns the entry's
    answer into the :class:`Trajectory` (or the error) ``run_steps`` gives. None otherwise
    (the loop runs here, or the arguments are wrong): ``run_steps`` itself is then called."""
    try:
        step, theta0, grad_fn, steps, state, loss_fn, keep = _run_steps_arguments(*args, **kwargs)
        steps = int(steps)
        theta = as_float_array(theta0, "theta0")
    except Exception:
        return None
    entry_of = getattr(step.fn, "loop_entry", None) if sandbox_loop(step) else None
    if steps < 0 or keep or not callable(entry_of):
        return None

    def finish(answer: dict) -> Trajectory:
        iterates, final = sandbox_result(step, theta, answer)
        return _trajectory_of(iterates, final, loss_fn)

    return entry_of(step, theta, grad_fn, steps, state), finish


def _run_steps_arguments(step, theta0, grad_fn, steps, state=None, loss_fn=None, *,
                         keep_states=False):
    return step, theta0, grad_fn, steps, state, loss_fn, keep_states


def _trajectory_of(iterates: np.ndarray, state, loss_fn) -> Trajectory:
    """The :class:`Trajectory` of iterates a loop run elsewhere reached, ending at the first
    non-finite iterate or loss, as :func:`run_steps` ends its own loop (losses computed here)."""
    n = iterates.shape[0] - 1
    finite = np.isfinite(iterates.reshape(n + 1, -1)).all(axis=1)
    finite[0] = True  # (theta0 is the test's: run_steps checks iterates from step 1 on)
    losses = None
    diverged = None if finite.all() else int(np.flatnonzero(~finite)[0])
    if loss_fn is not None:
        values = []
        for t in range(n + 1 if diverged is None else diverged + 1):
            values.append(_loss(loss_fn, iterates[t]))
            if t and not np.isfinite(values[-1]):
                diverged = t
                break
        losses = np.array(values, dtype=np.float64)
    if diverged is not None:
        iterates = iterates[: diverged + 1]
    return Trajectory(iterates.copy(), losses, None, state, diverged)


def _loss(loss_fn, theta):
    # a diverging run overflows inside the loss; that is reported, not warned about
    with np.errstate(over="ignore", invalid="ignore"):
        return as_float_scalar(loss_fn(theta.copy()), "loss")


def _iterates_of(value):
    if isinstance(value, Trajectory):
        return value.iterates
    return value


def assert_trajectory_close(actual, reference, *, k=None, rtol=1e-7, atol=0.0,
                            name="trajectory", hint=None, loss_fn=None) -> None:
    """Assert that the first ``k`` steps of ``actual`` match ``reference``; name the first that differs.

    ``actual``/``reference`` are :class:`Trajectory` objects or iterate arrays
    ``(steps + 1, *shape)`` (``theta0`` first). ``k`` is the number of steps compared (iterates
    ``0..k``); by default the whole reference, and then the lengths must agree. Metric per entry:
    ``|actual - reference| <= atol + rtol * |reference|``. ``loss_fn`` (the problem's loss, a
    trusted function) only shapes the picture a feedback page draws of the compared steps: both
    runs' losses; without it, both runs' iterate norms.
    """
    ref = as_float_array(_iterates_of(reference), "reference")
    act_raw = _iterates_of(actual)
    act = plain_array(act_raw)
    if act is None or act.dtype.kind not in "biuf" or act.ndim != ref.ndim:
        # let assert_close explain the type/shape problem
        assert_close(act_raw, ref if k is None else ref[: k + 1], rtol=rtol, atol=atol, name=name,
                     hint=hint)
        raise AssertionError(f"{name}: expected an array of iterates of shape {ref.shape}")
    act = act.astype(np.float64)
    if act.shape[1:] != ref.shape[1:]:
        assert_close(act, ref, rtol=rtol, atol=atol, name=name, hint=hint)
    if k is None:
        n = ref.shape[0]
        if act.shape[0] != n:
            _fail(f"{name}: got {act.shape[0]} iterates, expected {n} "
                  f"({n - 1} steps plus theta0 first)", hint)
    else:
        n = int(k) + 1
        if ref.shape[0] < n:
            raise ValueError(f"the reference has only {ref.shape[0]} iterates, k={k} needs {n}")
        if act.shape[0] < n:
            _fail(f"{name}: got {act.shape[0]} iterates, expected at least {n} "
                  f"(theta0 and {n - 1} steps)", hint)
    first = next((t for t in range(n) if _mismatch_mask(act[t], ref[t], rtol, atol).any()), None)
    if attachments.active():
        _attach_trajectory(act[:n], ref[:n], first, name, rtol, atol, loss_fn)
    if first is not None:
        t = first
        res = check_close(act[t], ref[t], rtol=rtol, atol=atol, name=f"{name}[{t}]")
        where = ("at step 0: the first iterate must be theta0 itself" if t == 0 else
                 f"first differs at step {t} (iterates 0..{t - 1} match)")
        _fail(f"{name}: {where}\n{res.message}", hint)


def _attach_trajectory(act, ref, first, name, rtol, atol, loss_fn) -> None:
    """Both runs as curves for the feedback page, computed here from the plain iterates."""
    if loss_fn is not None:
        ylabel = "loss"
        with np.errstate(all="ignore"):
            try:
                got = np.array([_loss(loss_fn, th) for th in act])
                expected = np.array([_loss(loss_fn, th) for th in ref])
            except Exception:  # a diverged iterate the loss cannot take: no picture, same verdict
                return
    else:
        ylabel = "norm of the iterate ||theta_t||"
        with np.errstate(all="ignore"):
            got = np.linalg.norm(act.reshape(act.shape[0], -1), axis=1)
            expected = np.linalg.norm(ref.reshape(ref.shape[0], -1), axis=1)
    got_points, got_steps = attachments.curve_points(got, first)
    expected_points, expected_steps = attachments.curve_points(expected, first)
    attachments.attach("curve", title=name, ylabel=ylabel, got=got_points, got_steps=got_steps,
                       expected=expected_points, expected_steps=expected_steps, rtol=float(rtol),
                       atol=float(atol), first_diverging=first, tol=None)


def _fail(text, hint):
    raise AssertionError(text + (f"\nhint: {hint}" if hint else ""))


def _attach_convergence(traj, problem, criterion, tol, where) -> None:
    """The run's curve against its threshold: loss - f* (loss criterion) or the distance to the
    optimum, per step; the step where it became non-finite marked."""
    if criterion == "loss":
        values, ylabel = traj.losses - problem.f_star, "loss - f*"
    else:
        values = np.linalg.norm(traj.iterates.reshape(traj.iterates.shape[0], -1)
                                - np.asarray(problem.x_star, dtype=np.float64).reshape(1, -1), axis=1)
        ylabel = "distance to the minimiser ||x - x*||"
    points, steps = attachments.curve_points(values, traj.diverged_at)
    attachments.attach("curve", title=where, ylabel=ylabel, got=points, got_steps=steps,
                       expected=None, expected_steps=None, rtol=0.0, atol=0.0,
                       first_diverging=traj.diverged_at, tol=float(tol))


def _curve(losses: np.ndarray) -> str:
    n = len(losses) - 1
    picks = sorted({0, n // 4, n // 2, (3 * n) // 4, n})
    return ", ".join(f"step {i}: {fmt(losses[i])}" for i in picks)


def assert_converges(step, problem, *, steps, tol, state=None, criterion=None,
                     name="optimizer", hint=None) -> np.ndarray:
    """Run ``step`` on ``problem`` for ``steps`` steps from ``problem.x0``; assert it converged.

    ``criterion="loss"``: ``loss(x_final) - f_star <= tol``; ``"distance"``:
    ``||x_final - x_star|| <= tol`` (Euclidean norm). Default: ``"loss"`` when ``f_star`` is
    known, else ``"distance"``. A NaN/inf iterate fails with the step where it appeared.
    Returns the losses at every iterate (``(steps + 1,)``), e.g. for plotting.
    """
    if criterion is None:
        criterion = "loss" if problem.f_star is not None else "distance"
    if criterion not in ("loss", "distance"):
        raise ValueError("criterion must be 'loss' or 'distance'")
    if criterion == "loss" and problem.f_star is None:
        raise ValueError(f"{problem.name} has no known f_star; use criterion='distance'")
    if criterion == "distance" and problem.x_star is None:
        raise ValueError(f"{problem.name} has no known x_star")
    traj = run_steps(step, problem.start(), problem.grad, steps, state, loss_fn=problem.loss)
    losses = traj.losses
    where = f"{name} on {problem.name}"
    if attachments.active():
        _attach_convergence(traj, problem, criterion, tol, where)
    if traj.diverged_at is not None:
        _fail(f"{where}: diverged: the iterate or its loss became NaN/inf at step "
              f"{traj.diverged_at} of {steps} (loss {_curve(losses)}); a step size too large, "
              "a wrong sign, or a division by a vanishing quantity?", hint)
    final = traj.final
    if criterion == "loss":
        gap = losses - problem.f_star
        value, label = float(gap[-1]), "loss - f*"
    else:
        dists = np.linalg.norm(traj.iterates.reshape(traj.iterates.shape[0], -1)
                               - np.asarray(problem.x_star).reshape(1, -1), axis=1)
        value, label = float(dists[-1]), "||x - x*||"
        gap = dists
    if not value <= tol:
        lines = [f"{where}: not converged: after {steps} steps {label} = {value:.3g} > tol={tol:g}"]
        lines.append(f"  loss: {_curve(losses)}")
        if criterion == "loss" and problem.f_star is not None:
            lines.append(f"  f* = {fmt(problem.f_star)}")
        hit = np.flatnonzero(gap <= tol)
        best = int(np.argmin(gap))
        if hit.size:
            lines.append(f"  it was within tol at step {int(hit[0])} and then left again")
        else:
            lines.append(f"  best {label} = {float(gap[best]):.3g} at step {best}")
        rises = np.flatnonzero(np.diff(losses) > 1e-12 * np.maximum(1.0, np.abs(losses[:-1])))
        if rises.size:
            lines.append(f"  the loss went up at {rises.size} step(s), first at step "
                         f"{int(rises[0]) + 1}")
        if losses[-1] >= losses[0]:
            lines.append("  the loss did not decrease at all: check the sign of the update")
        lines.append(f"  final iterate: {np.array2string(final, precision=4, threshold=8)}")
        _fail("\n".join(lines), hint)
    return losses
