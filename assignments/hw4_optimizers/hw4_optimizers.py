# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Homework 4: SGD, momentum, adaptive steps and Adam
#
# Plain gradient descent takes the same step size in every direction and uses the whole data set
# for every step. The optimizers used to train neural networks improve on it with three ideas:
#
# 1. **stochasticity**: estimate the gradient from a small random mini-batch of the data;
# 2. **momentum**: let past gradients keep pushing in their direction, which smooths the path;
# 3. **adaptive learning rates**: shrink the step where gradients have been large.
#
# Adam combines all three. You will write each idea as a *step function* that maps the current
# parameters, the gradient and some optimizer state to the next parameters and the next state,
# and then use SGD to fit a linear regression.
#
# Rules for every function below:
# - `theta` may have any shape (a vector, a matrix, even a 0-d array); return new float64 arrays
#   of the same shape;
# - never modify an input in place: write `theta = theta - lr * grad`, not `theta -= lr * grad`
#   (the tests check this);
# - use NumPy only; a scalar may be a Python float, a NumPy scalar or a 0-d array.
#
# Run the check cell that follows each question once you have finished it. The public tests
# there are a subset of the tests used for grading; the grading tests also run your step
# functions in a loop on test problems and compare the path with the reference path.

# %%
import numpy as np

# %% [markdown]
# ## Question 1: the SGD step and mini-batches
#
# For a loss that is an average over $n$ data points, $L(\theta) = \frac1n \sum_i \ell_i(\theta)$,
# the gradient is an average too, so the average over a random subset $B$ (a **mini-batch**) is a
# cheap, noisy estimate of it:
#
# $$\theta_{t+1} = \theta_t - \eta\, g_t,\qquad g_t = \frac{1}{|B_t|}\sum_{i \in B_t} \nabla \ell_i(\theta_t).$$
#
# One **epoch** is one pass over the data. As in the RL lecture we sample **without replacement**:
# shuffle the indices $0, \dots, n-1$ once per epoch and cut the shuffled list into consecutive
# batches of `batch_size`; when `batch_size` does not divide $n$ the last batch is shorter.
#
# **Convention.** `minibatch_indices` receives a NumPy random generator `rng` and must call
# `rng.permutation(n)` **exactly once**; do not create a generator of your own. (The tests give
# you a seeded generator and check that you drew from it exactly one permutation.)

# %%
def sgd_step(theta, grad, lr):
    """One gradient step: returns theta - lr * grad, a new array shaped like theta."""
    raise NotImplementedError("sgd_step")


# %%
def minibatch_indices(n, batch_size, rng):
    """The mini-batches of one epoch, sampled without replacement.

    n, batch_size: positive ints. rng: a numpy.random.Generator.
    Calls rng.permutation(n) exactly once and returns a list of integer arrays: the consecutive
    slices perm[0:batch_size], perm[batch_size:2*batch_size], ...; the last one holds the
    remaining indices and may be shorter. Together they contain each index exactly once.
    """
    raise NotImplementedError("minibatch_indices")


# %%
grader.check("q1")

# %% [markdown]
# ## Question 2: momentum
#
# Momentum keeps a running **velocity** $g_t$, a decaying sum of past gradients, and steps along
# it instead of along the current gradient. We use the *heavy-ball* form of the CV lecture (also
# what `torch.optim.SGD(momentum=beta)` does):
#
# $$g_t = \beta\, g_{t-1} + \nabla f(\theta_t),\qquad \theta_{t+1} = \theta_t - \eta\, g_t,\qquad g_0 = 0 .$$
#
# **Lecture variants.** The RL lecture writes momentum as an exponential average,
# $m_{t+1} = \beta m_t + (1 - \beta)\nabla f$. That only rescales the velocity by $(1-\beta)$, the
# same as using the learning rate $(1 - \beta)\eta$; here there is **no** $(1 - \beta)$ factor.
# Update the velocity first, then step with the **new** velocity.
#
# On a long, narrow valley (an ill-conditioned quadratic) plain gradient descent zig-zags across
# the valley and crawls along it; the velocity averages out the zig-zag and builds up speed along
# the valley floor.

