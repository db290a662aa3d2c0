from autograder.checks import test_case

OK_FORMAT = False

name = "q3"
points = 5

LAYER_HINT = (
    "bias first: xbar = [1, x_1, ..., x_dx], so theta[0] holds the biases, and the layer is "
    "sigma(theta^T xbar) with the sigmoid applied to each of the d_y weighted sums"
)
GRAD_HINT = (
    "layer_grad is the outer product (sigma(z) * (1 - sigma(z))) xbar^T with z = theta^T xbar "
    "and bias first, xbar = [1, x]: shape (d_y, d_x+1), entry [j, i] = d output_j / d theta[i, j] "
    "(the transpose of theta's shape), and it uses the derivative sigma(z) * (1 - sigma(z)), "
    "not sigma(z)"
)


def _layer(x, theta):
    """sigma(theta^T [1, x]) written independently: bias row theta[0], sigma via tanh."""
    import numpy as np

    z = theta[0] + x @ theta[1:]
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _inputs(seed, d_x, d_y, scale=1.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(size=d_x), scale * rng.normal(size=(d_x + 1, d_y))


def _float64(value, shape, name, hint):
    import numpy as np

    dtype = getattr(value, "dtype", None)
    assert isinstance(value, np.ndarray) and value.shape == shape and dtype == np.float64, (
        f"{name}: expected a float64 array of shape {shape}, got a {type(value).__name__} of "
        f"dtype {dtype} and shape {getattr(value, 'shape', None)}\nhint: {hint}"
    )


def _fd_layer_grad(x, theta, G, label, atol=1e-9):
    """Row j of G against central differences of output j of _layer w.r.t. column j of theta."""
    import numpy as np

    from autograder.checks import assert_gradient

    G = np.asarray(G, dtype=np.float64)
    for j in range(theta.shape[1]):
        def out_j(col, j=j):
            th = theta.copy()
            th[:, j] = col
            return float(_layer(x, th)[j])

        assert_gradient(out_j, G[j], theta[:, j], h=1e-6, rtol=1e-6, atol=atol,
                        name=f"{label}: row {j} (output {j}) vs central differences in "
                             f"theta[:, {j}]", hint=GRAD_HINT)


@test_case(name='neuron_layer: values, bias first', points=1, hidden=False)
def test_neuron_layer(neuron_layer):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q3")
    x, theta = _inputs(0, d_x=3, d_y=2)
    got = assert_no_mutation(neuron_layer, x, theta, name="neuron_layer")
    label = "neuron_layer(x, theta), x (3,), theta (4, 2)"
    assert_close(got, ref.call("layer_3_2", "neuron_layer", x, theta), rtol=1e-12, atol=1e-15,
                 name=label, hint=LAYER_HINT)
    assert_close(got, _layer(x, theta), rtol=1e-12, atol=1e-15,
                 name=label + " vs sigma(theta[0] + theta[1:]^T x)", hint=LAYER_HINT)
    _float64(got, (2,), label, LAYER_HINT)


@test_case(name='layer_grad: values and shape (d_y, d_x+1)', points=1, hidden=False)
def test_layer_grad(layer_grad):
    from autograder.checks import Reference, assert_close, assert_no_mutation

    ref = Reference("q3")
    x, theta = _inputs(1, d_x=3, d_y=2)
    got = assert_no_mutation(layer_grad, x, theta, name="layer_grad")
    label = "layer_grad(x, theta), x (3,), theta (4, 2)"
    assert_close(got, ref.call("grad_3_2", "layer_grad", x, theta), rtol=1e-10, atol=1e-15,
                 name=label, hint=GRAD_HINT)
    _float64(got, (2, 4), label, GRAD_HINT)


@test_case(name='layer_grad: matches finite differences of neuron_layer', points=1, hidden=False)
def test_layer_grad_finite_differences(layer_grad):
    x, theta = _inputs(2, d_x=2, d_y=3)
    G = layer_grad(x, theta)
    _float64(G, (3, 3), "layer_grad(x, theta), x (2,), theta (3, 3)", GRAD_HINT)
    _fd_layer_grad(x, theta, G, "layer_grad(x, theta), x (2,), theta (3, 3)")


@test_case(name='neuron_layer, layer_grad: other shapes', points=1, hidden=True)
def test_other_shapes(neuron_layer, layer_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each

    ref = Reference("q3")
    cases = [("1_1", *_inputs(30, d_x=1, d_y=1)), ("5_3", *_inputs(31, d_x=5, d_y=3)),
             ("zero_x", np.zeros(4), _inputs(32, d_x=4, d_y=2)[1])]
    # every call at once (one round trip in the grader), read in the order they were made
    outcomes = iter(call_each([(fn, (x, theta)) for _, x, theta in cases
                               for fn in (neuron_layer, layer_grad)], no_mutation=False))
    for key, x, theta in cases:
        d_x, d_y = x.shape[0], theta.shape[1]
        label = f"x ({d_x},), theta ({d_x + 1}, {d_y})"
        out = next(outcomes).get()
        assert_close(out, _layer(x, theta), rtol=1e-12, atol=1e-15,
                     name=f"neuron_layer, {label}", hint=LAYER_HINT)
        _float64(out, (d_y,), f"neuron_layer, {label}", LAYER_HINT)
        G = next(outcomes).get()
        assert_close(G, ref.call(f"grad_{key}", "layer_grad", x, theta), rtol=1e-10,
                     atol=1e-15, name=f"layer_grad, {label}", hint=GRAD_HINT)
        _float64(G, (d_y, d_x + 1), f"layer_grad, {label}", GRAD_HINT)
        _fd_layer_grad(x, theta, G, f"layer_grad, {label}")


@test_case(name='neuron_layer, layer_grad: saturated units', points=1, hidden=True)
def test_saturated_units(neuron_layer, layer_grad):
    import numpy as np

    from autograder.checks import Reference, assert_close, call_each
    ref = Reference("q3")
    # weighted sums from about -40 to 40: outputs near 0 and 1, derivatives down to ~1e-17
    x = np.array([1.0, -2.0, 0.5])
    theta = np.array([[-40.0, -12.0, 0.0, 12.0, 40.0],
                      [0.0, 0.0, 1.0, 0.0, 0.0],
                      [0.0, 0.0, -0.5, 0.0, 0.0],
                      [0.0, 0.0, 2.0, 0.0, 0.0]])
    outcomes = call_each([(neuron_layer, (x, theta)), (layer_grad, (x, theta))], no_mutation=False)
    out = outcomes[0].get()  # neuron_layer(x, theta), made with the next (one round trip)
    assert_close(out, ref.call("layer_sat", "neuron_layer", x, theta), rtol=1e-10, atol=1e-15,
                 name="neuron_layer with saturated units", hint=LAYER_HINT)
    G = outcomes[1].get()  # layer_grad(x, theta)
    assert_close(G, ref.call("grad_sat", "layer_grad", x, theta), rtol=1e-8, atol=1e-15,
                 name="layer_grad with saturated units", hint=GRAD_HINT)
    _fd_layer_grad(x, theta, G, "layer_grad with saturated units", atol=1e-12)
