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
# # Homework 2: activations, numerical gradients and the gradient of a layer
#
# Gradient descent needs gradients. For linear regression we found one by hand; a neural network
# stacks many simple pieces, and its gradient is assembled from the derivatives of those pieces
# by the chain rule. This homework builds the pieces and a way to trust them:
#
# | question | functions |
# |---|---|
# | q1 | `sigmoid`, `sigmoid_grad`, `tanh_grad`, `relu`, `relu_grad`, `softplus`, `softplus_grad` |
# | q2 | `numerical_gradient` |
# | q3 | `neuron_layer`, `layer_grad` |
# | q4 | `quadratic_form_grad`, `quadratic_form_hessian` |
#
# Rules that hold for every function:
#
# - use NumPy and the standard library only;
# - return `float64` arrays of exactly the shapes stated (a 0-d array or NumPy scalar is fine
#   wherever a number is asked for);
# - never change an input array in place: the tests give you arrays and check them afterwards.
#
# After each question, run its `grader.check("qN")` cell. The public checks you see there are a
# sample; more (hidden) checks on other inputs, shapes and edge cases run at grading time.

# %%
import numpy as np

# %% [markdown]
# ## Q1. Activation functions and their derivatives
#
# A neuron applies a nonlinear **activation function** to a weighted sum. The step function
# $H(z)$ would be the most literal model of a neuron "firing", but its derivative is zero
# everywhere except at $z = 0$, where it does not exist, so it gives gradient descent nothing to
# follow. Smooth (or almost smooth) activations fix that. All of them act **elementwise**, so
# your functions must accept arrays of any shape, including 0-d arrays.
#
# | name | $\sigma(z)$ | derivative |
# |---|---|---|
# | logistic sigmoid | $\dfrac{1}{1 + e^{-z}}$ | $\sigma(z)\,(1 - \sigma(z))$ |
# | hyperbolic tangent | $\tanh(z) = \dfrac{e^{z} - e^{-z}}{e^{z} + e^{-z}}$ | $1 - \tanh(z)^2$ |
# | ReLU | $\max(0, z)$ | $1$ for $z > 0$, $0$ for $z \le 0$ |
# | softplus ("soft ReLU") | $\log(1 + e^{z})$ | $\dfrac{e^z}{1 + e^z} = \sigma(z)$ |
#
# Use `np.tanh` for tanh itself; you only write its derivative.
#
# **Convention at the kink.** ReLU has no derivative at $z = 0$. Deep-learning libraries simply
# pick a value there; we pick **0**: `relu_grad(z)` is `1.0` where `z > 0` and `0.0` elsewhere,
# including at exactly `z == 0`. Return floats, not booleans.
#
# **Large inputs.** The formulas as written break for large $|z|$ in floating point: `np.exp(1000)`
# is `inf` (with an overflow warning), `inf / inf` is `nan`, and `log(1 + e^{z})` returns `inf`
# for $z = 1000$ although the answer is simply $1000$. Your `sigmoid`, `sigmoid_grad`, `softplus`
# and `softplus_grad` must stay finite and warning-free for $|z|$ up to 1000. Two identities help,
# since $e^{-|z|}$ never overflows:
#
# $$\sigma(z) = \begin{cases} \dfrac{1}{1 + e^{-z}} & z \ge 0 \\[2mm] \dfrac{e^{z}}{1 + e^{z}} & z < 0 \end{cases}
# \qquad\qquad
# \log(1 + e^{z}) = \max(z, 0) + \log\!\big(1 + e^{-|z|}\big).$$
#
# (`np.where` evaluates both branches everywhere; compute $e^{-|z|}$ once and build both
# branches from it. `np.log1p(u)` computes $\log(1 + u)$ accurately for small $u$.)


# %%
def sigmoid(z):
    """Elementwise logistic sigmoid 1 / (1 + exp(-z)).

    z: array of any shape (or a number). Returns a float64 array of the same shape.
    Finite and warning-free for |z| up to 1000.
    """
    raise NotImplementedError("sigmoid")


# %%
def sigmoid_grad(z):
    """Elementwise derivative of the sigmoid: sigmoid(z) * (1 - sigmoid(z)).

    z: any shape. Returns float64, same shape; finite and warning-free for |z| up to 1000.
    """
    raise NotImplementedError("sigmoid_grad")


# %%
def tanh_grad(z):
    """Elementwise derivative of tanh: 1 - tanh(z)**2.

    z: any shape. Returns float64, same shape.
    """
    raise NotImplementedError("tanh_grad")


# %%
def relu(z):
    """Elementwise max(0, z). z: any shape. Returns float64, same shape."""
    raise NotImplementedError("relu")


# %%
def relu_grad(z):
    """Elementwise ReLU derivative: 1.0 where z > 0, else 0.0 (so 0.0 at z == 0).

    z: any shape. Returns float64 (not bool), same shape.
    """
    raise NotImplementedError("relu_grad")


# %%
def softplus(z):
    """Elementwise soft ReLU log(1 + exp(z)).

    z: any shape. Returns float64, same shape; finite and warning-free for |z| up to 1000.
    """
    raise NotImplementedError("softplus")