# %%
def momentum_step(theta, grad, velocity, lr, beta):
    """One heavy-ball momentum step.

    velocity' = beta * velocity + grad;  theta' = theta - lr * velocity'.
    theta, grad, velocity: arrays of the same shape. Returns (theta', velocity').
    """
    raise NotImplementedError("momentum_step")


# %% tags=["otter_ignore"]
# Exploration (optional, not graded; tagged otter_ignore, so the grader skips this cell):
# momentum versus plain gradient descent on a narrow valley.
def _compare_on_valley(steps=100):
    A = np.diag([1.0, 0.02])
    theta_gd = theta_mom = np.array([1.0, 1.0])
    velocity = np.zeros(2)
    gd_loss, mom_loss = [], []
    try:
        for _ in range(steps):
            theta_gd = theta_gd - 1.0 * (A @ theta_gd)
            theta_mom, velocity = momentum_step(theta_mom, A @ theta_mom, velocity, 1.0, 0.8)
            gd_loss.append(0.5 * theta_gd @ A @ theta_gd)
            mom_loss.append(0.5 * theta_mom @ A @ theta_mom)
    except NotImplementedError:
        print("momentum_step is not implemented yet")
        return
    except Exception as error:  # exploration only: never stop the notebook
        print("momentum_step raised", type(error).__name__, error)
        return
    try:
        import matplotlib.pyplot as plt

        plt.semilogy(gd_loss, label="gradient descent")
        plt.semilogy(mom_loss, label="momentum, beta = 0.8")
        plt.xlabel("step")
        plt.ylabel("loss")
        plt.legend()
        plt.show()
    except Exception as error:  # no matplotlib, no display: just print
        print("could not plot; final loss, GD:", gd_loss[-1], "momentum:", mom_loss[-1], error)


_compare_on_valley()

# %%
grader.check("q2")

# %% [markdown]
# ## Question 3: an adaptive learning rate with one accumulator
#
# The CV lecture divides the learning rate by the square root of everything the gradients have
# "spent" so far:
#
# $$\theta_{t+1} = \theta_t - \frac{\eta}{\sqrt{\epsilon + \sum_{j=1}^{t} \|\nabla f(\theta_j)\|^2}}\, \nabla f(\theta_t).$$
#
# Large past gradients make later steps smaller. Keep the sum in a **single scalar** accumulator
# (this is sometimes called AdaGrad-Norm; the better-known AdaGrad keeps one accumulator per
# coordinate instead):
#
# $$a_t = a_{t-1} + \|\nabla f(\theta_t)\|^2 = a_{t-1} + \textstyle\sum_i (\nabla f(\theta_t))_i^2,\qquad
# \theta_{t+1} = \theta_t - \frac{\eta}{\sqrt{\epsilon + a_t}}\, \nabla f(\theta_t),\qquad a_0 = 0 .$$
#
# **Convention.** Here $\epsilon$ sits **inside** the square root, exactly as in the lecture, and
# the current gradient is added to the accumulator *before* it is used. Return the new
# accumulator as a float.

# %%
def adagrad_norm_step(theta, grad, accum, lr, eps):
    """One step with a single scalar accumulator of squared gradient norms.

    accum' = accum + sum(grad**2);  theta' = theta - lr * grad / sqrt(eps + accum').
    Returns (theta', accum'), accum' a float.
    """
    raise NotImplementedError("adagrad_norm_step")


# %%
grader.check("q3")

# %% [markdown]
# ## Question 4: RMSprop
#
# RMSprop keeps one accumulator **per coordinate**, and forgets old gradients: it is an
# exponential moving average of the squared gradient, with decay $\gamma$ (often $0.9$ or $0.99$),
#
# $$v_{t} = \gamma\, v_{t-1} + (1 - \gamma)\, (\nabla f(\theta_t))^2,\qquad
# \theta_{t+1} = \theta_t - \frac{\eta\, \nabla f(\theta_t)}{\sqrt{v_{t}} + \epsilon},\qquad v_0 = 0,$$
#
# with squares, square roots and the division taken elementwise. Each coordinate is divided by its
# own recent gradient size, so steps have roughly the size $\eta$ in every direction.
#
# **Convention.** Here $\epsilon$ is added **outside** the square root, as in
# `torch.optim.RMSprop`; the RL lecture writes $\sqrt{v + \epsilon}$. The difference only shows when
# gradients are tiny, but then it is large.

