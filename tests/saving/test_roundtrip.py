"""Round trips inside nbkeras: every layer through .keras, .weights.h5, to_json and clone_model."""

import json
import os

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import layers as L

# (case id, input shapes, layer factory, integer inputs?)
CASES = [
    ("dense", [(5,)], lambda: L.Dense(3, activation="tanh", kernel_regularizer="l2", bias_constraint="non_neg"), 0),
    ("dense_nobias", [(2, 5)], lambda: L.Dense(4, use_bias=False), 0),
    ("activation", [(5,)], lambda: L.Activation("softmax"), 0),
    ("dropout", [(5,)], lambda: L.Dropout(0.3), 0),
    ("flatten", [(2, 3)], lambda: L.Flatten(), 0),
    ("batchnorm", [(3, 4)], lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-2), 0),
    ("layernorm", [(6,)], lambda: L.LayerNormalization(), 0),
    ("unitnorm", [(6,)], lambda: L.UnitNormalization(), 0),
    ("normalization", [(3,)], lambda: L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), 0),
    ("rescaling", [(3,)], lambda: L.Rescaling(0.5, offset=1.0), 0),
    ("repeat", [(3,)], lambda: L.RepeatVector(2), 0),
    ("gaussian_noise", [(3,)], lambda: L.GaussianNoise(0.1), 0),
    ("gaussian_dropout", [(3,)], lambda: L.GaussianDropout(0.1), 0),
    ("alpha_dropout", [(3,)], lambda: L.AlphaDropout(0.1), 0),
    ("activity_reg", [(3,)], lambda: L.ActivityRegularization(l1=0.01), 0),
    ("conv1d", [(8, 2)], lambda: L.Conv1D(3, 3, padding="same", activation="relu"), 0),
    ("conv2d", [(6, 6, 2)], lambda: L.Conv2D(3, (3, 2), strides=2, padding="same"), 0),
    ("conv1dt", [(5, 2)], lambda: L.Conv1DTranspose(3, 3, strides=2), 0),
    ("conv2dt", [(4, 4, 2)], lambda: L.Conv2DTranspose(3, 3), 0),
    ("dwconv1d", [(8, 2)], lambda: L.DepthwiseConv1D(3, depth_multiplier=2), 0),
    ("dwconv2d", [(6, 6, 2)], lambda: L.DepthwiseConv2D(3), 0),
    ("sepconv1d", [(8, 2)], lambda: L.SeparableConv1D(4, 3), 0),
    ("sepconv2d", [(6, 6, 2)], lambda: L.SeparableConv2D(4, 3), 0),
    ("maxpool1d", [(8, 2)], lambda: L.MaxPooling1D(2), 0),
    ("maxpool2d", [(6, 6, 2)], lambda: L.MaxPooling2D(), 0),
    ("avgpool1d", [(8, 2)], lambda: L.AveragePooling1D(2), 0),
    ("avgpool2d", [(6, 6, 2)], lambda: L.AveragePooling2D(2), 0),
    ("gmaxpool1d", [(8, 2)], lambda: L.GlobalMaxPooling1D(), 0),
    ("gmaxpool2d", [(6, 6, 2)], lambda: L.GlobalMaxPooling2D(), 0),
    ("gavgpool1d", [(8, 2)], lambda: L.GlobalAveragePooling1D(keepdims=True), 0),
    ("gavgpool2d", [(6, 6, 2)], lambda: L.GlobalAveragePooling2D(), 0),
    ("sdrop1d", [(8, 2)], lambda: L.SpatialDropout1D(0.2), 0),
    ("sdrop2d", [(6, 6, 2)], lambda: L.SpatialDropout2D(0.2), 0),
    ("crop1d", [(8, 2)], lambda: L.Cropping1D((1, 2)), 0),
    ("crop2d", [(6, 6, 2)], lambda: L.Cropping2D(((1, 0), (0, 2))), 0),
    ("zpad1d", [(8, 2)], lambda: L.ZeroPadding1D(2), 0),
    ("zpad2d", [(6, 6, 2)], lambda: L.ZeroPadding2D((1, 2)), 0),
    ("up1d", [(4, 2)], lambda: L.UpSampling1D(3), 0),
    ("up2d", [(3, 3, 2)], lambda: L.UpSampling2D((2, 1)), 0),
    ("reshape", [(6,)], lambda: L.Reshape((2, 3)), 0),
    ("permute", [(2, 3)], lambda: L.Permute((2, 1)), 0),
    ("embedding", [(4,)], lambda: L.Embedding(10, 3), 1),
    ("masking", [(4, 2)], lambda: L.Masking(0.0), 0),
    ("simple_rnn", [(4, 2)], lambda: L.SimpleRNN(3, return_sequences=True), 0),
    ("lstm", [(4, 2)], lambda: L.LSTM(3), 0),
    ("gru", [(4, 2)], lambda: L.GRU(3, return_sequences=True), 0),
    ("bidirectional", [(4, 2)], lambda: L.Bidirectional(L.LSTM(3)), 0),
    ("time_distributed", [(4, 2)], lambda: L.TimeDistributed(L.Dense(3)), 0),
    ("concatenate", [(3,), (2,)], lambda: L.Concatenate(), 0),
    ("add", [(3,), (3,)], lambda: L.Add(), 0),
    ("subtract", [(3,), (3,)], lambda: L.Subtract(), 0),
    ("multiply", [(3,), (3,)], lambda: L.Multiply(), 0),
    ("average", [(3,), (3,)], lambda: L.Average(), 0),
    ("maximum", [(3,), (3,)], lambda: L.Maximum(), 0),
    ("minimum", [(3,), (3,)], lambda: L.Minimum(), 0),
    ("dot", [(3,), (3,)], lambda: L.Dot(axes=1), 0),
]


