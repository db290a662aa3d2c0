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
# # Homework 3: backpropagation by hand
#
# Automatic differentiation libraries compute gradients for us, but each of them runs the same
# recipe underneath: a **forward pass** that computes and keeps every intermediate quantity, then
# a **backward pass** that visits those quantities in reverse order and multiplies local
# derivatives together (the chain rule). In this homework you carry out that recipe yourself,
# first on scalar functions and then on a small two-layer network, and finally train the network
# on XOR.
#
# Notation: for any quantity $v$ computed on the way to a loss $\mathcal{L}$ we write
# $\bar v = \partial \mathcal{L} / \partial v$ and call it the **error signal** of $v$. When $v$
# feeds several children $c$, the signals add up: $\bar v = \sum_c \bar c \, \partial c / \partial v$.
#
# Rules for every function below:
# - use NumPy only; inputs are floats or float64 arrays;
# - never modify an input in place (the tests check this);
# - return Python floats where a scalar is asked for (a NumPy scalar or 0-d array is fine too)
#   and float64 arrays of exactly the shapes stated.
#
# Run the check cell that follows each question once you have finished it. The public tests you see there
# are a subset of the tests used for grading.

# %%
import numpy as np

# %% [markdown]
# ## Question 1: a composite toy function
#
# The RL lecture's toy model chains three nonlinearities, $\sin$, $\exp$ and $\cos$, each wrapped
# in an affine map with its own offset $\beta_k$ and slope $\omega_k$:
#
# $$f[x, \phi] = \beta_3 + \omega_3 \cos\Big(\beta_2 + \omega_2 \exp\big(\beta_1 + \omega_1 \sin(\beta_0 + \omega_0 x)\big)\Big),
# \qquad \ell = (f[x, \phi] - y)^2 .$$
#
# Expanding $\partial \ell / \partial \omega_0$ directly gives a long formula that repeats the same
# sub-expressions many times. Instead, name the intermediate values in the **forward pass**:
#
# $$f_0 = \beta_0 + \omega_0 x,\quad h_1 = \sin f_0,\quad f_1 = \beta_1 + \omega_1 h_1,\quad h_2 = \exp f_1,$$
# $$f_2 = \beta_2 + \omega_2 h_2,\quad h_3 = \cos f_2,\quad f_3 = \beta_3 + \omega_3 h_3,\quad \ell = (f_3 - y)^2,$$
#
# then run the **backward pass**, from the loss towards the input:
#
# $$\bar f_3 = 2 (f_3 - y),\quad \bar h_3 = \omega_3 \bar f_3,\quad \bar f_2 = -\sin(f_2)\, \bar h_3,\quad
# \bar h_2 = \omega_2 \bar f_2,\quad \bar f_1 = \exp(f_1)\, \bar h_2,\quad \bar h_1 = \omega_1 \bar f_1,\quad
# \bar f_0 = \cos(f_0)\, \bar h_1 .$$
#
# Every parameter enters through exactly one $f_k = \beta_k + \omega_k h_k$ (with $h_0 = x$), so
#
# $$\frac{\partial \ell}{\partial \beta_k} = \bar f_k, \qquad \frac{\partial \ell}{\partial \omega_k} = \bar f_k \, h_k .$$
#
# The local derivatives you need are $\frac{d}{dz}\cos z = -\sin z$, $\frac{d}{dz}\exp z = \exp z$
# and $\frac{d}{dz}\sin z = \cos z$.
#
# **Convention.** `phi` is the array `[beta0, omega0, beta1, omega1, beta2, omega2, beta3, omega3]`
# and the gradient is returned in the same order.

# %%
def toy_loss_and_grad(x, y, phi):
    """Loss and gradient of the toy model f = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x))).

    x, y: floats (a NumPy scalar or 0-d array is fine).
    phi: (8,) array [beta0, omega0, beta1, omega1, beta2, omega2, beta3, omega3].

    Returns (loss, grad): loss = (f - y)**2 as a float, grad a float64 array (8,) holding
    d loss / d phi in the order of phi.
    """
    raise NotImplementedError("toy_loss_and_grad: write the forward pass, then the backward pass")


# %%
grader.check("q1")

