"""keras.ops in a model graph: each op recorded as an op layer runs identically in the compiled and the eager
interpreter (float64, bit for bit) and its input and weight gradients match central differences
(tests/support/layer_test.check_description); outputs equal NumPy's."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import ops
from tests.support.layer_test import check_description

RNG = np.random.default_rng(0)


class WithWeight(keras.layers.Layer):
    """Passes its input through (no kernel) and owns one weight, which ops then borrow: a stand-in for a custom
    layer's ``self.kernel`` until custom layers are traced."""

    aliases_input = True

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.weight_shape = tuple(shape)

    def build(self, input_shape):
        self.w = self.add_weight(shape=self.weight_shape, initializer="random_normal", name="w")


def with_weight(shape, fn):
    """A factory for check_description: x -> fn(x passed through a WithWeight layer, its weight)."""
    def make():
        holder = WithWeight(shape)

        def apply(x):
            return fn(holder(x), holder.w)

        return apply

    return make


def positive(*shapes):
    return [RNG.uniform(0.5, 2.0, size=s) for s in shapes]


UNARY = ["negative", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "reciprocal", "rsqrt", "sin", "cos",
         "tanh", "arctan", "sinh", "arcsinh", "log2", "erf"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_ops(name):
    check_description(lambda: getattr(ops, name), [(3, 2, 3)], input_data=positive((3, 2, 3)))


CASES = {
    "scalar arithmetic": (lambda x: (2.0 * x - 1.0) / 3.0 + x ** 2 - (1 - x) * 0.5, [(3, 4)]),
    "broadcast tensors": (lambda xs: ops.multiply(xs[0], xs[1]) + ops.maximum(xs[0], xs[1]), [(3, 3, 1), (3, 1, 4)]),
    "broadcast constant": (lambda x: ops.divide(x, np.array([1.0, 2.0, -3.0, 4.0])) - np.ones((2, 1)), [(3, 2, 4)]),
    "power by tensors": (lambda xs: ops.power(xs[0], xs[1]), [(3, 4), (3, 4)]),
    "sum keepdims": (lambda x: ops.sum(x, axis=-1, keepdims=True) * x, [(3, 2, 4)]),
    "mean over non-adjacent axes": (lambda x: ops.mean(x, axis=(1, 3)), [(2, 2, 3, 2)]),
    "max and min": (lambda x: ops.max(x, axis=1) - ops.min(x, axis=-1), [(3, 4, 4)]),
    "var std logsumexp": (lambda x: ops.var(x, axis=-1) + ops.std(x, axis=1) + ops.logsumexp(x, axis=-1),
                          [(3, 3, 3)]),
    "prod and norm": (lambda x: ops.prod(x, axis=-1) + ops.norm(x, axis=-1), [(3, 2, 3)]),
    "matmul with a constant": (lambda x: ops.matmul(x, RNG.normal(size=(4, 3))), [(3, 2, 4)]),
    "constant matmul tensor": (lambda x: ops.matmul(RNG.normal(size=(3, 2)), x), [(3, 2, 4)]),
    "batched matmul": (lambda xs: xs[0] @ xs[1], [(2, 2, 3, 4), (2, 2, 4, 3)]),
    "einsum attention": (lambda xs: ops.einsum("bqd,bkd->bqk", xs[0], xs[1]), [(2, 3, 4), (2, 2, 4)]),
    "tensordot constant": (lambda x: ops.tensordot(x, RNG.normal(size=(3, 4, 2)), axes=2), [(2, 2, 3, 4)]),
    "reshape transpose": (lambda x: ops.transpose(ops.reshape(x, (-1, 3, 4)), (0, 2, 1)) * 1.5, [(2, 12)]),
    "expand squeeze": (lambda x: ops.squeeze(ops.expand_dims(x, -1) * 2.0, -1), [(2, 3)]),
    "concatenate stack split": (lambda x: ops.concatenate(ops.split(x, [1, 3], axis=-1)[::-1], axis=-1)
                                + ops.sum(ops.stack([x, 2 * x], axis=1), axis=1), [(2, 4)]),
    "getitem": (lambda x: x[:, 1:3, ::-1] * x[:, 0:2, 0:3] + x[..., 1][:, :2, None], [(2, 3, 3)]),
    "take constant indices": (lambda x: ops.take(x, [2, 0, 2], axis=-1), [(2, 3, 4)]),
    "take along axis": (lambda x: ops.take_along_axis(x, ops.argmax(x, axis=-1, keepdims=True), axis=-1),
                        [(3, 2, 4)]),
    "where clip": (lambda x: ops.where(x > 0.1, x * 2.0, ops.clip(x, -0.5, 0.5)), [(3, 5)]),
    "softmax and activations": (lambda x: ops.softmax(x, axis=1) + ops.nn.gelu(x) + ops.relu(x) * ops.sigmoid(x),
                                [(3, 3, 2)]),
    "one_hot of argmax": (lambda x: ops.one_hot(ops.argmax(x, axis=-1), 4) * x, [(3, 4)]),
    "crossentropy": (lambda xs: ops.expand_dims(ops.categorical_crossentropy(ops.softmax(xs[0]), ops.softmax(xs[1])),
                                                -1), [(3, 4), (3, 4)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_cases(case):
    fn, shapes = CASES[case]
    data = positive(*shapes) if case == "power by tensors" else None
    check_description(lambda: fn, shapes, input_data=data)


@pytest.mark.parametrize("case", ["matmul", "add", "multiply broadcast", "take embedding", "where"])
def test_ops_with_a_borrowed_weight(case):
    fns = {
        "matmul": ((4, 3), lambda x, w: ops.matmul(x, w)),
        "add": ((2, 4), lambda x, w: x + w),
        "multiply broadcast": ((4,), lambda x, w: ops.multiply(w, x) * w),
        "take embedding": ((5, 3), lambda x, w: ops.take(w, ops.cast(ops.floor(ops.abs(x) * 2), "int32"), axis=0)),
        "where": ((4,), lambda x, w: ops.where(x > 0, w, x)),
    }
    shape, fn = fns[case]
    check_description(with_weight(shape, fn), [(3, 2, 4)])


def test_stop_gradient_blocks_its_input():
    """d(x * stop_gradient(x)) / dx is dL/dy * stop_gradient(x), not dL/dy * 2x."""
    check_description(lambda: (lambda x: x * ops.stop_gradient(x)), [(3, 4)], check_gradients=False)
    inp = keras.Input((4,))
    model = keras.Model(inp, inp * ops.stop_gradient(inp))
    model._record_input_grads = True
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    xs = RNG.normal(size=(3, 4)).astype("float32")
    t = RNG.normal(size=(3, 4)).astype("float32")
    model.train_on_batch(xs, t)
    upstream = 2.0 * (xs * xs - t) / xs.size  # MSE, mean over features and batch
    np.testing.assert_allclose(model._engine.input_gradients(3)[0], upstream * xs, rtol=1e-5, atol=1e-7)


def test_outputs_equal_numpy_and_stay_float32():
    x = keras.Input((3, 4))
    c = RNG.normal(size=(4,)).astype("float32")
    out = ops.concatenate([ops.exp(x) * c - 1.0, ops.mean(x, axis=-1, keepdims=True), x[:, :, 1:2] ** 2], axis=-1)
    model = keras.Model(x, out)
    xs = RNG.normal(size=(5, 3, 4)).astype("float32")
    y = model.predict(xs, verbose=0)
    assert y.dtype == np.float32
    ref = np.concatenate([np.exp(xs) * c - 1.0, xs.mean(-1, keepdims=True), xs[:, :, 1:2] ** 2], axis=-1)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_top_k_forward_and_no_gradient():
    x = keras.Input((5,))
    values, indices = ops.top_k(x, 2)
    assert indices.dtype == "int32"
    model = keras.Model(x, [values, indices])
    xs = RNG.normal(size=(4, 5)).astype("float32")
    v, i = model.predict(xs, verbose=0)
    order = np.argsort(-xs, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(i, order)
    np.testing.assert_array_equal(v, np.take_along_axis(xs, order, 1))
    with pytest.raises(ValueError, match="top_k"):
        check_description(with_weight((5,), lambda t, w: ops.top_k(t * w, 2)[0]), [(3, 5)])


def test_non_differentiable_outputs_give_no_gradient():
    """A comparison carries no gradient: a weight reached only through it gets a zero gradient."""
    inp = keras.Input((3,))
    holder = WithWeight((3,))
    out = ops.cast(ops.greater(holder(inp), 0.0), "float32") * 0.0 + ops.sum(inp, axis=-1, keepdims=True)
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(holder.w.grad, 0.0)
