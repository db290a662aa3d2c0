"""hw4_optimizers: my answers as a plain script (I could not get Jupyter to work)."""


import numpy as np


def _f64(a):
    """A float64 ndarray (arithmetic on 0-d arrays yields NumPy scalars; keep arrays)."""
    return np.asarray(a, dtype=np.float64)


def sgd_step(theta, grad, lr):
    """One plain gradient step: theta - lr * grad (same shape as theta)."""
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    return _f64(theta - lr * grad)


def minibatch_indices(n, batch_size, rng):
    """Mini-batches of one epoch without replacement.

    Calls rng.permutation(n) exactly once and returns the list of consecutive slices of that
    permutation, each batch_size long but the last, which may be shorter.
    """
    n = int(n)
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    perm = np.asarray(rng.permutation(n))
    return [perm[start : start + batch_size].copy() for start in range(0, n, batch_size)]


def momentum_step(theta, grad, velocity, lr, beta):
    """Heavy-ball momentum (the CV lecture's form, as torch.optim.SGD with momentum).

    velocity' = beta * velocity + grad, theta' = theta - lr * velocity'.
    Returns (theta', velocity'), both shaped like theta.
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    velocity = np.asarray(velocity, dtype=np.float64)
    new_velocity = beta * velocity + grad
    return _f64(theta - lr * new_velocity), _f64(new_velocity)


def adagrad_norm_step(theta, grad, accum, lr, eps):
    """Adaptive learning rate with one scalar accumulator (the CV lecture's variant).

    accum' = accum + sum(grad**2), theta' = theta - lr * grad / sqrt(eps + accum').
    Returns (theta', accum'), accum' a Python float.
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    new_accum = float(accum) + float(np.sum(grad * grad))
    return _f64(theta - lr * grad / np.sqrt(eps + new_accum)), new_accum


def rmsprop_step(theta, grad, v, lr, gamma, eps):
    """RMSprop with epsilon outside the root (as torch.optim.RMSprop with alpha=gamma).

    v' = gamma v + (1 - gamma) grad^2, theta' = theta - lr * grad / (sqrt(v') + eps).
    Returns (theta', v'), both shaped like theta.
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    new_v = gamma * v + (1.0 - gamma) * grad * grad
    return _f64(theta - lr * grad / (np.sqrt(new_v) + eps)), _f64(new_v)


def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step with bias correction; t is the 1-based number of this step.

    m' = beta1 m + (1-beta1) grad, v' = beta2 v + (1-beta2) grad^2, mhat = m'/(1-beta1^t),
    vhat = v'/(1-beta2^t), theta' = theta - lr * mhat / (sqrt(vhat) + eps) (epsilon outside the
    root, as Kingma & Ba and torch.optim.Adam). Returns (theta', m', v'), all shaped like theta.
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    new_m = beta1 * m + (1.0 - beta1) * grad
    new_v = beta2 * v + (1.0 - beta2) * grad * grad
    m_hat = new_m / (1.0 - beta1**t)
    v_hat = new_v / (1.0 - beta2**t)
    return _f64(theta - lr * m_hat / (np.sqrt(v_hat) + eps)), _f64(new_m), _f64(new_v)


def sgd_linear_regression(X, y, lr, epochs, batch_size, seed):
    """Mini-batch SGD for least squares, theta starting at zeros (d,).

    rng = np.random.default_rng(seed); each epoch loops over minibatch_indices(n, batch_size, rng)
    and applies sgd_step with the batch-mean gradient of 0.5 (x^T theta - y)^2, i.e.
    X_B^T (X_B theta - y_B) / |B|. Returns (theta (d,), losses (epochs,)), losses[e] the full-data
    mean of 0.5 (x^T theta - y)^2 after epoch e.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    rng = np.random.default_rng(seed)
    theta = np.zeros(d, dtype=np.float64)
    epochs = int(epochs)
    losses = np.empty(epochs, dtype=np.float64)
    for e in range(epochs):
        for idx in minibatch_indices(n, batch_size, rng):
            Xb = X[idx]
            rb = Xb @ theta - y[idx]
            grad = Xb.T @ rb / len(idx)
            theta = sgd_step(theta, grad, lr)
        r = X @ theta - y
        losses[e] = 0.5 * float(np.mean(r * r))
    return theta, losses