# %% [markdown]
# ## Question 2: logistic least squares with weight decay
#
# The stats-ML lecture works through one logistic unit fitted by squared error, with an $L_2$
# penalty on the weight. For a single example $(x, t)$ and scalar parameters $w$, $b$:
#
# $$z = w x + b,\qquad y = \sigma(z) = \frac{1}{1 + e^{-z}},\qquad
# \mathcal{L} = \tfrac12 (y - t)^2,\qquad \mathcal{R} = \tfrac12 w^2,\qquad
# \mathcal{L}_{\text{reg}} = \mathcal{L} + \lambda \mathcal{R}.$$
#
# Backward pass with error signals, starting from $\overline{\mathcal{L}_{\text{reg}}} = 1$:
#
# $$\bar y = y - t,\qquad \bar z = \bar y\, \sigma'(z) = \bar y\, y (1 - y),\qquad
# \bar w = \bar z\, x + \lambda w,\qquad \bar b = \bar z .$$
#
# Notice that $w$ has two children in the computation graph ($z$ and $\mathcal{R}$), so its error
# signal is a sum of two terms; $b$ only feeds $z$ and is not penalised.

# %%
def logistic_least_squares(w, b, x, t, lam):
    """Regularised logistic least squares on one example; all inputs are floats.

    z = w x + b, y = sigmoid(z), loss = 0.5 (y - t)**2 + lam * 0.5 * w**2.

    Returns (loss, dloss_dw, dloss_db), three floats.
    """
    raise NotImplementedError("logistic_least_squares: forward pass, then error signals")


# %%
grader.check("q2")

# %% [markdown]
# ## Question 3: softmax and cross-entropy
#
# For a row of logits $z \in \mathbb{R}^k$ the softmax turns scores into probabilities,
# $p_j = e^{z_j} / \sum_l e^{z_l}$, and the cross-entropy against a one-hot target $t$ is
# $-\sum_j t_j \log p_j$. We work with a batch: `Z` and `T` are $(n, k)$, one example per row, and
# the loss is the **mean** over the $n$ rows:
#
# $$\text{loss} = -\frac1n \sum_{i=1}^n \sum_{j=1}^k T_{ij} \log \operatorname{softmax}(Z)_{ij},
# \qquad \frac{\partial\,\text{loss}}{\partial Z} = \frac{\operatorname{softmax}(Z) - T}{n}.$$
#
# The gradient is strikingly simple: the $\log$ and the $\exp$ cancel. The $1/n$ comes from the mean.
#
# **Numerical stability.** Softmax does not change when the same constant is subtracted from every
# entry of a row. Subtract the row maximum $m_i = \max_j Z_{ij}$ first: then every exponent is
# $\le 0$, nothing overflows, and the largest term is exactly $1$. Writing `np.exp(1000.0)` gives
# `inf` and the result becomes `nan`.
#
# For the loss, do **not** take `np.log` of the probabilities: if a row's entries differ by a
# thousand, the small probabilities underflow to exactly $0$ and $\log 0 = -\infty$. Use the
# **log-sum-exp** form instead,
#
# $$\log \operatorname{softmax}(Z)_{ij} = (Z_{ij} - m_i) - \log \sum_l e^{Z_{il} - m_i},$$
#
# which is finite and accurate whatever the size of the entries (the sum is at least 1).

# %%
def softmax(Z):
    """Row-wise softmax of Z, shape (n, k) -> (n, k); each row sums to 1.

    Subtract each row's maximum before exponentiating (stable for entries of size 1e4).
    """
    raise NotImplementedError("softmax: subtract the row maximum, exponentiate, normalise each row")


