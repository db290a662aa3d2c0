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
# # Homework 1: linear regression, the normal equation and gradient descent
#
# Training a model means choosing parameters $\boldsymbol{\theta}$ that make a loss small:
#
# $$\boldsymbol{\theta}^\star = \arg\min_{\boldsymbol{\theta}} \mathcal{L}(\boldsymbol{X}, \boldsymbol{Y}, \boldsymbol{\theta}).$$
#
# For linear regression with the squared error this problem has a closed-form answer, and we
# derive it with nothing more than a gradient set to zero. Neural networks have no such formula,
# so we also build the tool that works for them: gradient descent. Seeing both on the same
# problem lets you check one against the other.
#
# You will write six small NumPy functions:
#
# | question | functions |
# |---|---|
# | q1 | `design_matrix`, `polynomial_design_matrix` |
# | q2 | `normal_equation` |
# | q3 | `squared_error`, `squared_error_grad` |
# | q4 | `gradient_descent` |
#
# Rules that hold for every function:
#
# - use NumPy and the standard library only;
# - return `float64` arrays of exactly the shapes stated (a Python float where a number is
#   asked for; a 0-d array or NumPy scalar is fine too);
# - never change an input array in place: the tests give you arrays and check them afterwards.
#
# After each question, run its `grader.check("qN")` cell. Passing the public checks means your
# code is probably right; more (hidden) checks on other inputs are run when the homework is graded.

# %%
import numpy as np

# %% [markdown]
# ## Q1. Design matrices
#
# A linear model with a bias predicts $f(\boldsymbol{x}, \boldsymbol{\theta}) = \theta_1 x_1 + \dots + \theta_{d}x_{d} + \theta_{d+1}$.
# Stacking the $n$ inputs as rows and appending a constant feature equal to one turns all $n$
# predictions into a single product $\boldsymbol{X}_D \boldsymbol{\theta}$ with the
# **design matrix**
#
# $$\boldsymbol{X}_D = \begin{bmatrix} x_{[1],1} & \dots & x_{[1],d} & 1 \\ \vdots & & \vdots & \vdots \\ x_{[n],1} & \dots & x_{[n],d} & 1 \end{bmatrix} \in \mathbb{R}^{n \times (d+1)}.$$
#
# **Convention.** The column of ones comes **last**, as in the lecture. The lecture's slide lists
# the input columns from $x_{d}$ down to $x_1$; here the columns of `X` keep their **original
# order** ($x_1$ first), so column $j$ of `X` is column $j$ of $\boldsymbol{X}_D$. (The neuron
# of Homework 2 uses the opposite habit, a one in *front*: $\bar{\boldsymbol{x}} = [1, \boldsymbol{x}]$.
# Do not mix them up.)
#
# A polynomial of degree $m$ in a scalar input is still linear in its coefficients, so the same
# machinery fits curves. Its design matrix holds the powers of $x$, highest first:
#
# $$\boldsymbol{X}_D = \begin{bmatrix} x_{[1]}^m & x_{[1]}^{m-1} & \dots & x_{[1]} & 1 \\ \vdots & \vdots & & \vdots & \vdots \\ x_{[n]}^m & x_{[n]}^{m-1} & \dots & x_{[n]} & 1 \end{bmatrix} \in \mathbb{R}^{n \times (m+1)}.$$
#
# For $m = 0$ it is the single column of ones.


# %%
def design_matrix(X):
    """The design matrix of a multivariate linear model, bias column last.

    X: (n, d) float array, one example per row.
    Returns (n, d+1): the columns of X in their original order, then a column of ones.
    """
    raise NotImplementedError("design_matrix: append a column of ones after the columns of X")


# %%
def polynomial_design_matrix(x, m):
    """The design matrix of a degree-m polynomial in a scalar input.

    x: (n,) float array; m: int, m >= 0.
    Returns (n, m+1) with columns x**m, x**(m-1), ..., x, 1 (highest power first).
    """
    raise NotImplementedError("polynomial_design_matrix: columns x**m down to x**0")


# %%
grader.check("q1")

