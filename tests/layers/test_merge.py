"""Merge layers Multiply, Subtract, Average, Maximum, Minimum and Dot and the functional forms: both interpreters
and gradients (check_description), NumPy references, first-input ties in Maximum/Minimum, Keras's Dot shapes,
configs and errors."""

import numpy as np
import pytest

import nbkeras as keras
from support.layer_test import check_description


L = keras.layers
RNG = np.random.default_rng(0)

ELEMENTWISE = [
    (L.Multiply, L.multiply, lambda xs: np.prod(xs, axis=0), 3),
    (L.Subtract, L.subtract, lambda xs: xs[0] - xs[1], 2),
    (L.Average, L.average, lambda xs: np.mean(xs, axis=0), 3),
    (L.Maximum, L.maximum, lambda xs: np.max(xs, axis=0), 3),
    (L.Minimum, L.minimum, lambda xs: np.min(xs, axis=0), 2),
]


@pytest.mark.parametrize("cls,fn,reference,count", ELEMENTWISE)
def test_elementwise_merges(cls, fn, reference, count):
    check_description(cls, [(3, 2, 2)] * count)
    xs = [RNG.normal(size=(4, 2, 3)).astype("float32") for _ in range(count)]
    np.testing.assert_allclose(cls()(xs), reference(np.array(xs)), rtol=1e-6)
    inputs = [keras.Input((2, 3)) for _ in range(count)]
    out = fn(inputs)
    assert out.shape == (None, 2, 3)
    model = keras.Model(inputs, out)
    np.testing.assert_allclose(model.predict(xs, verbose=0), reference(np.array(xs)), rtol=1e-6)
    assert cls.from_config(cls().get_config()) is not None


def test_the_same_tensor_twice_sums_both_gradients():
    check_description(lambda: _SquareViaMultiply(), [(3, 4)])


class _SquareViaMultiply(L.Multiply):
    """Multiply()([x, x]) as a one-input layer, for check_description (d x^2 / dx = 2x through both inputs)."""

    def __call__(self, inputs, **kwargs):
        return super().__call__([inputs, inputs], **kwargs)


@pytest.mark.parametrize("cls", [L.Maximum, L.Minimum])
def test_ties_send_the_gradient_to_the_first_input(cls):
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], cls()([a, b]))
    model._record_input_grads = True
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[1.0, 2.0, -1.0]], "float32")
    model.train_on_batch([x, x.copy()], np.zeros((1, 3), "float32"))
    da, db = model._engine.input_gradients(1)
    np.testing.assert_allclose(da, 2 * x / 3, rtol=1e-6)  # MSE's gradient, all of it to the first input
    np.testing.assert_array_equal(db, 0.0)


@pytest.mark.parametrize("axes,normalize,shapes,out_shape", [
    (1, False, [(3, 4), (3, 4)], (3, 1)),
    (-1, True, [(3, 4), (3, 4)], (3, 1)),
    ((1, 2), False, [(2, 3), (2, 4, 3)], (2, 4)),
    ((2, 1), True, [(2, 4, 3), (2, 3)], (2, 4)),
    ((1, 2), False, [(2, 3, 4), (2, 5, 3)], (2, 4, 5)),
    ((2, 2), True, [(2, 3, 4), (2, 5, 4)], (2, 3, 5)),
    (1, True, [(2, 3, 2), (2, 3, 4)], (2, 2, 4)),
])
def test_dot(axes, normalize, shapes, out_shape):
    check_description(lambda: L.Dot(axes=axes, normalize=normalize), shapes)
    xs = [RNG.normal(size=s).astype("float32") for s in shapes]
    got = L.Dot(axes=axes, normalize=normalize)(xs)
    a0, a1 = (axes, axes) if isinstance(axes, int) else axes
    a0, a1 = a0 % len(shapes[0]), a1 % len(shapes[1])
    x, y = (v.astype(np.float64) for v in xs)
    if normalize:
        x = x / np.linalg.norm(x, axis=a0, keepdims=True)
        y = y / np.linalg.norm(y, axis=a1, keepdims=True)
    want = np.stack([np.tensordot(x[i], y[i], axes=(a0 - 1, a1 - 1)) for i in range(len(x))]).reshape(out_shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    sym = L.dot([keras.Input(s[1:]) for s in shapes], axes=axes, normalize=normalize)
    assert sym.shape == (None,) + out_shape[1:]


def test_dot_config():
    config = L.Dot(axes=(1, 2), normalize=True).get_config()
    assert config["axes"] == [1, 2] and config["normalize"] is True
    assert L.Dot.from_config(config).axes == [1, 2]


def test_errors():
    a, b = keras.Input((3,)), keras.Input((4,))
    with pytest.raises(ValueError, match="Multiply 'm': inputs must have the same shape"):
        L.Multiply(name="m")([a, b])
    with pytest.raises(ValueError, match="a `Subtract` layer should be called on exactly 2 inputs"):
        L.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="expects a list of inputs"):
        L.Average()(a)
    with pytest.raises(TypeError, match="Dot: invalid type for argument `axes`"):
        L.Dot(axes="1")
    with pytest.raises(ValueError, match="it should contain two elements"):
        L.Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match="list elements should be integers"):
        L.Dot(axes=(1, 2.0))
    with pytest.raises(ValueError, match="incompatible input shapes"):
        L.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="over the batch axis 0"):
        L.Dot(axes=0)([a, a])
    with pytest.raises(ValueError, match="inputs of rank 2 or 3"):
        L.Dot(axes=1)([keras.Input((2, 2, 2)), keras.Input((2, 2, 2))])
    with pytest.raises(ValueError, match="a list of 2 inputs"):
        L.Dot(axes=1)([a, a, a])


@pytest.mark.parametrize("cls,kwargs", [(L.Dot, {"axes": 1, "normalize": True}), (L.Multiply, {}),
                                        (L.Maximum, {}), (L.Subtract, {})])
def test_only_one_input_needs_a_gradient(cls, kwargs):
    """a comes straight from an Input (no gradient wanted), b from a Dense: only b's gradient is computed, in both
    interpreters alike, and the Dense kernel's gradient matches central differences of the loss."""
    from support.layer_test import floatx
    from support.gradcheck import numerical_gradient

    with floatx("float64"):
        rng = np.random.default_rng(5)
        x = [rng.normal(size=(4, 3)), rng.normal(size=(4, 2))]
        y = rng.normal(size=(4, 1 if cls is L.Dot else 3))
        grads = []
        for eager in (False, True):
            keras.utils.set_random_seed(0)
            a, b = keras.Input((3,)), keras.Input((2,))
            model = keras.Model([a, b], cls(**kwargs)([a, L.Dense(3)(b)]))
            model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=eager)
            model.train_on_batch(x, y)
            grads.append([v.grad.copy() for v in model.trainable_weights])
        for g0, g1 in zip(*grads):
            np.testing.assert_array_equal(g0, g1)
        kernel = model.trainable_weights[0]
        numeric = numerical_gradient(lambda: float(model.evaluate(x, y, verbose=0)), kernel.value)
        np.testing.assert_allclose(grads[0][0], numeric, rtol=1e-5, atol=1e-7)