# %%
def softmax_cross_entropy(Z, T):
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    Z: (n, k) logits. T: (n, k) one-hot targets.
    loss = -(1/n) sum_i sum_j T_ij log softmax(Z)_ij, computed in the log-sum-exp form.
    dZ = (softmax(Z) - T) / n, shape (n, k).

    Returns (loss, dZ): loss a float, dZ a float64 array (n, k).
    """
    raise NotImplementedError("softmax_cross_entropy: use log-sum-exp for the loss")


# %%
grader.check("q3")

# %% [markdown]
# ## Question 4: a two-layer network, vectorised
#
# The network has a sigmoid hidden layer of width $h$ and a linear output layer. For one example
# $x \in \mathbb{R}^{d_{in}}$ the lecture writes
#
# $$a = W_1 x + b_1,\qquad h = \sigma(a),\qquad y = W_2 h + b_2,\qquad \mathcal{L} = \tfrac12 \|y - t\|^2,$$
#
# with $W_1$ of shape $(h, d_{in})$ and $W_2$ of shape $(d_{out}, h)$, and the backward pass
#
# $$\bar y = y - t,\quad \overline{W_2} = \bar y\, h^\top,\quad \bar b_2 = \bar y,\quad
# \bar h = W_2^\top \bar y,\quad \bar a = \bar h \odot \sigma(a) \odot (1 - \sigma(a)),\quad
# \overline{W_1} = \bar a\, x^\top,\quad \bar b_1 = \bar a .$$
#
# **Batch convention.** Here the examples are the rows of `X` $(n, d_{in})$ and `T` $(n, d_{out})$,
# so every vector above becomes a matrix with one row per example:
#
# $$H = \sigma(X W_1^\top + b_1),\qquad Y = H W_2^\top + b_2,\qquad
# \text{loss} = \frac1n \sum_{i=1}^n \tfrac12 \|Y_i - T_i\|^2 .$$
#
# The loss is a mean over examples, so $\bar Y = (Y - T)/n$. The outer products $\bar y h^\top$ summed
# over examples become one matrix product, $\overline{W_2} = \bar Y^\top H$, and the bias signals
# are column sums, $\bar b_2 = \sum_i \bar Y_i$. Keep each gradient in the shape of its parameter.

# %%
def mlp_loss_and_grads(X, T, params):
    """Loss and gradients of a two-layer network with a sigmoid hidden layer.

    X: (n, d_in), T: (n, d_out),
    params: {"W1": (h, d_in), "b1": (h,), "W2": (d_out, h), "b2": (d_out,)}.
    H = sigmoid(X W1^T + b1), Y = H W2^T + b2, loss = (1/n) sum_i 0.5 ||Y_i - T_i||^2.

    Returns (loss, grads): loss a float, grads a dict with the keys of params and arrays of the
    same shapes. params is not modified.
    """
    raise NotImplementedError("mlp_loss_and_grads: forward pass, then the error signals")


# %%
grader.check("q4")

# %% [markdown]
# ## Question 5: training on XOR
#
# XOR is the classic problem a single linear unit cannot solve but one hidden layer can. Train the
# network of Question 4 with full-batch gradient descent on the four XOR points,
#
# $$X = \begin{bmatrix}0&0\\0&1\\1&0\\1&1\end{bmatrix},\qquad T = \begin{bmatrix}0\\1\\1\\0\end{bmatrix},
# \qquad \theta \leftarrow \theta - \text{lr}\cdot \nabla_\theta\, \text{loss}\ \text{ for every parameter } \theta .$$
#
# **Convention.** `losses[s]` is the loss *before* update number `s` (so `losses[0]` is the loss of
# the starting parameters). Start from a copy: the caller's `params` must not change. Use your
# `mlp_loss_and_grads` from Question 4.

# %%
def train_xor(params, lr, steps):
    """Full-batch gradient descent on XOR with mlp_loss_and_grads.

    params: dict as in mlp_loss_and_grads with d_in = 2 and d_out = 1 (not modified).
    lr: learning rate (float); steps: number of updates (int).

    Returns (trained_params, losses): a new dict with the same keys and shapes, and losses
    (steps,), the loss before each update.
    """
    raise NotImplementedError("train_xor: loop mlp_loss_and_grads and gradient steps")


# %% tags=["otter_ignore"]
# Exploration (optional, not graded; tagged otter_ignore, so the grader skips this cell):
# train from a random start and plot the loss curve.
def _xor_demo():
    rng = np.random.default_rng(0)
    start = {"W1": rng.normal(size=(4, 2)), "b1": 0.1 * rng.normal(size=4),
             "W2": rng.normal(size=(1, 4)), "b2": np.zeros(1)}
    try:
        _, losses = train_xor(start, 1.0, 2000)
    except NotImplementedError:
        print("train_xor is not implemented yet")
        return
    except Exception as error:  # exploration only: never stop the notebook
        print("train_xor raised", type(error).__name__, error)
        return
    try:
        import matplotlib.pyplot as plt

        plt.semilogy(np.asarray(losses, dtype=float))
        plt.xlabel("step")
        plt.ylabel("loss")
        plt.title("XOR training")
        plt.show()
    except Exception as error:  # no matplotlib, no display, odd losses: just print
        print("could not plot the losses:", error)


_xor_demo()

# %%
grader.check("q5")
