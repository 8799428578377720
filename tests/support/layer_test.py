"""The one layer-test helper: every layer gets the same checks.

``run_layer_test`` checks the Keras surface (shapes, weights in Keras's order, config round trip, float32 in and
out) and then ``check_description``: the layer's one description run through both interpreters (eager and
compiled) in float64 must agree to the last bits (see ``_assert_same``) -- outputs, loss, weight gradients, input
gradients and any state the step updates -- and its weight and input gradients must match central differences of
the loss.
"""

import contextlib

import numpy as np
from nbkeras.kernels import policy

import nbkeras as keras
from support.gradcheck import ATOL, RTOL, numerical_gradient


@contextlib.contextmanager
def floatx(dtype):
    before = keras.backend.floatx()
    keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        keras.backend.set_floatx(before)


def run_layer_test(layer_cls, init_kwargs, input_shape, expected_output_shape, expected_weight_shapes=(),
                   seed=0, check_gradients=True, input_data=None):
    """Build ``layer_cls(**init_kwargs)`` on ``input_shape`` (batch first) and check that:

    * the symbolic output shape and the eager output have ``expected_output_shape`` (batch first), float32;
    * its weights are, in order, arrays of ``expected_weight_shapes`` and ``count_params`` adds them up;
    * ``from_config(get_config())`` rebuilds a layer that gives the same output with the same weights;
    * ``check_description`` passes (both interpreters agree; gradients match central differences).
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype("float32") if input_data is None else input_data

    layer = layer_cls(**init_kwargs)
    inp = keras.Input(input_shape[1:])
    sym = layer(inp)
    assert sym.shape == (None,) + tuple(expected_output_shape[1:]), sym.shape
    y = layer(x)
    assert y.shape == tuple(expected_output_shape) and y.dtype == np.float32
    assert [w.shape for w in layer.get_weights()] == [tuple(s) for s in expected_weight_shapes]
    assert layer.count_params() == sum(int(np.prod(s)) for s in expected_weight_shapes)

    config = layer.get_config()
    clone = layer_cls.from_config({**config, "name": config["name"] + "_clone"})
    clone(keras.Input(input_shape[1:]))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x), y, rtol=1e-6, atol=1e-7)

    check_description(lambda: layer_cls(**init_kwargs), [input_shape], seed=seed, check_gradients=check_gradients,
                      input_data=None if input_data is None else [input_data])
    return layer


def check_description(make_layer, input_shapes, seed=0, check_gradients=True, input_data=None):
    """One SGD(learning_rate=0) step of ``Model(inputs, make_layer()(inputs))`` with an MSE loss, in float64,
    through the compiled and the eager interpreter: everything must agree to rtol 1e-12; then the compiled step's
    weight and input gradients are checked against central differences of the same loss."""
    with floatx("float64"):
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        inputs = [keras.Input(s[1:]) for s in input_shapes]
        layer = make_layer()
        out = layer(inputs[0] if len(inputs) == 1 else inputs)
        outs = out if isinstance(out, list) else [out]
        xs = input_data or [rng.normal(size=s) for s in input_shapes]
        xs = [np.asarray(x, np.float64) for x in xs]
        n = xs[0].shape[0]
        targets = [rng.normal(size=(n,) + tuple(o.shape[1:])) for o in outs]
        w0 = None
        runs = {}
        for eager in (False, True):
            model = keras.Model(inputs, outs)
            model._record_input_grads = True
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=["mse"] * len(outs),
                          run_eagerly=eager)
            if w0 is None:
                w0 = model.get_weights()
            model.set_weights(w0)
            keras.utils.set_random_seed(seed + 1)  # the same dropout uniforms in both runs
            loss = model.train_on_batch(xs, targets)
            first_grads = [v.grad.copy() for v in model.trainable_weights]
            model.set_weights(w0)
            keras.utils.set_random_seed(seed + 1)
            loss = model.train_on_batch(xs, targets)  # a second step must overwrite, not add to, the gradients
            for v, g in zip(model.trainable_weights, first_grads):
                np.testing.assert_array_equal(v.grad, g, err_msg=f"{v.path}: the second step's gradient differs "
                                                                 f"(accumulated onto the first?)")
            runs[eager] = dict(
                loss=np.asarray(loss),
                grads=[v.grad.copy() for v in model.trainable_weights],
                dx=model._engine.input_gradients(n),
                weights=model.get_weights(),
                predict=[np.asarray(p) for p in _as_list(model.predict(xs, batch_size=n, verbose=0))],
            )
        compiled, eager = runs[False], runs[True]
        for key in ("loss", "grads", "dx", "weights", "predict"):
            a, b = compiled[key], eager[key]
            if isinstance(a, list):
                assert len(a) == len(b)
                for u, v in zip(a, b):
                    if u is None or v is None:
                        assert u is None and v is None, key
                    else:
                        _assert_same(u, v, key)
            else:
                _assert_same(a, b, key)
        if not check_gradients:
            return model

        def loss_now():
            # The step's own loss (the MSE plus any penalties) with learning rate 0: a forward pass in training
            # mode with the same dropout uniforms; only non-trainable state (moving statistics) changes.
            keras.utils.set_random_seed(seed + 1)
            result = model.train_on_batch(xs, targets)
            return float(result[0] if isinstance(result, list) else result)

        model.set_weights(w0)
        for var, analytic in zip(model.trainable_weights, compiled["grads"]):
            numeric = numerical_gradient(loss_now, var.value)
            model.set_weights(w0)
            _assert_grad(analytic, numeric, f"weight {var.path}")
        for i, (x, analytic) in enumerate(zip(xs, compiled["dx"])):
            if analytic is None:
                continue
            numeric = numerical_gradient(loss_now, x)
            _assert_grad(analytic, numeric, f"input {i}")
        return model


def _assert_same(a, b, key):
    """The two interpreters agree bit for bit when the kernels are compiled without value-changing fastmath flags
    (NBKERAS_STRICT_FP=1, as tests/layers/test_interpreters_bit_exact.py runs every layer test). With the
    production flags they agree to the last few bits in float64: ``reassoc`` lets LLVM vectorise a sum differently
    in a kernel inlined into the compiled step than in the standalone copy the eager path calls (and differently
    again when either comes from the disk cache), which moves some results by an ulp; a wrong call, argument or
    buffer differs by orders of magnitude more."""
    if policy.STRICT_FP:
        np.testing.assert_array_equal(a, b, err_msg=f"interpreters disagree on {key} (strict floating point)")
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"interpreters disagree on {key}")


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _assert_grad(analytic, numeric, what):
    scale = 1.0 + float(np.max(np.abs(numeric), initial=0.0))
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL * scale,
                               err_msg=f"{what}: the gradient disagrees with central differences")
