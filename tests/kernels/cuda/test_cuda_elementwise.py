"""kernels/cuda/elementwise.py against kernels/cpu/elementwise.py (in the CUDA simulator: tiny shapes).

The simulator runs the device code as Python, where math.log(-1), math.sqrt(-1) and overflowing math.exp raise,
so each code is driven inside its domain; special values are checked for the codes whose forward guards them."""

import numpy as np
import pytest
from nbkeras.kernels.cpu import elementwise as E
from nbkeras.kernels.cuda import elementwise as G
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]

# code -> (lo, hi): where f and f' are defined (as the CPU tests drive them)
DOMAIN = {E.LOG: (0.2, 3), E.LOG1P: (-0.8, 3), E.SQRT: (0.2, 3), E.RECIPROCAL: (0.3, 3), E.RSQRT: (0.3, 3),
          E.TAN: (-1.2, 1.2), E.ARCSIN: (-0.9, 0.9), E.ARCCOS: (-0.9, 0.9), E.ARCCOSH: (1.2, 3),
          E.ARCTANH: (-0.9, 0.9), E.LOG2: (0.2, 3), E.LOG10: (0.2, 3)}


def cpu_out(name, *args, index):
    """Run the CPU kernel on copies and return argument ``index`` afterwards (a forward's output for a backward)."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    getattr(E, name)(*args)
    return args[index]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", range(E.N_UNARY))
def test_unary_matches_cpu(code, dtype):
    rng = np.random.default_rng(code)
    lo, hi = DOMAIN.get(code, (-2.5, 2.5))
    x = rng.uniform(lo, hi, 37).astype(dtype)
    out, dy, dx = arrays(rng, dtype, 37, 37, 37)
    check_twin("elementwise.unary_forward", code, x, out)
    y = cpu_out("unary_forward", code, x, out, index=2)
    check_twin("elementwise.unary_backward", code, x, y, dy, dx)
    check_twin("elementwise.unary_backward", code, x, y, dy, np.empty(0, dtype))


SPECIAL = [E.LOG, E.LOG1P, E.SQRT, E.ARCSIN, E.ARCCOS, E.ARCCOSH, E.ARCTANH, E.LOG2, E.LOG10, E.SIGN, E.RELU,
           E.SOFTPLUS, E.ABS, E.FLOOR, E.CEIL, E.ROUND, E.TRUNC, E.ISNAN, E.ISINF, E.ISFINITE, E.NONZERO,
           E.LOGICAL_NOT, E.NEG, E.COPY, E.SQUARE]


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_special_values_match_cpu(dtype):
    x = np.array([-1.0, 0.0, np.nan, np.inf, -np.inf, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -1.7, 1.0, -3.2],
                 dtype)
    for code in SPECIAL:
        check_twin("elementwise.unary_forward", code, x, np.zeros_like(x))


# (n1, n2, n3, n4), a's strides, b's strides, a's size, b's size for a batch of 3
BROADCASTS = [
    ((2, 1, 1, 5), (10, 5, 5, 5, 1), (0, 0, 0, 0, 1), 30, 5),   # b a per-feature weight
    ((2, 3, 1, 2), (0, 2, 0, 0, 1), (12, 6, 2, 2, 1), 4, 36),   # a broadcast over batch and an inner axis
    ((1, 1, 1, 7), (7, 7, 7, 7, 1), (0, 0, 0, 0, 0), 21, 1),    # b a single value
    ((1, 1, 1, 4), (4, 4, 4, 4, 1), (4, 4, 4, 4, 1), 12, 12),   # same shapes
]


def _binary_operands(rng, dtype, sizes):
    a = rng.uniform(0.5, 2.0, sizes[0]).astype(dtype)
    b = (rng.uniform(0.5, 2.0, sizes[1]) * rng.choice([-1.0, 1.0], sizes[1])).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(BROADCASTS)))
def test_binary_matches_cpu(case, dtype):
    dims, sa, sb, na, nb = BROADCASTS[case]
    rng = np.random.default_rng(case)
    total = 3 * int(np.prod(dims))
    codes = range(E.N_BINARY) if case == 1 else [E.ADD, E.MULTIPLY, E.DIVIDE, E.POWER, E.MAXIMUM, E.ARCTAN2]
    for code in codes:
        a, b = _binary_operands(rng, dtype, (na, nb))
        if code == E.POWER:
            b = np.abs(b)
        (out,) = arrays(rng, dtype, total)
        check_twin("elementwise.binary_forward", code, a, b, out, *dims, *sa, *sb)
        y = cpu_out("binary_forward", code, a, b, out, *dims, *sa, *sb, index=3)
        dy, da, db = arrays(rng, dtype, total, na, nb)
        for acc_a, acc_b in ((True, False), (False, True)):
            check_twin("elementwise.binary_backward", code, a, b, y, dy, da, db, acc_a, acc_b, *dims, *sa, *sb)
        check_twin("elementwise.binary_backward", code, a, b, y, dy, np.empty(0, dtype), db, False, True, *dims,
                   *sa, *sb)
        check_twin("elementwise.binary_backward", code, a, b, y, dy, da, np.empty(0, dtype), True, False, *dims,
                   *sa, *sb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_backward_to_a_single_value_over_blocks_matches_cpu(dtype):
    # b one value over 300 elements (two blocks): block sums, one atomic add per block
    rng = np.random.default_rng(6)
    dims, sa, sb = (1, 1, 1, 100), (100, 100, 100, 100, 1), (0, 0, 0, 0, 0)
    a, y, dy, da = arrays(rng, dtype, 300, 300, 300, 300)
    b, db = arrays(rng, dtype, 1, 1)
    for accumulate in (False, True):
        check_twin("elementwise.binary_backward", E.MULTIPLY, a, b, y, dy, da, db, False, accumulate, *dims, *sa,
                   *sb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_comparisons_with_ties_match_cpu(dtype):
    rng = np.random.default_rng(5)
    dims, sa, sb = (2, 1, 1, 5), (10, 5, 5, 5, 1), (0, 0, 0, 0, 1)
    a = rng.integers(0, 3, 30).astype(dtype)
    b = rng.integers(0, 3, 5).astype(dtype)
    for code in [E.MAXIMUM, E.MINIMUM] + list(range(E.EQUAL, E.N_BINARY)):
        (out,) = arrays(rng, dtype, 30)
        check_twin("elementwise.binary_forward", code, a, b, out, *dims, *sa, *sb)
        y = cpu_out("binary_forward", code, a, b, out, *dims, *sa, *sb, index=3)
        dy, da, db = arrays(rng, dtype, 30, 30, 5)
        check_twin("elementwise.binary_backward", code, a, b, y, dy, da, db, False, True, *dims, *sa, *sb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar_first", [False, True])
def test_scalar_matches_cpu(scalar_first, dtype):
    rng = np.random.default_rng(int(scalar_first))
    for s in (2.0, -1.3):
        for code in range(E.N_BINARY):
            x = (rng.uniform(0.5, 2.0, 19) * (1 if code == E.POWER else rng.choice([-1.0, 1.0], 19))).astype(dtype)
            if code == E.POWER and scalar_first and s < 0:
                continue
            out, dy, dx = arrays(rng, dtype, 19, 19, 19)
            check_twin("elementwise.scalar_forward", code, x, s, scalar_first, out)
            y = cpu_out("scalar_forward", code, x, s, scalar_first, out, index=4)
            check_twin("elementwise.scalar_backward", code, x, s, scalar_first, y, dy, dx)
        check_twin("elementwise.scalar_backward", E.MULTIPLY, x, s, scalar_first, y, dy, np.empty(0, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_matches_cpu(dtype):
    rng = np.random.default_rng(7)
    dims = (2, 1, 1, 5)  # batch 3
    sc, sa, sb = (0, 5, 5, 5, 1), (10, 5, 5, 5, 1), (0, 0, 0, 0, 1)  # c per sample position, b per feature
    c = rng.integers(0, 2, 10).astype(dtype)
    a, b, out, dy = arrays(rng, dtype, 30, 5, 30, 30)
    check_twin("elementwise.where_forward", c, a, b, out, *dims, *sc, *sa, *sb)
    da, db = arrays(rng, dtype, 30, 5)
    for acc_a, acc_b in ((False, False), (True, True), (False, True), (True, False)):
        check_twin("elementwise.where_backward", c, dy, da, db, acc_a, acc_b, *dims, *sc, *sa, *sb)
    check_twin("elementwise.where_backward", c, dy, np.empty(0, dtype), db, False, False, *dims, *sc, *sa, *sb)
    check_twin("elementwise.where_backward", c, dy, da, np.empty(0, dtype), False, False, *dims, *sc, *sa, *sb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_matches_cpu(dtype):
    rng = np.random.default_rng(8)
    x = rng.uniform(-2, 2, 41).astype(dtype)
    x[:3] = [-0.5, 1.25, np.nan]
    out, dy, dx = arrays(rng, dtype, 41, 41, 41)
    check_twin("elementwise.clip_forward", x, -0.5, 1.25, out)
    check_twin("elementwise.clip_backward", x, -0.5, 1.25, dy, dx)
    check_twin("elementwise.clip_backward", x, -0.5, 1.25, dy, np.empty(0, dtype))


SLICES = [  # (d1..d4), starts, steps, out dims
    ((3, 4, 1, 5), (1, 3, 0, 0), (1, -1, 1, 2), (2, 3, 1, 3)),
    ((1, 1, 6, 2), (0, 0, 5, 1), (1, 1, -2, 0), (1, 1, 3, 1)),
    ((2, 1, 1, 3), (1, 0, 0, 0), (1, 1, 1, 1), (1, 1, 1, 0)),  # an empty slice
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(SLICES)))
def test_slice_matches_cpu(case, dtype):
    d, b, t, o = SLICES[case]
    rng = np.random.default_rng(case)
    x, out = arrays(rng, dtype, 2 * int(np.prod(d)), 2 * int(np.prod(o)))
    check_twin("elementwise.slice_forward", x, out, *d, *b, *t, *o)
    dy, dx = arrays(rng, dtype, out.size, x.size)
    check_twin("elementwise.slice_backward", dy, dx, *d, *b, *t, *o)
    check_twin("elementwise.slice_backward", dy, np.empty(0, dtype), *d, *b, *t, *o)


@pytest.mark.parametrize("dtype", DTYPES)
def test_take_matches_cpu(dtype):
    rng = np.random.default_rng(9)
    idx = np.array([3, -1, 0, 3, 2], dtype)  # repeated and negative indices
    x, out, dy, dx = arrays(rng, dtype, (2, 4, 3), 30, 30, (2, 4, 3))
    check_twin("elementwise.take_forward", x, idx, out)
    check_twin("elementwise.take_backward", idx, dy, dx, False)
    check_twin("elementwise.take_backward", idx, dy, dx, True)
    check_twin("elementwise.take_backward", idx, dy, np.empty((0, 0, 0), dtype), False)
    # an embedding lookup: outer = 1
    w, out = arrays(rng, dtype, (1, 6, 4), 20)
    ids = np.array([5, 0, 0, 2, 5], dtype)
    check_twin("elementwise.take_forward", w, ids, out)
    check_twin("elementwise.take_backward", ids, out, w, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_take_along_axis_matches_cpu(dtype):
    rng = np.random.default_rng(10)
    idx = rng.integers(-4, 4, (2, 5, 3)).astype(dtype)
    x, out, dy, dx = arrays(rng, dtype, (2, 4, 3), (2, 5, 3), (2, 5, 3), (2, 4, 3))
    check_twin("elementwise.take_along_axis_forward", x, idx, out)
    check_twin("elementwise.take_along_axis_backward", idx, dy, dx)
    check_twin("elementwise.take_along_axis_backward", idx, dy, np.empty((0, 0, 0), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_matches_cpu(dtype):
    idx = np.array([[0, 3, -1], [4, 2.0, np.nan]], dtype)  # ids outside [0, C) give zero vectors
    (out,) = arrays(np.random.default_rng(11), dtype, (2, 4, 3))
    check_twin("elementwise.one_hot_forward", idx, out)


def test_bad_index_is_skipped_on_the_device():
    x = cuda.to_device(np.arange(8.0).reshape(1, 4, 2))
    out = cuda.to_device(np.full(4, -7.0))
    G.take_forward(x, cuda.to_device(np.array([1.0, 9.0])), out)
    np.testing.assert_array_equal(out.copy_to_host(), [2.0, 3.0, -7.0, -7.0])
    dx = cuda.to_device(np.zeros((1, 4, 2)))
    G.take_backward(cuda.to_device(np.array([1.5, 0.0])), cuda.to_device(np.ones(4)), dx, False)
    np.testing.assert_array_equal(dx.copy_to_host().ravel(), [1, 1, 0, 0, 0, 0, 0, 0])


def test_bad_shapes_raise():
    def d(*shape):
        return cuda.to_device(np.zeros(shape))

    with pytest.raises(ValueError, match="unary_forward: x and out"):
        G.unary_forward(E.EXP, d(3), d(2))
    with pytest.raises(ValueError, match="unary_forward: unknown code"):
        G.unary_forward(E.N_UNARY, d(3), d(3))
    with pytest.raises(ValueError, match="binary_forward: a is too small"):
        G.binary_forward(E.ADD, d(3), d(4), d(4), 1, 1, 1, 4, 4, 4, 4, 4, 1, 4, 4, 4, 4, 1)
    with pytest.raises(ValueError, match="binary_backward: da and db"):
        G.binary_backward(E.ADD, d(4), d(4), d(4), d(4), d(3), d(4), False, False, 1, 1, 1, 4,
                          4, 4, 4, 4, 1, 4, 4, 4, 4, 1)
    with pytest.raises(ValueError, match="where_forward"):
        G.where_forward(d(4), d(4), d(4), d(5), 1, 1, 1, 4, 4, 4, 4, 4, 1, 4, 4, 4, 4, 1, 4, 4, 4, 4, 1)
    with pytest.raises(ValueError, match="slice_forward"):
        G.slice_forward(d(6), d(4), 1, 1, 1, 6, 0, 0, 0, 4, 1, 1, 1, 1, 1, 1, 1, 4)
    with pytest.raises(ValueError, match="take_forward"):
        G.take_forward(d(1, 4, 2), d(2), d(5))
    with pytest.raises(ValueError, match="take_along_axis_backward"):
        G.take_along_axis_backward(d(1, 2, 2), d(1, 2, 3), d(1, 4, 2))
    with pytest.raises(ValueError, match="one_hot_forward"):
        G.one_hot_forward(d(2, 3), d(2, 4, 2))
    with pytest.raises(ValueError, match="clip_backward"):
        G.clip_backward(d(3), 0.0, 1.0, d(3), d(2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_chain_matches_cpu(dtype):
    C = E.chain_op
    rng = np.random.default_rng(7)
    n = 45
    x0, x1 = rng.uniform(0.5, 2.0, n).astype(dtype), rng.uniform(-2.0, 2.0, n).astype(dtype)
    empty = np.empty(0, dtype)
    words = [C(E.CHAIN_SCALAR, E.MULTIPLY, 0, dst=0), C(E.CHAIN_SCALAR, E.ADD, 4, dst=1),
             C(E.CHAIN_UNARY, E.TANH, 5, dst=0), C(E.CHAIN_UNARY, E.NEG, 1, dst=1), C(E.CHAIN_UNARY, E.EXP, 5, dst=2),
             C(E.CHAIN_BINARY, E.MULTIPLY, 4, 6, dst=1), C(E.CHAIN_SCALAR_FIRST, E.DIVIDE, 5, dst=0),
             C(E.CHAIN_SCALAR, E.POWER, 4)]
    scalars = [2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0, 2.0]
    (out,) = arrays(rng, dtype, n)
    regs = np.zeros((3, 16), dtype)
    check_twin("elementwise.chain_forward", 8, *words, *scalars, x0, x1, empty, empty, out, regs, ignore=(22,))
    short = words[:2] + [0] * 6  # a shorter chain: the unused words and inputs are ignored
    check_twin("elementwise.chain_forward", 2, *short, *scalars, x0, empty, empty, empty, out, regs, ignore=(22,))


def test_chain_bad_arguments_match_cpu():
    x, out, regs = np.ones(4), np.zeros(4), np.zeros((2, 4))
    C = E.chain_op
    for n_ops, words, xs, match in [(9, [0] * 8, (x, x, x, x), "n_ops"), (1, [C(0, 60, 0)] + [0] * 7, (x, x, x, x),
                                    "unknown code"), (1, [C(0, 0, 1)] + [0] * 7, (x, np.ones(3), x, x), "length"),
                                    (2, [C(0, 0, 0, dst=3), C(0, 0, 7)] + [0] * 6, (x, x, x, x), "destination")]:
        for mod in (E, G):
            with pytest.raises(ValueError, match="chain_forward: .*" + match):
                mod.chain_forward(n_ops, *words, *[0.0] * 8, *xs, out, regs)
    # register 9 (a raw word): the device's registers are CHAIN_MAX_REGS, whatever rows regs has
    words = [E.NEG << 2 | 9 << 16, C(0, 0, 4)] + [0] * 6
    for mod in (E, G):
        with pytest.raises(ValueError, match="chain_forward: .*destination"):
            mod.chain_forward(2, *words, *[0.0] * 8, x, x, x, x, out, np.zeros((32, 4)))
