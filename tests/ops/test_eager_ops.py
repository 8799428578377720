"""keras.ops on arrays: NumPy's results and dtypes (float32 stays float32), and the op table is complete: every
Keras op name nbkeras covers exists in nbkeras.ops and in the table, with a gradient rule or a stated lack of one."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import ops
from nbkeras.ops.table import ACTIVATIONS, NO_GRADIENT, OPS, RAISES

#: The Keras 3 ops (keras.ops.*) nbkeras covers.
KERAS_OPS = """
abs absolute add all amax amin any arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin
binary_crossentropy broadcast_to cast categorical_crossentropy ceil clip concatenate convert_to_numpy
convert_to_tensor cos cosh divide dot einsum equal erf exp exp2 expand_dims expm1 eye floor floor_divide full
full_like greater greater_equal isfinite isinf isnan less less_equal linspace log log10 log1p log2 logical_and
logical_not logical_or logical_xor logsumexp matmul max maximum mean min minimum mod moments multiply
ndim negative norm normalize not_equal one_hot ones ones_like power prod ravel reciprocal reshape round rsqrt shape
sign sin sinh sparse_categorical_crossentropy split sqrt square squeeze stack std stop_gradient subtract sum take
take_along_axis tan tanh tensordot top_k transpose true_divide trunc var where zeros zeros_like
relu relu6 sigmoid softplus softsign silu swish log_sigmoid leaky_relu hard_sigmoid hard_silu hard_swish elu selu
gelu celu glu hard_tanh soft_shrink hard_shrink tanh_shrink sparse_plus squareplus threshold sparsemax softmax
log_softmax
""".split()


@pytest.mark.parametrize("name", KERAS_OPS)
def test_every_covered_op_exists(name):
    assert callable(getattr(ops, name)), name


def test_table_states_every_gradient():
    for name, entry in OPS.items():
        assert entry.grad, name
        assert entry.kind in ("unary", "binary", "reduce", "where", "clip", "slice", "split", "take",
                              "take_along_axis", "one_hot", "top_k", "matmul", "concatenate", "transpose", "alias",
                              "fill", "activation", "composite", "eager"), name
    for name in KERAS_OPS:
        assert name in OPS or name in ACTIVATIONS or name in ("shape", "ndim", "convert_to_tensor",
                                                              "convert_to_numpy", "max", "min"), name
    assert OPS["argmax"].grad == NO_GRADIENT and OPS["top_k"].grad == RAISES


def test_nn_namespace_and_top_level_agree():
    assert keras.ops is ops
    for name in ("relu", "softmax", "gelu", "one_hot", "log_softmax"):
        assert callable(getattr(ops.nn, name))


def test_unknown_ops_say_so():
    from nbkeras.ops.table import op

    with pytest.raises(ValueError, match="not in nbkeras's op table"):
        op("fft")


RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 2.0, size=(2, 3, 4)).astype(np.float32)
B = RNG.uniform(0.5, 2.0, size=(3, 1)).astype(np.float32)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "square", "tanh", "negative", "abs", "sin", "floor"])
def test_unary_eager(name):
    out = getattr(ops, name)(A)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, getattr(np, name)(A), rtol=1e-6)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "mod"])
def test_binary_eager_broadcasts(name):
    out = getattr(ops, name)(A, B)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, getattr(np, name)(A, B), rtol=1e-6)
    assert getattr(ops, name)(A, 2.0).dtype == np.float32


def test_reductions_eager():
    np.testing.assert_allclose(ops.sum(A, axis=(0, 2)), A.sum(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(ops.logsumexp(A, axis=-1), np.log(np.exp(A).sum(-1)), rtol=1e-6)
    assert ops.argmax(A, axis=-1).dtype == np.int32
    np.testing.assert_allclose(ops.norm(A, axis=-1), np.linalg.norm(A, axis=-1), rtol=1e-6)
    assert ops.mean(A).dtype == np.float32


def test_shapes_and_contractions_eager():
    np.testing.assert_array_equal(ops.reshape(A, (-1, 4)), A.reshape(-1, 4))
    np.testing.assert_array_equal(ops.transpose(A, (0, 2, 1)), A.transpose(0, 2, 1))
    np.testing.assert_allclose(ops.einsum("bij,bkj->bik", A, A), np.einsum("bij,bkj->bik", A, A), rtol=1e-6)
    np.testing.assert_allclose(ops.tensordot(A, A, axes=([1, 2], [1, 2])), np.tensordot(A, A, ([1, 2], [1, 2])),
                               rtol=1e-5)
    parts = ops.split(A, 2, axis=-1)
    assert len(parts) == 2 and parts[0].shape == (2, 3, 2)
    np.testing.assert_array_equal(ops.one_hot(np.array([0, 2, 5]), 3), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    values, indices = ops.top_k(np.array([[1.0, 3.0, 2.0]]), 2)
    np.testing.assert_array_equal(indices, [[1, 2]])
    np.testing.assert_array_equal(ops.where(A > 1, A, 0.0), np.where(A > 1, A, 0.0))


def test_activations_eager_match_the_activation_module():
    np.testing.assert_allclose(ops.softmax(A, axis=1), keras.activations.softmax(A, axis=1), rtol=1e-6)
    np.testing.assert_allclose(ops.nn.gelu(A), keras.activations.gelu(A, approximate=True), rtol=1e-6)


def test_variables_compute_eagerly():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    np.testing.assert_allclose(ops.matmul(A, layer.kernel), A @ layer.kernel.value, rtol=1e-6)


# ------------------------------------------------------------------------------------------ symbolic errors
def test_symbolic_errors_are_clear():
    x = keras.Input((3, 4))
    with pytest.raises(ValueError, match="batch axis"):
        ops.sum(x)
    with pytest.raises(ValueError, match="batch axis"):
        ops.mean(x, axis=0)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        ops.add(x, np.ones(5))
    with pytest.raises(ValueError, match="do not agree"):
        ops.matmul(x, np.ones((3, 2)))
    with pytest.raises(ValueError, match="batch"):
        ops.reshape(x, (4, 3))
    with pytest.raises(ValueError, match="batch"):
        ops.transpose(x)
    with pytest.raises(ValueError, match="batch"):
        x[0]
    with pytest.raises(TypeError, match="ops.take"):
        x[:, np.array([0, 1])]
    with pytest.raises(ValueError, match="batch"):
        ops.concatenate([x, x])
    with pytest.raises(ValueError, match="equal sections"):
        ops.split(x, 3, axis=-1)
    with pytest.raises(IndexError, match="out of range"):
        ops.take(x, [4], axis=-1)


def test_symbolic_shapes_and_dtypes():
    x = keras.Input((3, 4))
    assert (x + 1.0).shape == (None, 3, 4)
    assert (x > 0).dtype == "bool"
    assert ops.argmax(x, axis=-1).shape == (None, 3)
    assert ops.sum(x, axis=(1, 2), keepdims=True).shape == (None, 1, 1)
    assert x[:, 1].shape == (None, 4) and x[..., None].shape == (None, 3, 4, 1)
    assert ops.matmul(x, np.ones((4, 2))).shape == (None, 3, 2)
    assert ops.einsum("bij,jk->bik", x, np.ones((4, 5))).shape == (None, 3, 5)
    assert [t.shape for t in ops.split(x, [1], axis=1)] == [(None, 1, 4), (None, 2, 4)]
    assert ops.one_hot(ops.argmax(x, -1), 6).shape == (None, 3, 6)
    assert ops.cast(x, "int32").dtype == "int32"
    assert (2 * x).shape == (None, 3, 4) and (np.float32(2) * x).shape == (None, 3, 4)
