"""kernels/cuda/tensor_ops.py against kernels/cpu/tensor_ops.py."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import tensor_ops
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_match_cpu(dtype):
    rng = np.random.default_rng(0)
    for n in (1, 300):
        dst, src = arrays(rng, dtype, (n,), (n,))
        check_twin("tensor_ops.add_into", dst, src)
        check_twin("tensor_ops.copy_into", dst, src)
        check_twin("tensor_ops.add_forward", src, dst, True)
        check_twin("tensor_ops.add_forward", src, dst, False)
    e = np.zeros(0, dtype)
    check_twin("tensor_ops.add_into", e, e.copy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_match_cpu(dtype):
    rng = np.random.default_rng(1)
    x, out = arrays(rng, dtype, (5, 3), (5, 8))
    for offset in (0, 2, 5):
        check_twin("tensor_ops.concat_forward", x, out, offset)
        check_twin("tensor_ops.concat_backward", out, x, offset)
    check_twin("tensor_ops.concat_forward", np.zeros((5, 0), dtype), out, 8)


def test_bad_shapes_raise():
    d = cuda.to_device
    a, b = d(np.zeros(3)), d(np.zeros(4))
    for fn, name in ((tensor_ops.add_into, "add_into"), (tensor_ops.copy_into, "copy_into")):
        with pytest.raises(ValueError, match=name):
            fn(a, b)
    with pytest.raises(ValueError, match="add_forward"):
        tensor_ops.add_forward(a, b, True)
    x, out = d(np.zeros((5, 3))), d(np.zeros((5, 8)))
    for off in (-1, 6):
        with pytest.raises(ValueError, match="concat_forward"):
            tensor_ops.concat_forward(x, out, off)
        with pytest.raises(ValueError, match="concat_backward"):
            tensor_ops.concat_backward(out, x, off)
    with pytest.raises(ValueError, match="concat_forward"):
        tensor_ops.concat_forward(x, d(np.zeros((4, 8))), 0)
