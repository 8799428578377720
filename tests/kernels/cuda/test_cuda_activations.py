"""kernels/cuda/activations.py against kernels/cpu/activations.py: every elementwise pair over random values, the
kinks and a NaN, with the parameter values that change the code path; softmax, log_softmax, sparsemax and glu over
the line-grid geometries (short rows, rows longer than a block, columns); in-place calls; bad shapes."""

import inspect

import numpy as np
import pytest
from nbkeras.kernels.cpu import activations as cpu
from nbkeras.kernels.cuda import activations as A
from numba import cuda
from numba.core.registry import CPUDispatcher
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]

# name -> parameter sets to try (each a tuple of the kernel's extra arguments)
ELEMENTWISE = {
    "linear": [()], "relu": [(0.0, np.inf, 0.0), (0.1, 6.0, 0.5), (0.2, np.inf, -0.5), (0.0, 1e9, -0.5)],
    "relu6": [()], "leaky_relu": [(0.3,), (1.5,)], "sigmoid": [()], "hard_sigmoid": [()], "swish": [()],
    "silu": [()], "tanh": [()], "softsign": [()], "softplus": [()], "elu": [(1.0,), (0.7,)], "selu": [()],
    "exponential": [()], "gelu": [(False,), (True,)], "celu": [(1.0,), (1.5,)], "mish": [()],
    "log_sigmoid": [()], "squareplus": [(4.0,), (0.5,)], "tanh_shrink": [()], "hard_silu": [()],
    "hard_swish": [()], "hard_tanh": [()], "sparse_plus": [()], "sparse_sigmoid": [()],
    "soft_shrink": [(0.5,)], "hard_shrink": [(0.5,)], "threshold": [(0.5, -1.0), (-0.25, 2.0)],
}
KINKS = [0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 0.5, -0.5, -0.25, np.nan]
ROWWISE = ["softmax", "log_softmax", "sparsemax"]
# (outer, n, inner): short rows, a row longer than a block (lanes loop), columns in two line tiles
SHAPES = [(3, 5, 1), (1, 300, 1), (2, 7, 3), (2, 3, 40)]


def cpu_names():
    return sorted(n for n, v in vars(cpu).items() if not n.startswith("_") and isinstance(v, CPUDispatcher))


def test_every_twin_takes_the_cpu_parameters():
    names = cpu_names()
    assert len(names) == 64
    assert set(ELEMENTWISE) | set(ROWWISE) | {"glu"} == {n.rsplit("_", 1)[0] for n in names}
    for n in names:
        assert list(inspect.signature(getattr(A, n)).parameters) == \
            list(inspect.signature(getattr(cpu, n).py_func).parameters), n


def _x(rng, dtype):
    return np.concatenate([rng.uniform(-4, 4, 27), KINKS]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise(name, dtype):
    rng = np.random.default_rng(len(name))
    x = _x(rng, dtype)
    for params in ELEMENTWISE[name]:
        out, dy, dx = arrays(rng, dtype, x.shape, x.shape, x.shape)
        check_twin(f"activations.{name}_forward", x, out, *params)
        y = np.empty_like(x)
        getattr(cpu, f"{name}_forward")(x, y, *params)
        check_twin(f"activations.{name}_backward", x, y, dy, dx, *params)


@pytest.mark.parametrize("params", ELEMENTWISE["relu"])
def test_relu_infinities(params):
    x = np.array([-np.inf, np.inf, -1.0, 2.0])
    check_twin("activations.relu_forward", x, np.zeros(4), *params)
    check_twin("activations.relu_backward", x, np.zeros(4), np.ones(4), np.zeros(4), *params)


def _row_input(rng, dtype, shape, name):
    x = rng.uniform(-3, 3, shape)
    if name == "sparsemax":
        x[..., 0] = x[..., -1]  # ties in the support test
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ROWWISE)
def test_rowwise(name, dtype):
    rng = np.random.default_rng(len(name))
    for shape in SHAPES if dtype == np.float64 else SHAPES[::2]:
        x = _row_input(rng, dtype, shape, name)
        out, dy, dx = arrays(rng, dtype, shape, shape, shape)
        check_twin(f"activations.{name}_forward", x, out)
        y = np.empty_like(x)
        getattr(cpu, f"{name}_forward")(x, y)
        check_twin(f"activations.{name}_backward", x, y, dy, dx)