# %% [markdown]
# ## Q2. The normal equation
#
# The squared error of the predictions, written with the design matrix, is
#
# $$\mathcal{L}(\boldsymbol{\theta}) = (\boldsymbol{Y} - \boldsymbol{X}_D\boldsymbol{\theta})^\top (\boldsymbol{Y} - \boldsymbol{X}_D\boldsymbol{\theta}).$$
#
# Multiplying out gives $\boldsymbol{Y}^\top\boldsymbol{Y} - 2\boldsymbol{\theta}^\top\boldsymbol{X}_D^\top\boldsymbol{Y} + \boldsymbol{\theta}^\top\boldsymbol{X}_D^\top\boldsymbol{X}_D\boldsymbol{\theta}$,
# a quadratic bowl in $\boldsymbol{\theta}$ (you will compute its gradient in Q3):
#
# $$\nabla_{\boldsymbol{\theta}}\mathcal{L} = -2\boldsymbol{X}_D^\top\boldsymbol{Y} + 2\boldsymbol{X}_D^\top\boldsymbol{X}_D\boldsymbol{\theta}.$$
#
# A bowl has its lowest point where the slope vanishes. Setting the gradient to zero gives the
# **normal equation** $\boldsymbol{X}_D^\top\boldsymbol{X}_D\,\boldsymbol{\theta} = \boldsymbol{X}_D^\top\boldsymbol{Y}$ and, when
# $\boldsymbol{X}_D^\top\boldsymbol{X}_D$ is invertible,
#
# $$\boldsymbol{\theta} = (\boldsymbol{X}_D^\top\boldsymbol{X}_D)^{-1}\boldsymbol{X}_D^\top\boldsymbol{Y}.$$
#
# Read the normal equation once more: $\boldsymbol{X}_D^\top(\boldsymbol{Y} - \boldsymbol{X}_D\boldsymbol{\theta}) = \boldsymbol{0}$.
# At the optimum the residual is **orthogonal to every column** of the design matrix; the tests
# check this too.
#
# The same formula fits several outputs at once: with $\boldsymbol{Y}$ of shape $(n, k)$, column
# $c$ of $\boldsymbol{\theta}$ (shape $(p, k)$) is the fit of column $c$ of $\boldsymbol{Y}$.
#
# **Numerics.** Forming an explicit inverse is the textbook formula, but it loses accuracy when
# the columns are nearly dependent (high-degree polynomials). `np.linalg.solve` on the normal
# equation, or `np.linalg.lstsq` on $\boldsymbol{X}_D$ directly, is the sounder choice. Any
# numerically sound method earns full marks.


# %%
def normal_equation(X_D, Y):
    """Least-squares parameters theta = (X_D^T X_D)^{-1} X_D^T Y.

    X_D: (n, p) design matrix (full column rank). Y: (n,) or (n, k).
    Returns theta: (p,) when Y is (n,), (p, k) when Y is (n, k).
    """
    raise NotImplementedError("normal_equation: solve X_D^T X_D theta = X_D^T Y")


# %% [markdown]
# *Try it.* Fit polynomials of a few degrees to noisy samples of a curve and compare them. (This
# cell only runs once your functions work; it is not graded, and the grader skips it: it is
# tagged `otter_ignore`.)

# %% tags=["otter_ignore"]
try:
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    x_demo = np.sort(rng.uniform(-1, 1, size=20))
    y_demo = np.sin(3 * x_demo) + 0.1 * rng.normal(size=20)
    grid = np.linspace(-1, 1, 200)
    plt.scatter(x_demo, y_demo, color="black", label="data")
    for degree in (1, 3, 9):
        theta_demo = normal_equation(polynomial_design_matrix(x_demo, degree), y_demo)
        plt.plot(grid, polynomial_design_matrix(grid, degree) @ theta_demo, label=f"m = {degree}")
    plt.legend()
    plt.show()
except Exception as error:  # the plot is optional
    print("plot skipped:", error)

# %%
grader.check("q2")

# %% [markdown]
# ## Q3. The loss and its gradient
#
# Implement the loss of Q2 and its gradient:
#
# $$\mathcal{L}(\boldsymbol{\theta}) = (\boldsymbol{Y} - \boldsymbol{X}_D\boldsymbol{\theta})^\top (\boldsymbol{Y} - \boldsymbol{X}_D\boldsymbol{\theta}) = \sum_{i=1}^n \big(y_{[i]} - \boldsymbol{x}_{D,[i]}^\top\boldsymbol{\theta}\big)^2,
# \qquad
# \nabla_{\boldsymbol{\theta}}\mathcal{L} = -2\boldsymbol{X}_D^\top\boldsymbol{Y} + 2\boldsymbol{X}_D^\top\boldsymbol{X}_D\boldsymbol{\theta}.$$
#
# **Convention.** This is the lecture's loss: the **sum** of squared residuals, with no $\frac1n$
# and no $\frac12$ in front (other courses use the mean, or half of it; their gradients differ by
# exactly those factors). For a 2-D $\boldsymbol{Y}$ of shape $(n, k)$ with $\boldsymbol{\theta}$
# of shape $(p, k)$, the loss sums over all $n k$ entries and the gradient formula is unchanged.
#
# A gradient is easy to get subtly wrong, so the tests compare yours with **finite differences**
# of the loss: nudge one entry of $\boldsymbol{\theta}$ by $\pm h$ and divide the change of the
# loss by $2h$. You will write that tool yourself in Homework 2.


