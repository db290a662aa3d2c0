from autograder.checks import test_case

OK_FORMAT = False

name = "q1"
points = 5

SIGMOID_HINT = (
    "sigmoid(z) = 1 / (1 + e^{-z}), elementwise; for large |z| compute only exp(-|z|): "
    "1 / (1 + e^{-z}) where z >= 0 and e^{z} / (1 + e^{z}) where z < 0 (e^{1000} overflows "
    "to inf, and inf / inf is nan)"
)
SIGMOID_GRAD_HINT = (
    "sigmoid_grad takes z, not sigma(z): compute s = sigmoid(z) first, then s * (1 - s); "
    "it must stay finite for |z| up to 1000"
)
TANH_HINT = "tanh_grad(z) = 1 - tanh(z)**2 (use np.tanh): the derivative of tanh, squared"
RELU_HINT = "relu(z) = max(0, z) elementwise (np.maximum), on a new array, not in place"
RELU_GRAD_HINT = (
    "relu_grad is 1.0 where z > 0 and 0.0 elsewhere, so 0.0 at z == 0; return float64 "
    "(e.g. (z > 0).astype(float)), not bool"
)
SOFTPLUS_HINT = (
    "softplus(z) = log(1 + e^{z}); e^{z} overflows for large z, so compute it as "
    "max(z, 0) + log1p(e^{-|z|})"
)
SOFTPLUS_GRAD_HINT = (
    "softplus_grad(z) = sigma(z) = 1 / (1 + e^{-z}) (so 0.5 at z = 0 and -> 1 as z -> +inf); "
    "stable for |z| up to 1000"
)

# Tolerances: the values lie in [0, 1] (softplus: up to |z|), and an absolute error of 1e-15
# is below anything that matters; it lets the lecture's s * (1 - s) pass where s rounds to 1.
TOL = {"rtol": 1e-10, "atol": 1e-15}


def _z_public():
    import numpy as np

    return np.concatenate([np.linspace(-8.0, 8.0, 17), [-40.0, 40.0, -720.0, 720.0]])


def _float64(value, shape, name, hint):
    """Shape and dtype: a float64 array of exactly ``shape`` (a NumPy scalar for shape ())."""
    import numpy as np

    dtype = getattr(value, "dtype", None)
    ok_type = isinstance(value, np.ndarray) or (shape == () and isinstance(value, (np.generic,
                                                                                   float)))
    ok = ok_type and np.shape(value) == shape and (dtype is None or dtype == np.float64)
    assert ok, (
        f"{name}: expected float64 values of shape {shape}, got a {type(value).__name__} of "
        f"dtype {dtype} and shape {np.shape(value) if ok_type else None}\nhint: {hint}"
    )


def _check(fn, stub, key, z, hint, ref, outcome=None):
    """Call the student's elementwise function on z (no mutation), compare with the reference.
    With ``outcome`` (from ``call_each``) the call was already made: its result is read here."""
    from autograder.checks import assert_close, assert_no_mutation

    got = outcome.get() if outcome is not None else assert_no_mutation(fn, z, name=stub)
    label = f"{stub}(z), z of shape {z.shape}"
    assert_close(got, ref.call(key, stub, z), **TOL, name=label, hint=hint)
    _float64(got, z.shape, label, hint)
    return got


def _fd_check(true_fn, grad_values, z, name, hint):
    """Finite differences of the activation written here vs the student's derivative values."""
    import numpy as np

    from autograder.checks import assert_gradient

    assert_gradient(lambda v: float(np.sum(true_fn(v))), grad_values, z, h=1e-6, rtol=1e-6,
                    atol=1e-9, name=name, hint=hint)


def _sigmoid_indep(v):
    # sigma(z) = (1 + tanh(z / 2)) / 2: stable, and independent of the reference's formula
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * v))


@test_case(name='sigmoid, sigmoid_grad: values', points=1, hidden=False)
def test_sigmoid_and_grad(sigmoid, sigmoid_grad):
    import numpy as np

    from autograder.checks import Reference

    ref, z, zm = Reference("q1"), _z_public(), np.linspace(-6.0, 6.0, 13) + 0.1
    out = _each((sigmoid, "sigmoid", z), (sigmoid_grad, "sigmoid_grad", z), (sigmoid_grad, zm))
    s = _check(sigmoid, "sigmoid", "sigmoid_pub", z, SIGMOID_HINT, ref, out[0])
    assert np.all(np.isfinite(s)), f"sigmoid(z) is not finite for some z\nhint: {SIGMOID_HINT}"
    _check(sigmoid_grad, "sigmoid_grad", "sigmoid_grad_pub", z, SIGMOID_GRAD_HINT, ref, out[1])
    # out[2]: sigmoid_grad(zm), a plain call made with the others (one round trip in the grader)
    _fd_check(_sigmoid_indep, out[2].get(), zm,
              "sigmoid_grad vs central differences of the sigmoid", SIGMOID_GRAD_HINT)