def test_sparsemax_saturates_to_one_hot_and_keeps_large_logits():
    x = np.array([[[0.0], [5.0], [1.0]], [[1000.0], [1000.5], [999.0]]], np.float32)
    check_twin("activations.sparsemax_forward", x, np.zeros_like(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 6, 3), (3, 2, 1)])
def test_glu(shape, dtype):
    rng = np.random.default_rng(0)
    half = (shape[0], shape[1] // 2, shape[2])
    x, out, dy, dx = arrays(rng, dtype, shape, half, half, shape, low=-3, high=3)
    check_twin("activations.glu_forward", x, out)
    y = np.empty(half, dtype)
    cpu.glu_forward(x, y)
    check_twin("activations.glu_backward", x, y, dy, dx)


def _in_place(name, x, *params, backward=False):
    """Run CPU and CUDA with out = x (forward) or dx = dy (backward) and compare."""
    fwd_c, fwd_g = getattr(cpu, f"{name}_forward"), getattr(A, f"{name}_forward")
    if not backward:
        h = x.copy()
        fwd_c(h, h, *params)
        d = cuda.to_device(x)
        fwd_g(d, d, *params)
        np.testing.assert_allclose(d.copy_to_host(), h, rtol=1e-12)
        return
    y = np.empty_like(x)
    fwd_c(x, y, *params)
    dy = np.random.default_rng(1).uniform(-1, 1, x.shape)
    h = dy.copy()
    getattr(cpu, f"{name}_backward")(x, y, h, h, *params)
    d = cuda.to_device(dy)
    getattr(A, f"{name}_backward")(cuda.to_device(x), cuda.to_device(y), d, d, *params)
    np.testing.assert_allclose(d.copy_to_host(), h, rtol=1e-12)


@pytest.mark.parametrize("backward", [False, True])
def test_in_place(backward):
    rng = np.random.default_rng(2)
    _in_place("gelu", rng.uniform(-3, 3, 40), True, backward=backward)
    _in_place("elu", rng.uniform(-3, 3, 40), 0.5, backward=backward)
    for name in ROWWISE:
        _in_place(name, rng.uniform(-3, 3, (2, 9, 3)), backward=backward)


def test_bad_shapes():
    def d(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="relu_forward"):
        A.relu_forward(d(5), d(4), 0.0, np.inf, 0.0)
    with pytest.raises(ValueError, match="sigmoid_backward"):
        A.sigmoid_backward(d(5), d(4), d(5), d(5))
    with pytest.raises(ValueError, match="elu_backward"):
        A.elu_backward(d(4), d(5), d(5), d(5), 1.0)
    with pytest.raises(ValueError, match="softmax_forward"):
        A.softmax_forward(d(2, 3, 1), d(2, 4, 1))
    with pytest.raises(ValueError, match="log_softmax_backward"):
        A.log_softmax_backward(d(2, 3, 1), d(2, 3, 1), d(2, 3, 2), d(2, 3, 1))
    with pytest.raises(ValueError, match="sparsemax_forward"):
        A.sparsemax_forward(d(2, 3, 1), d(2, 3, 2))
    with pytest.raises(ValueError, match="sparsemax_backward"):
        A.sparsemax_backward(d(2, 3, 1), d(2, 3, 1), d(2, 3, 1), d(1, 3, 1))
    with pytest.raises(ValueError, match="glu_forward"):
        A.glu_forward(d(2, 5, 1), d(2, 2, 1))
    with pytest.raises(ValueError, match="glu_backward"):
        A.glu_backward(d(2, 4, 1), d(2, 2, 1), d(2, 2, 1), d(2, 2, 1))