def _model(case):
    _, shapes, factory, _ = case
    inputs = [keras.Input(s) for s in shapes]
    out = factory()(inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out)


def _data(case, n=5, seed=0):
    rng = np.random.default_rng(seed)
    _, shapes, _, integer = case
    xs = [rng.integers(0, 10, (n,) + s).astype("float32") if integer else rng.normal(size=(n,) + s).astype("float32")
          for s in shapes]
    return xs if len(xs) > 1 else xs[0]


def _perturb(model, seed=1):
    """Give every weight a non-default value, so a load that silently kept initial values would be seen."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(np.abs(rng.normal(size=w.shape)).astype(w.dtype) + 0.5)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_layer_round_trips(case, tmp_path):
    model = _model(case)
    _perturb(model)
    x = _data(case)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in model.layers]
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    # The configs survive unchanged.
    layer = model.layers[-1]
    assert loaded.layers[-1].get_config() == layer.get_config()
    # to_json -> model_from_json gives the same architecture; weights through .weights.h5.
    fresh = keras.models.model_from_json(model.to_json())
    assert json.loads(fresh.to_json()) == json.loads(model.to_json())
    model.save_weights(tmp_path / "w.weights.h5")
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_sequential_round_trip_and_clone(tmp_path):
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu", name="hidden"), L.Dense(2)],
                             name="seq")
    _perturb(model)
    x = _data(("", [(4,)], None, 0))
    model.save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    assert isinstance(loaded, keras.Sequential) and loaded.name == "seq"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    clone = keras.models.clone_model(model)
    assert [la.name for la in clone.layers] == ["hidden", model.layers[1].name]
    assert all(a is not b for a, b in zip(clone.weights, model.weights))
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # fresh weights, as Keras
    again = keras.Sequential.from_config(model.get_config()) if "layers" in model.get_config() else None
    assert again is not None and [type(la) for la in again.layers] == [type(la) for la in model.layers]


def test_keras2_style_first_layer_input_shape(tmp_path):
    model = keras.Sequential([L.Dense(3, input_shape=(4,)), L.Dense(1)])
    model.save(tmp_path / "k2.keras")
    loaded = keras.models.load_model(tmp_path / "k2.keras")
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_nested_model_round_trip(tmp_path):
    inner = keras.Sequential([keras.Input((3,)), L.Dense(2)], name="inner")
    inp = keras.Input((3,))
    out = L.Dense(1)(inner(inp))
    model = keras.Model(inp, out)
    _perturb(model)
    model.save(tmp_path / "n.keras")
    loaded = keras.models.load_model(tmp_path / "n.keras")
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", keras.optimizers.SGD(momentum=0.9, nesterov=True), "adam",
                                       keras.optimizers.Adam(amsgrad=True), "adamw", "rmsprop",
                                       keras.optimizers.RMSprop(momentum=0.5, centered=True), "adagrad", "adadelta",
                                       "adamax", "nadam"],
                         ids=lambda o: o if isinstance(o, str) else type(o).__name__ + "_opts")
def test_training_resumes_exactly(optimizer, tmp_path):
    """fit 1 epoch, save, load, fit 1 more == fit 2 epochs, to the bit (weights and optimizer state)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")

    def build():
        keras.utils.set_random_seed(3)
        m = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.BatchNormalization(), L.Dense(2)])
        opt = keras.optimizers.get(optimizer if isinstance(optimizer, str) else
                                   keras.optimizers.deserialize(keras.optimizers.serialize(optimizer)))
        m.compile(optimizer=opt, loss="mse", metrics=["mae"])
        return m

    straight = build()
    straight.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first = build()
    first.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "ckpt.keras")
    resumed = keras.models.load_model(tmp_path / "ckpt.keras")
    assert resumed.optimizer.iterations == first.optimizer.iterations == 5
    resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations


def test_compile_false_and_compile_config(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss=keras.losses.Huber(delta=2.0),
                  metrics=["mae", keras.metrics.MeanSquaredError()])
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    model.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    assert loaded.compiled and isinstance(loaded.optimizer, keras.optimizers.SGD)
    assert loaded.optimizer.momentum == 0.5 and loaded.optimizer.learning_rate == pytest.approx(0.05)
    assert isinstance(loaded.loss, keras.losses.Huber) and loaded.loss.get_config() == model.loss.get_config()
    assert not keras.models.load_model(tmp_path / "c.keras", compile=False).compiled


def test_save_refuses_other_extensions(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "m.bin")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        model.save_weights(tmp_path / "w.h5")
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]  # no temporary files left behind