# %%
def rmsprop_step(theta, grad, v, lr, gamma, eps):
    """One RMSprop step (elementwise).

    v' = gamma * v + (1 - gamma) * grad**2;  theta' = theta - lr * grad / (sqrt(v') + eps).
    Returns (theta', v'), both shaped like theta.
    """
    raise NotImplementedError("rmsprop_step")


# %%
grader.check("q4")

# %% [markdown]
# ## Question 5: Adam
#
# Adam (adaptive moment estimation) keeps a momentum-like average $m$ of the gradients and an
# RMSprop-like average $v$ of their squares. Both start at zero, so early on they are biased
# towards zero; dividing by $1 - \beta^t$ removes that bias. With $t = 1, 2, \dots$ the number of
# the current step:
#
# $$m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t,\qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2,$$
# $$\hat m_t = \frac{m_t}{1 - \beta_1^{\,t}},\qquad \hat v_t = \frac{v_t}{1 - \beta_2^{\,t}},\qquad
# \theta_{t} = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
#
# At the first step ($t = 1$) the corrections give $\hat m_1 = g_1$ and $\hat v_1 = g_1^2$, so every
# coordinate moves by almost exactly $\eta$.
#
# **Conventions.**
# - `t` is **1-based**: the first call uses `t = 1`. (The RL lecture indexes the same quantity
#   as $t + 1$ with $t$ starting at $0$.)
# - $\epsilon$ goes **outside** the square root, as in the Adam paper (Kingma & Ba) and
#   `torch.optim.Adam`. The RL lecture writes $\sqrt{\hat v + \epsilon}$; with the default
#   $\epsilon = 10^{-8}$ that changes the step completely when gradients are around $10^{-8}$.
# - Keep the default arguments exactly as given.

# %%
def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step with bias correction; t is the 1-based number of this step.

    m' = beta1 m + (1 - beta1) grad;  v' = beta2 v + (1 - beta2) grad**2;
    mhat = m' / (1 - beta1**t);  vhat = v' / (1 - beta2**t);
    theta' = theta - lr * mhat / (sqrt(vhat) + eps).
    Returns (theta', m', v'), all shaped like theta.
    """
    raise NotImplementedError("adam_step")


# %%
grader.check("q5")

# %% [markdown]
# ## Question 6: SGD for linear regression
#
# Put the pieces of Question 1 together. Fit $\theta \in \mathbb{R}^d$ to data $X$ $(n, d)$,
# $y$ $(n,)$ by minimising the mean of $\ell_i(\theta) = \tfrac12 (x_i^\top \theta - y_i)^2$. The
# gradient of the batch mean over a mini-batch $B$ is
#
# $$g_B(\theta) = \frac{1}{|B|} \sum_{i \in B} (x_i^\top\theta - y_i)\, x_i = \frac{1}{|B|} X_B^\top (X_B \theta - y_B).$$
#
# **Convention** (so that your run can be compared step by step with the reference):
# - make the generator with `np.random.default_rng(seed)` **once**, before the first epoch,
#   and pass that same generator to `minibatch_indices` in every epoch;
# - start from `theta = np.zeros(d)`;
# - in every epoch loop over `minibatch_indices(n, batch_size, rng)` and apply `sgd_step` with
#   $g_B$ of each batch, in order;
# - after each epoch record the full-data loss $\frac1n \sum_{i=1}^n \tfrac12 (x_i^\top\theta - y_i)^2$.

# %%
def sgd_linear_regression(X, y, lr, epochs, batch_size, seed):
    """Mini-batch SGD for least squares.

    X: (n, d), y: (n,). Returns (theta, losses): theta (d,) after the last epoch, losses
    (epochs,) with losses[e] the mean over all n points of 0.5 (x^T theta - y)^2 after epoch e.
    """
    raise NotImplementedError("sgd_linear_regression")


# %%
grader.check("q6")