# %%
def squared_error(X_D, Y, theta):
    """Sum of squared residuals (Y - X_D theta)^T (Y - X_D theta), returned as a float.

    X_D: (n, p); Y: (n,) with theta (p,), or Y: (n, k) with theta (p, k) (sum over all entries).
    """
    raise NotImplementedError("squared_error: sum of squared residuals")


# %%
def squared_error_grad(X_D, Y, theta):
    """Gradient of squared_error with respect to theta: -2 X_D^T Y + 2 X_D^T X_D theta.

    Same shapes as squared_error; returns an array shaped like theta.
    """
    raise NotImplementedError("squared_error_grad: -2 X_D^T Y + 2 X_D^T X_D theta")


# %%
grader.check("q3")

# %% [markdown]
# ## Q4. Gradient descent
#
# Gradient descent walks downhill: from a starting point $\boldsymbol{\theta}_0$ it repeats
#
# $$\boldsymbol{\theta}_{t+1} = \boldsymbol{\theta}_t - \alpha\,\nabla_{\boldsymbol{\theta}}\mathcal{L}(\boldsymbol{\theta}_t),$$
#
# with a learning rate $\alpha > 0$ (the calculus lecture calls it $\tau$). Your function receives
# the gradient as a function `grad_fn`, so it works for any differentiable loss, and it returns
# the whole path, not just the end point: `theta0` first, then one row per step, so the result has
# shape `(steps + 1, *theta0.shape)`. `theta0` may be a vector or a matrix (several outputs).
#
# Two pitfalls: an update written in place (`theta -= ...`) changes the caller's `theta0`, and
# storing the same array object at every step leaves you with `steps + 1` copies of the last
# iterate. Make a fresh array per step.
#
# **The learning rate matters.** The calculus lecture's exercise minimises
# $f(x_1, x_2) = \tfrac12 x_1^2 + x_2^2 + 2x_1 + x_2 + c$, whose minimum is at $(-2, -\tfrac12)$,
# from $(0, 0)$ with $\alpha = 1$. The gradient is $(x_1 + 2,\; 2x_2 + 1)$; the first step lands
# on $(-2, -1)$, the next on $(-2, 0)$, the next on $(-2, -1)$ again: along $x_2$ the step
# overshoots by exactly as much as it corrects, and the iterates bounce forever. The cell after
# the stub lets you see it, and how a smaller rate fixes it. The general rule for a quadratic
# loss: gradient descent converges exactly when $0 < \alpha < 2/\lambda_{\max}$, with
# $\lambda_{\max}$ the largest eigenvalue of the Hessian. Here the Hessian is
# $\operatorname{diag}(1, 2)$, so $\alpha = 1$ sits right on the boundary. For the squared error
# the Hessian is $2\boldsymbol{X}_D^\top\boldsymbol{X}_D$.


# %%
def gradient_descent(grad_fn, theta0, lr, steps):
    """Plain gradient descent theta_{t+1} = theta_t - lr * grad_fn(theta_t).

    grad_fn: a function mapping an array shaped like theta0 to its gradient (same shape).
    theta0: starting point, any shape (vector or matrix); it must not be modified.
    lr: learning rate (float); steps: number of updates (int >= 0).
    Returns every iterate, theta0 first: shape (steps + 1, *theta0.shape).
    """
    raise NotImplementedError("gradient_descent: return theta_0, ..., theta_steps")


# %% [markdown]
# *Try it.* The lecture's exercise with two learning rates (not graded: the grader skips cells
# tagged `otter_ignore`).

# %% tags=["otter_ignore"]
try:
    import matplotlib.pyplot as plt

    def lecture_grad(x):
        return np.array([x[0] + 2.0, 2.0 * x[1] + 1.0])

    for rate in (1.0, 0.4):
        path = gradient_descent(lecture_grad, np.zeros(2), rate, 8)
        print(f"lr = {rate}: last iterates", path[-2:].round(4).tolist())
        plt.plot(path[:, 0], path[:, 1], marker="o", label=f"lr = {rate}")
    plt.scatter([-2.0], [-0.5], marker="*", s=200, color="black", label="minimum")
    plt.legend()
    plt.show()
except Exception as error:  # the plot is optional
    print("plot skipped:", error)

# %%
grader.check("q4")