@test_case(name='tanh_grad: values', points=1, hidden=False)
def test_tanh_grad(tanh_grad):
    import numpy as np

    from autograder.checks import Reference

    ref = Reference("q1")
    z, zm = _z_public(), np.linspace(-3.0, 3.0, 13) + 0.05
    out = _each((tanh_grad, "tanh_grad", z), (tanh_grad, zm))  # one round trip in the grader
    _check(tanh_grad, "tanh_grad", "tanh_grad_pub", z, TANH_HINT, ref, out[0])
    _fd_check(np.tanh, out[1].get(), zm, "tanh_grad vs central differences of np.tanh",
              TANH_HINT)


@test_case(name='relu, relu_grad: values', points=1, hidden=False)
def test_relu_and_grad(relu, relu_grad):
    import numpy as np

    from autograder.checks import Reference
    ref = Reference("q1")
    z = np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 0.0, -720.0, 720.0])
    zm = np.array([-2.5, -1.0, -0.3, 0.3, 1.0, 2.5])  # away from the kink at 0
    out = _each((relu, "relu", z), (relu_grad, "relu_grad", z), (relu_grad, zm))
    _check(relu, "relu", "relu_pub", z, RELU_HINT, ref, out[0])
    _check(relu_grad, "relu_grad", "relu_grad_pub", z, RELU_GRAD_HINT, ref, out[1])
    _fd_check(lambda v: np.maximum(v, 0.0), out[2].get(), zm,
              "relu_grad vs central differences of max(0, z)", RELU_GRAD_HINT)


@test_case(name='softplus, softplus_grad: values', points=1, hidden=False)
def test_softplus_and_grad(softplus, softplus_grad):
    import numpy as np

    from autograder.checks import Reference
    ref, z, zm = Reference("q1"), _z_public(), np.linspace(-6.0, 6.0, 13) + 0.1
    out = _each((softplus, "softplus", z), (softplus_grad, "softplus_grad", z),
                (softplus_grad, zm))
    sp = _check(softplus, "softplus", "softplus_pub", z, SOFTPLUS_HINT, ref, out[0])
    assert np.all(np.isfinite(sp)), f"softplus(z) is not finite for some z\nhint: {SOFTPLUS_HINT}"
    _check(softplus_grad, "softplus_grad", "softplus_grad_pub", z, SOFTPLUS_GRAD_HINT, ref, out[1])
    # out[2]: softplus_grad(zm), a plain call made with the others (one round trip in the grader)
    _fd_check(lambda v: np.logaddexp(0.0, v), out[2].get(), zm,
              "softplus_grad vs central differences of log(1 + e^z)", SOFTPLUS_GRAD_HINT)


@test_case(name='sigmoid, softplus and their derivatives: no numerical warning at |z| = 1000',
           points=1, hidden=False)
def test_warning_free(sigmoid, sigmoid_grad, softplus, softplus_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, assert_warning_free, call_each

    ref = Reference("q1")
    # the contract's stability clause: finite AND warning-free; 1/(1+np.exp(-z)) gives the right
    # numbers here but overflows in exp on the way, which is what this case looks for
    z = np.array([-1000.0, -800.0, -50.0, 0.0, 50.0, 800.0, 1000.0])
    stubs = ((sigmoid, "sigmoid", SIGMOID_HINT), (sigmoid_grad, "sigmoid_grad", SIGMOID_GRAD_HINT),
             (softplus, "softplus", SOFTPLUS_HINT),
             (softplus_grad, "softplus_grad", SOFTPLUS_GRAD_HINT))
    # the four calls at once, their warnings recorded (one round trip in the grader)
    outcomes = call_each([(fn, (z,)) for fn, _, _ in stubs], no_mutation=False, warnings=True)
    for (fn, stub, hint), outcome in zip(stubs, outcomes):
        got = assert_warning_free(fn, name=f"{stub}(z) for z in [-1000, 1000]",
                                  stable_form=hint, outcome=outcome)
        assert_close(got, ref.call(f"{stub}_warnfree", stub, z), **TOL,
                     name=f"{stub}(z) for z in [-1000, 1000]", hint=hint)


def _each(*calls):
    """A case's calls in one ``call_each`` (one round trip in the grader), read in order by the
    case: ``(fn, stub, z)`` is checked as ``_check`` checks it, ``assert_no_mutation(fn, z,
    name=stub)``; ``(fn, z)`` is a plain call ``fn(z)`` (the values given to ``_fd_check``)."""
    from autograder.checks import call_each

    full = [call if len(call) == 3 else (call[0], None, call[1]) for call in calls]
    return call_each([(fn, (z,)) for fn, _, z in full], names=[stub for _, stub, _ in full],
                     no_mutation=[stub is not None for _, stub, _ in full])
