"""elementwise.chain_forward: a fused chain equals, bit for bit, the same instructions run as separate kernels
(unary_forward, scalar_forward, binary_forward without broadcasting), float32 and float64, for random chains and
lengths that are not multiples of the block; inputs are not mutated; bad arguments raise ValueError."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import elementwise as E

C = E.chain_op
UNARY_CODES = [E.NEG, E.ABS, E.EXP, E.TANH, E.SIGMOID, E.SQUARE, E.RELU, E.SIN, E.SOFTPLUS, E.EXPM1, E.FLOOR,
               E.COPY, E.ARCTAN, E.SIGN]
BINARY_CODES = [E.ADD, E.SUBTRACT, E.MULTIPLY, E.DIVIDE, E.MAXIMUM, E.MINIMUM, E.ARCTAN2, E.GREATER]
SCALAR_CODES = BINARY_CODES + [E.POWER]


@st.composite
def chains(draw):
    """(words, scalars, n_inputs, n_regs): a valid random chain; each instruction reads inputs or earlier values,
    writes the lowest register it does not read."""
    n_in = draw(st.integers(1, 4))
    n_ops = draw(st.integers(1, E.CHAIN_MAX_OPS))
    values = list(range(n_in))  # operand numbers available: inputs, then registers written so far
    reg_value = {}  # register -> operand number of the value it holds (4 + r)
    words, scalars, n_regs = [], [], 1
    for i in range(n_ops):
        kind = draw(st.sampled_from([E.CHAIN_UNARY, E.CHAIN_SCALAR, E.CHAIN_SCALAR_FIRST, E.CHAIN_BINARY]))
        a = draw(st.sampled_from(values))
        b = draw(st.sampled_from(values)) if kind == E.CHAIN_BINARY else 0
        if kind == E.CHAIN_UNARY:
            code = draw(st.sampled_from(UNARY_CODES))
        elif kind == E.CHAIN_BINARY:
            code = draw(st.sampled_from(BINARY_CODES))
        else:
            code = draw(st.sampled_from(SCALAR_CODES))
        s = draw(st.sampled_from([2.0, 0.5, -1.25, 3.0, 0.0]))
        d = 0
        if i < n_ops - 1:
            d = min(r for r in range(E.CHAIN_MAX_REGS) if E.CHAIN_INPUTS + r not in (a, b))
            n_regs = max(n_regs, d + 1)
            if E.CHAIN_INPUTS + d not in values:
                values.append(E.CHAIN_INPUTS + d)
            reg_value[d] = True
        words.append(C(kind, code, a, b, d))
        scalars.append(s)
    return words, scalars, n_in, n_regs


def unfused(words, scalars, xs, dtype):
    """The chain as separate calls of the existing kernels, on full-length arrays."""
    n = xs[0].shape[0]
    regs = {}

    def operand(k):
        return xs[k] if k < E.CHAIN_INPUTS else regs[k - E.CHAIN_INPUTS]

    for i, (w, s) in enumerate(zip(words, scalars)):
        kind, code, a, b, d = w & 3, (w >> 2) & 63, (w >> 8) & 15, (w >> 12) & 15, (w >> 16) & 15
        out = np.empty(n, dtype)
        if kind == E.CHAIN_UNARY:
            E.unary_forward(code, operand(a), out)
        elif kind == E.CHAIN_BINARY:
            E.binary_forward(code, operand(a), operand(b), out, 1, 1, 1, n, n, n, n, n, 1, n, n, n, n, 1)
        else:
            E.scalar_forward(code, operand(a), s, kind == E.CHAIN_SCALAR_FIRST, out)
        if i == len(words) - 1:
            return out
        regs[d] = out


def run_chain(words, scalars, xs, out, regs):
    pad = E.CHAIN_MAX_OPS - len(words)
    empty = np.empty(0, out.dtype)
    xs = list(xs) + [empty] * (E.CHAIN_INPUTS - len(xs))
    E.chain_forward(len(words), *words, *[0] * pad, *scalars, *[0.0] * pad, *xs, out, regs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(chain=chains(), n=st.integers(0, 70), block=st.sampled_from([1, 7, 16, 64]), seed=st.integers(0, 99))
def test_chain_equals_the_unfused_kernels(dtype, chain, n, block, seed):
    words, scalars, n_in, n_regs = chain
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-2, 2, n).astype(dtype) for _ in range(n_in)]
    for x in xs[1:2]:
        x[::5] = 0.0  # exact zeros: divisions by zero, signs, comparisons
    before = [x.copy() for x in xs]
    want = unfused(words, scalars, xs, dtype)
    out = np.full(n, np.nan, dtype)
    regs = np.full((n_regs + 1, block), np.nan, dtype)
    with np.errstate(all="ignore"):
        run_chain(words, scalars, xs, out, regs)
    np.testing.assert_array_equal(out.view(np.uint8), want.view(np.uint8))  # bit for bit, NaNs included
    for x, x0 in zip(xs, before):
        np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_array_with_vector_math(dtype):
    """tanh(2x + 1) * exp(-x) over a length that is not a multiple of the block, as the fusion pass builds it."""
    n = 3 * 4096 + 37
    x = np.random.default_rng(0).uniform(-3, 3, n).astype(dtype)
    words = [C(E.CHAIN_SCALAR, E.MULTIPLY, 0, dst=0), C(E.CHAIN_SCALAR, E.ADD, 4, dst=1),
             C(E.CHAIN_UNARY, E.TANH, 5, dst=0), C(E.CHAIN_UNARY, E.NEG, 0, dst=1), C(E.CHAIN_UNARY, E.EXP, 5, dst=2),
             C(E.CHAIN_BINARY, E.MULTIPLY, 4, 6)]
    scalars = [2.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    out = np.empty(n, dtype)
    run_chain(words, scalars, [x], out, np.empty((3, 4096), dtype))
    np.testing.assert_array_equal(out, unfused(words, scalars, [x], dtype))
    np.testing.assert_allclose(out, np.tanh(2 * x + 1) * np.exp(-x), rtol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_chain_split_among_threads(dtype):
    """Over CHAIN_PARALLEL_WORK element-instructions, with regs rows for several workers, the blocks are shared
    among numba's threads: the result is bit for bit the one-worker result and the unfused kernels', in place too."""
    words = [C(E.CHAIN_SCALAR, E.MULTIPLY, 0, dst=0), C(E.CHAIN_SCALAR, E.ADD, 4, dst=1),
             C(E.CHAIN_UNARY, E.TANH, 5, dst=0), C(E.CHAIN_UNARY, E.NEG, 0, dst=1), C(E.CHAIN_UNARY, E.EXP, 5, dst=2),
             C(E.CHAIN_BINARY, E.MULTIPLY, 4, 6)]
    scalars = [2.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    block = 256
    weight = 4 + 2 * 4  # four arithmetic instructions, tanh and exp
    n = E.CHAIN_PARALLEL_WORK // weight + 3 * block + 5
    assert E._chain_workers(n, weight, 3 * E.CHAIN_PARTS, 3, block) == E.CHAIN_PARTS
    assert E._chain_workers(n, weight, 3, 3, block) == 1
    assert E._chain_workers(n // 2, weight, 3 * E.CHAIN_PARTS, 3, block) == 1
    # x * 2 + 1 at the same length stays on one thread (memory-bound: two threads gained only out of cache)
    assert E._chain_workers(n, 2, 3 * E.CHAIN_PARTS, 3, block) == 1
    x = np.random.default_rng(2).uniform(-3, 3, n).astype(dtype)
    before = x.copy()
    one, split = np.empty(n, dtype), np.empty(n, dtype)
    run_chain(words, scalars, [x], one, np.empty((3, block), dtype))
    run_chain(words, scalars, [x], split, np.full((3 * E.CHAIN_PARTS, block), np.nan, dtype))
    np.testing.assert_array_equal(split, one)
    np.testing.assert_array_equal(split, unfused(words, scalars, [x], dtype))
    np.testing.assert_array_equal(x, before)
    run_chain(words, scalars, [x], x, np.empty((3 * E.CHAIN_PARTS, block), dtype))  # out = the input
    np.testing.assert_array_equal(x, one)


def test_out_may_alias_an_input():
    x = np.linspace(-2, 2, 50)
    want = np.tanh(x * 3.0) - x
    words = [C(E.CHAIN_SCALAR, E.MULTIPLY, 0, dst=0), C(E.CHAIN_UNARY, E.TANH, 4, dst=1),
             C(E.CHAIN_BINARY, E.SUBTRACT, 5, 0)]
    run_chain(words, [3.0, 0.0, 0.0], [x], x, np.empty((2, 8)))
    np.testing.assert_allclose(x, want, rtol=1e-14)


BAD = [
    ("n_ops must be in", dict(n_ops=0)),
    ("n_ops must be in", dict(n_ops=9)),
    ("regs must be", dict(regs=np.empty((0, 4)))),
    ("regs must be", dict(regs=np.empty((33, 4)))),
    ("regs must be", dict(regs=np.empty((2, 0)))),
    ("word is out of range", dict(words=[-1, 0])),
    ("word is out of range", dict(words=[1 << 20, 0])),
    ("unknown code", dict(words=[C(E.CHAIN_UNARY, E.N_UNARY, 0), C(0, E.NEG, 4)])),
    ("unknown code", dict(words=[C(E.CHAIN_BINARY, E.N_BINARY, 0, 0), C(0, E.NEG, 4)])),
    ("does not have out's length", dict(words=[C(E.CHAIN_UNARY, E.NEG, 1), C(0, E.NEG, 4)])),
    ("register that is out of range or not written", dict(words=[C(E.CHAIN_UNARY, E.NEG, 5), C(0, E.NEG, 4)])),
    ("register that is out of range or not written", dict(words=[C(0, E.NEG, 0, dst=0), C(3, E.ADD, 4, 11)])),
    ("destination register is out of range", dict(words=[C(E.CHAIN_UNARY, E.NEG, 0, dst=2), C(0, E.NEG, 6)])),
    # a raw word naming register 9: past the CHAIN_MAX_REGS registers, even when regs has rows for 4 workers
    ("destination register is out of range", dict(words=[E.NEG << 2 | 9 << 16, C(0, E.NEG, 4)],
                                                   regs=np.empty((32, 4)))),
    ("writes a register it reads", dict(words=[C(0, E.NEG, 0, dst=0), C(0, E.NEG, 4, dst=0), C(0, E.NEG, 4)],
                                        n_ops=3)),
]


@pytest.mark.parametrize("match,change", BAD, ids=[f"{m}-{i}" for i, (m, _) in enumerate(BAD)])
def test_bad_arguments_raise(match, change):
    x, out = np.ones(10), np.zeros(10)
    words = change.get("words", [C(E.CHAIN_UNARY, E.NEG, 0, dst=0), C(E.CHAIN_UNARY, E.EXP, 4)])
    words = words + [0] * (E.CHAIN_MAX_OPS - len(words))
    n_ops = change.get("n_ops", 2)
    regs = change.get("regs", np.empty((2, 4)))
    with pytest.raises(ValueError, match="chain_forward: .*" + match):
        E.chain_forward(n_ops, *words, *[0.0] * 8, x, np.ones(3), np.empty(0), np.empty(0), out, regs)


def test_chain_op_rejects_fields_out_of_range():
    with pytest.raises(ValueError, match="chain_op"):
        C(4, 0, 0)
    with pytest.raises(ValueError, match="chain_op"):
        C(0, 0, 0, dst=8)
