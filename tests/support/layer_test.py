"""The one layer-test helper: every layer gets the same checks (shape, weights, config round trip, one step)."""

import numpy as np

import nbkeras as keras


def run_layer_test(layer_cls, init_kwargs, input_shape, expected_output_shape, expected_weight_shapes=(),
                   seed=0):
    """Build ``layer_cls(**init_kwargs)`` on ``input_shape`` (batch first) and check that:

    * the symbolic output shape and the eager output have ``expected_output_shape`` (batch first);
    * its weights are, in order, arrays of ``expected_weight_shapes`` and ``count_params`` adds them up;
    * ``from_config(get_config())`` rebuilds a layer that gives the same output with the same weights;
    * one training step of a model around it runs, keeps float32, and moves every trainable weight.
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype("float32")

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

    model = keras.Model(inp, sym)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, rng.normal(size=expected_output_shape).astype("float32"))
    assert np.isfinite(loss)
    for b, a, w in zip(before, model.get_weights(), model.weights):
        assert a.dtype == np.float32
        if w.trainable:
            assert not np.array_equal(a, b), f"trainable weight {w.path} did not move"
    return layer
