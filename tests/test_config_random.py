"""keras.config (the settings nbkeras has) and keras.random (Keras 3's random ops on arrays, its seeding rules, and a
clear error on symbolic tensors)."""

import numpy as np
import pytest

import nbkeras as keras


def test_config_mirrors_the_backend():
    c = keras.config
    assert c.backend() == "numba" and c.image_data_format() == "channels_last"
    assert c.floatx() == "float32" and c.dtype_policy() == "float32"
    c.set_floatx("float64")
    try:
        assert keras.backend.floatx() == "float64"
    finally:
        c.set_floatx("float32")
    before = c.epsilon()
    c.set_epsilon(1e-5)
    assert keras.backend.epsilon() == 1e-5
    c.set_epsilon(before)
    c.disable_traceback_filtering()
    assert not c.is_traceback_filtering_enabled()
    c.enable_traceback_filtering()
    assert c.is_traceback_filtering_enabled()
    c.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="channels_last"):
        c.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="mixed precision"):
        c.set_dtype_policy("mixed_float16")


def test_int_seeds_repeat_and_seed_generators_advance():
    r = keras.random
    a, b = r.normal((3, 4), seed=7), r.normal((3, 4), seed=7)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (3, 4)
    gen = r.SeedGenerator(11)
    c, d = r.uniform((5,), seed=gen), r.uniform((5,), seed=gen)
    assert not np.array_equal(c, d)
    gen2 = r.SeedGenerator(11)
    np.testing.assert_array_equal(r.uniform((5,), seed=gen2), c)  # repeatable from the generator's seed
    u = r.uniform((1000,), minval=2.0, maxval=3.0, seed=1)
    assert 2.0 <= u.min() and u.max() < 3.0
    t = r.truncated_normal((2000,), stddev=2.0, seed=2)
    assert np.abs(t).max() <= 4.0
    i = r.randint((100,), 3, 6, seed=3)
    assert i.dtype == np.int32 and set(np.unique(i)) <= {3, 4, 5}
    with pytest.raises(ValueError, match="seed"):
        r.normal((2,), seed="x")


def test_dropout_shuffle_categorical_on_arrays():
    r = keras.random
    x = np.ones((200, 50), "float32")
    y = r.dropout(x, 0.25, seed=4)
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8 and np.allclose(y[kept], 1 / 0.75)
    cols = r.dropout(x, 0.5, noise_shape=(1, 50), seed=5)
    assert ((cols == 0).all(axis=0) | (cols != 0).all(axis=0)).all()  # whole columns dropped together
    with pytest.raises(ValueError, match="rate"):
        r.dropout(x, 1.0)
    rows = np.arange(12).reshape(6, 2)
    s = r.shuffle(rows, seed=6)
    assert sorted(map(tuple, s)) == sorted(map(tuple, rows))  # rows permuted whole
    logits = np.log(np.array([[0.0001, 0.9999], [0.9999, 0.0001]]))
    draws = r.categorical(logits, 50, seed=7)
    assert draws.shape == (2, 50) and (draws[0] == 1).mean() > 0.9 and (draws[1] == 0).mean() > 0.9


def test_random_ops_on_symbolic_tensors_say_what_to_use():
    class MyDropout(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            return keras.random.dropout(inputs, 0.5, seed=self.seed_generator)

    with pytest.raises(ValueError, match="keras.layers.Dropout"):
        MyDropout()(keras.Input((4,)))


def test_mnist_reads_keras_cache_and_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="downloads nothing"):
        keras.datasets.mnist.load_data()
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 255, (5, 28, 28), dtype=np.uint8), y_train=np.arange(5, dtype=np.uint8),
                  x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8), y_test=np.arange(2, dtype=np.uint8))
    np.savez(tmp_path / "datasets" / "mnist.npz", **arrays)
    (xt, _), (_, ys) = keras.datasets.mnist.load_data()
    np.testing.assert_array_equal(xt, arrays["x_train"])
    np.testing.assert_array_equal(ys, arrays["y_test"])
    with pytest.raises(AttributeError, match="downloads nothing"):
        keras.datasets.cifar10  # noqa: B018


def test_random_normal_with_a_symbolic_batch_size_says_what_to_use():
    """The Keras guide's VAE ``Sampling`` layer draws keras.random.normal(shape=(batch, dim)) inside call()."""
    from nbkeras import ops

    class Sampling(keras.layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = keras.random.normal(shape=(ops.shape(z_mean)[0], ops.shape(z_mean)[1]))
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    with pytest.raises(ValueError, match="keras.random.normal on a symbolic tensor"):
        Sampling()([keras.Input((2,)), keras.Input((2,))])