# %%
def softplus_grad(z):
    """Elementwise derivative of softplus, which is sigmoid(z).

    z: any shape. Returns float64, same shape; finite and warning-free for |z| up to 1000.
    """
    raise NotImplementedError("softplus_grad")


# %% [markdown]
# *Try it.* The four activations and their derivatives side by side (not graded: the grader
# skips cells tagged `otter_ignore`).

# %% tags=["otter_ignore"]
try:
    import matplotlib.pyplot as plt

    z_demo = np.linspace(-4, 4, 401)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for label, f, df in (("sigmoid", sigmoid, sigmoid_grad), ("tanh", np.tanh, tanh_grad),
                         ("relu", relu, relu_grad), ("softplus", softplus, softplus_grad)):
        axes[0].plot(z_demo, f(z_demo), label=label)
        axes[1].plot(z_demo, df(z_demo), label=label)
    axes[0].set_title("activation")
    axes[1].set_title("derivative")
    axes[0].legend()
    plt.show()
except Exception as error:  # the plot is optional
    print("plot skipped:", error)

# %%
grader.check("q1")

# %% [markdown]
# ## Q2. Numerical gradients
#
# The derivative is a limit of difference quotients. The lecture writes the one-sided
# (forward) version
#
# $$\frac{\partial \mathcal{L}}{\partial \theta_i} = \lim_{h \to 0} \frac{\mathcal{L}(\boldsymbol{\theta} + h\,\boldsymbol{e}_i) - \mathcal{L}(\boldsymbol{\theta})}{h},$$
#
# where $\boldsymbol{e}_i$ is the indicator vector of entry $i$. With a small but finite $h$ its
# error shrinks only like $h$. We use the **central difference** instead, which looks both ways:
#
# $$\frac{\partial \mathcal{L}}{\partial \theta_i} \approx \frac{\mathcal{L}(\boldsymbol{\theta} + h\,\boldsymbol{e}_i) - \mathcal{L}(\boldsymbol{\theta} - h\,\boldsymbol{e}_i)}{2h}.$$
#
# The first-order terms of the two Taylor expansions cancel, so the error shrinks like $h^2$:
# with $h = 10^{-5}$, about $10^{-10}$ instead of $10^{-5}$. (Making $h$ much smaller does not
# help: the two values of $\mathcal{L}$ then agree in almost all their digits, and rounding
# takes over.)
#
# The method needs two evaluations of $\mathcal{L}$ per parameter. That is hopeless for a
# network with millions of parameters, which is why backpropagation exists, but it is the
# standard way to **test** a hand-written gradient: every gradient you write in this course is
# checked against it.
#
# Your `numerical_gradient(f, x, h)` must work for `x` of **any shape**, including a 0-d array:
# `f` always receives an array shaped like `x` and returns a number, and the result has the
# shape of `x`. `x.reshape(-1)` (a view of a contiguous copy) or `np.ndindex(x.shape)` lets you
# visit every entry. Do not modify the caller's `x`: work on a copy, and put each entry back
# after perturbing it.


# %%
def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function f at x.

    f: function mapping an array shaped like x to a float. x: array of any shape (0-d too).
    h: the step. Entry i of the result is (f(x + h e_i) - f(x - h e_i)) / (2h).
    Returns a float64 array shaped like x; x itself is left unchanged.
    """
    raise NotImplementedError("numerical_gradient")


# %%
grader.check("q2")

# %% [markdown]
# ## Q3. A layer and its gradient
#
# A neuron is a linear model followed by an activation. Putting a constant one **in front** of
# the input lets the first parameter act as the bias:
#
# $$\bar{\boldsymbol{x}} = \begin{bmatrix} 1 \\ \boldsymbol{x} \end{bmatrix} = [1, x_1, \dots, x_{d_x}]^\top,
# \qquad f(\boldsymbol{x}, \boldsymbol{\theta}) = \sigma(\boldsymbol{\theta}^\top \bar{\boldsymbol{x}}) = \sigma(\theta_0 + \theta_1 x_1 + \dots + \theta_{d_x} x_{d_x}).$$
#
# Placing $d_y$ neurons side by side gives a **layer**. Their parameter vectors become the columns
# of $\boldsymbol{\theta} \in \mathbb{R}^{(d_x + 1) \times d_y}$, whose first row holds the $d_y$
# biases, and
#
# $$f(\boldsymbol{x}, \boldsymbol{\theta}) = \sigma(\boldsymbol{\theta}^\top \bar{\boldsymbol{x}}) \in \mathbb{R}^{d_y},
# \qquad f_j = \sigma\Big(\sum_{i=0}^{d_x} \theta_{i,j}\, \bar{x}_i\Big),$$
#
# with $\sigma$ the logistic sigmoid of Q1.
#
# **Convention.** The bias comes **first** here, $\bar{\boldsymbol{x}} = [1, \boldsymbol{x}]$, as
# in the lecture's layer, while the design matrix of Homework 1 put its column of ones last.
#
# **The gradient.** Output $j$ depends only on column $j$ of $\boldsymbol{\theta}$. With
# $z_j = \sum_i \theta_{i,j} \bar{x}_i$, the chain rule gives
# $\partial f_j / \partial \theta_{i,j} = \sigma'(z_j)\, \bar{x}_i = \sigma(z_j)(1 - \sigma(z_j))\,\bar{x}_i$, and
# $\partial f_j / \partial \theta_{i,k} = 0$ for $k \ne j$. Collecting the nonzero entries gives the
# lecture's layer gradient
#
# $$\nabla_{\boldsymbol{\theta}} f(\boldsymbol{x}, \boldsymbol{\theta}) = \big(\sigma(\boldsymbol{z}) \odot (1 - \sigma(\boldsymbol{z}))\big)\, \bar{\boldsymbol{x}}^\top \in \mathbb{R}^{d_y \times (d_x + 1)},
# \qquad \boldsymbol{z} = \boldsymbol{\theta}^\top \bar{\boldsymbol{x}},$$
#
# an outer product: entry $[j, i]$ is $\partial f_j / \partial \theta_{i,j}$. Note the orientation:
# it is the **transpose** of the shape of $\boldsymbol{\theta}$.


# %%
def neuron_layer(x, theta):
    """One sigmoid layer sigma(theta^T xbar), xbar = [1, x_1, ..., x_dx] (bias first).

    x: (d_x,); theta: (d_x + 1, d_y), row 0 holds the biases. Returns (d_y,).
    """
    raise NotImplementedError("neuron_layer")


# %%
def layer_grad(x, theta):
    """The lecture's layer gradient (sigma(z) * (1 - sigma(z))) xbar^T with z = theta^T xbar.

    x: (d_x,); theta: (d_x + 1, d_y). Returns (d_y, d_x + 1); entry [j, i] is the derivative
    of output j with respect to theta[i, j].
    """
    raise NotImplementedError("layer_grad")


# %%
grader.check("q3")

# %% [markdown]
# ## Q4. The gradient and Hessian of a quadratic form
#
# For a square matrix $\boldsymbol{A} \in \mathbb{R}^{d \times d}$, the quadratic form is
# $f(\boldsymbol{x}) = \boldsymbol{x}^\top \boldsymbol{A} \boldsymbol{x} = \sum_{i}\sum_{j} A_{ij} x_i x_j$. Differentiating with
# respect to $x_k$ picks up the terms where $i = k$ and those where $j = k$:
#
# $$\frac{\partial f}{\partial x_k} = \sum_j A_{kj} x_j + \sum_i A_{ik} x_i
# \quad\Longrightarrow\quad
# \nabla_{\boldsymbol{x}}\, \boldsymbol{x}^\top \boldsymbol{A} \boldsymbol{x} = (\boldsymbol{A} + \boldsymbol{A}^\top)\,\boldsymbol{x}.$$
#
# The **Hessian** collects the second derivatives, $H_{kl} = \partial^2 f / \partial x_k \partial x_l$; it is
# the Jacobian of the gradient, here the constant matrix
#
# $$\nabla^2_{\boldsymbol{x}}\, \boldsymbol{x}^\top \boldsymbol{A} \boldsymbol{x} = \boldsymbol{A} + \boldsymbol{A}^\top.$$
#
# **Convention.** The calculus lecture states $\nabla_{\boldsymbol{x}}\, \boldsymbol{x}^\top \boldsymbol{A}\boldsymbol{x} = 2\boldsymbol{A}\boldsymbol{x}$ and
# $\nabla^2 = 2\boldsymbol{A}$, assuming a **symmetric** $\boldsymbol{A}$ (then $\boldsymbol{A}^\top = \boldsymbol{A}$ and both
# agree). Your functions must be right for **any** square $\boldsymbol{A}$. A non-symmetric
# $\boldsymbol{A}$ and its symmetric part $\tfrac12(\boldsymbol{A} + \boldsymbol{A}^\top)$ define the same
# quadratic form, which is why the Hessian always comes out symmetric.


# %%
def quadratic_form_grad(A, x):
    """Gradient of f(x) = x^T A x for any square A (not only symmetric): (A + A^T) x.

    A: (d, d); x: (d,). Returns (d,).
    """
    raise NotImplementedError("quadratic_form_grad")


# %%
def quadratic_form_hessian(A):
    """Hessian of f(x) = x^T A x: A + A^T. A: (d, d). Returns (d, d)."""
    raise NotImplementedError("quadratic_form_hessian")


# %% [markdown]
# *Try it.* Check your gradient with your own `numerical_gradient` (not graded: the grader
# skips cells tagged `otter_ignore`).

# %% tags=["otter_ignore"]
try:
    rng_demo = np.random.default_rng(0)
    A_demo = rng_demo.normal(size=(3, 3))
    x_demo = rng_demo.normal(size=3)
    analytic = quadratic_form_grad(A_demo, x_demo)
    numeric = numerical_gradient(lambda v: v @ A_demo @ v, x_demo)
    print("analytic:", analytic)
    print("numeric: ", numeric)
    print("max difference:", np.abs(analytic - numeric).max())
except Exception as error:  # the demo is optional
    print("demo skipped:", error)

# %%
grader.check("q4")
