"""Shape kernels (zero padding, cropping, nearest and bilinear upsampling, permute, dropout, spatial dropout):
forward against explicit-loop NumPy references, gradients against central differences, float32 against float64,
bilinear against jax.image.resize's weight-matrix construction, skipped dx, dx aliasing dy for dropout, no
mutation of inputs, and ValueError for inconsistent shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import shape_ops as ops
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds


@st.composite
def images(draw, max_side=4):
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side)), \
        draw(st.integers(1, 3))
    return draw(floats_array((n, h, w, c)))


def run(kernel, x, out_shape, *args):
    out = np.full(out_shape, np.nan, x.dtype)
    kernel(x, out, *args)
    return out


def check_pair(fwd, bwd, x, out_shape, args, seed):
    """Gradient against finite differences in float64, and float32 against float64 for both directions."""
    dy = upstream_like(out_shape, np.random.default_rng(seed))
    dx = run(bwd, dy, x.shape, *args)
    check_gradient(lambda a: run(fwd, a, out_shape, *args), [x], dx, 0, dy)
    assert_f32_close(run(fwd, x.astype(np.float32), out_shape, *args), run(fwd, x, out_shape, *args))
    assert_f32_close(run(bwd, dy.astype(np.float32), x.shape, *args), dx)


# ---------------------------------------------------------------------------------------------- padding, cropping

@given(images(), st.lists(st.integers(0, 2), min_size=4, max_size=4), seeds())
def test_zero_pad(x, pads, seed):
    top, bottom, left, right = pads
    n, h, w, c = x.shape
    shape = (n, h + top + bottom, w + left + right, c)
    want = np.zeros(shape)
    for i in range(h):
        for j in range(w):
            want[:, i + top, j + left, :] = x[:, i, j, :]
    np.testing.assert_array_equal(run(ops.zero_pad2d_forward, x, shape, top, left), want)
    check_pair(ops.zero_pad2d_forward, ops.zero_pad2d_backward, x, shape, (top, left), seed)


@given(images(max_side=5), st.data(), seeds())
def test_crop(x, data, seed):
    n, h, w, c = x.shape
    top = data.draw(st.integers(0, h - 1))
    oh = data.draw(st.integers(1, h - top))
    left = data.draw(st.integers(0, w - 1))
    ow = data.draw(st.integers(1, w - left))
    shape = (n, oh, ow, c)
    want = np.empty(shape)
    for i in range(oh):
        for j in range(ow):
            want[:, i, j, :] = x[:, top + i, left + j, :]
    np.testing.assert_array_equal(run(ops.crop2d_forward, x, shape, top, left), want)
    check_pair(ops.crop2d_forward, ops.crop2d_backward, x, shape, (top, left), seed)


# ---------------------------------------------------------------------------------------------- upsampling

@given(images(), st.integers(1, 3), st.integers(1, 3), seeds())
def test_upsample_nearest(x, sh, sw, seed):
    n, h, w, c = x.shape
    shape = (n, h * sh, w * sw, c)
    want = np.empty(shape)
    for i in range(h * sh):
        for j in range(w * sw):
            want[:, i, j, :] = x[:, i // sh, j // sw, :]
    np.testing.assert_array_equal(run(ops.upsample2d_nearest_forward, x, shape, sh, sw), want)
    check_pair(ops.upsample2d_nearest_forward, ops.upsample2d_nearest_backward, x, shape, (sh, sw), seed)


def jax_linear_weights(in_size, out_size):
    """(in, out) weights as jax.image.resize 'linear' builds them (no antialias effect when enlarging):
    triangle kernel at the half-pixel sample positions, renormalized over the input, zero outside [-0.5, in-0.5]."""
    if in_size == out_size:
        return np.eye(in_size)  # resize skips axes whose size does not change
    sample = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
    wts = np.maximum(0.0, 1.0 - np.abs(sample[None, :] - np.arange(in_size)[:, None]))
    wts = wts / wts.sum(axis=0, keepdims=True)
    return np.where(((sample >= -0.5) & (sample <= in_size - 0.5))[None, :], wts, 0.0)


@given(images(), st.integers(1, 3), st.integers(1, 3), seeds())
def test_upsample_bilinear_matches_jax_resize(x, sh, sw, seed):
    n, h, w, c = x.shape
    shape = (n, h * sh, w * sw, c)
    wh, ww = jax_linear_weights(h, h * sh), jax_linear_weights(w, w * sw)
    want = np.zeros(shape)
    for i in range(h * sh):
        for j in range(w * sw):
            for a in range(h):
                for b in range(w):
                    want[:, i, j, :] += wh[a, i] * ww[b, j] * x[:, a, b, :]
    np.testing.assert_allclose(run(ops.upsample2d_bilinear_forward, x, shape, sh, sw), want, rtol=1e-12,
                               atol=1e-12)
    check_pair(ops.upsample2d_bilinear_forward, ops.upsample2d_bilinear_backward, x, shape, (sh, sw), seed)


def test_upsample_bilinear_by_hand():
    x = np.array([1.0, 2.0, 4.0]).reshape(1, 1, 3, 1)
    out = run(ops.upsample2d_bilinear_forward, x, (1, 1, 6, 1), 1, 2)
    # samples at -0.25 (clamped), 0.25, 0.75, 1.25, 1.75, 2.25 (clamped)
    np.testing.assert_allclose(out.ravel(), [1.0, 1.25, 1.75, 2.5, 3.5, 4.0])


# ---------------------------------------------------------------------------------------------- permute

def perm_args(dims, perm):
    """The kernels' eight scalars: dims left-padded with 1s to rank 4, the permutation shifted to match."""
    dims, perm = [int(d) for d in dims], [int(p) for p in perm]
    pad = 4 - len(dims)
    return [1] * pad + dims + list(range(pad)) + [p + pad for p in perm]


def permute_run(fn, a, out_size, dims, perm):
    out = np.full(out_size, np.nan, a.dtype)
    fn(a, out, *perm_args(dims, perm))
    return out


@st.composite
def permute_cases(draw):
    rank = draw(st.integers(1, 4))
    dims = [draw(st.integers(1, 3)) for _ in range(rank)]
    perm = draw(st.permutations(range(rank)))
    batch = draw(st.integers(1, 3))
    x = draw(floats_array((batch, *dims)))
    return x, np.array(dims, np.int64), np.array(perm, np.int64)


@given(permute_cases(), seeds())
def test_permute(case, seed):
    x, dims, perm = case
    batch = x.shape[0]
    want = np.empty((batch, *dims[perm]))
    for n in range(batch):
        for idx in np.ndindex(*dims):
            want[(n, *[idx[p] for p in perm])] = x[(n, *idx)]
    flat = permute_run(ops.permute_forward, x.reshape(-1), (x.size,), dims, perm)
    np.testing.assert_array_equal(flat, want.reshape(-1))
    dy = upstream_like(want.shape, np.random.default_rng(seed))
    dx = permute_run(ops.permute_backward, dy.reshape(-1), (x.size,), dims, perm)
    inverse = np.argsort(perm)
    np.testing.assert_array_equal(dx.reshape(x.shape), dy.transpose(0, *(inverse + 1)))
    check_gradient(lambda a: permute_run(ops.permute_forward, a.reshape(-1), (a.size,), dims, perm)
                   .reshape(want.shape), [x], dx.reshape(x.shape), 0, dy)
    flat32 = permute_run(ops.permute_forward, x.astype(np.float32).reshape(-1), (x.size,), dims, perm)
    np.testing.assert_array_equal(flat32, flat.astype(np.float32))


# ---------------------------------------------------------------------------------------------- dropout

RATES = st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0])


@given(st.integers(1, 20), RATES, st.booleans(), seeds())
def test_dropout(size, rate, training, seed):
    rng = np.random.default_rng(seed)
    x, u, dy = rng.uniform(-3, 3, size), rng.uniform(0, 1, size), upstream_like((size,), rng)
    u[0] = rate if rate < 1.0 else u[0]  # u == rate keeps
    if training:
        want = np.array([x[i] / (1 - rate) if u[i] >= rate else 0.0 for i in range(size)])
        want_dx = np.array([dy[i] / (1 - rate) if u[i] >= rate else 0.0 for i in range(size)])
    else:
        want, want_dx = x, dy
    np.testing.assert_array_equal(run(lambda a, o: ops.dropout_forward(a, u, rate, training, o), x, (size,)), want)
    dx = run(lambda g, d: ops.dropout_backward(u, rate, training, g, d), dy, (size,))
    np.testing.assert_array_equal(dx, want_dx)
    alias = dy.copy()
    ops.dropout_backward(u, rate, training, alias, alias)
    np.testing.assert_array_equal(alias, want_dx)
    out32 = run(lambda a, o: ops.dropout_forward(a, u.astype(np.float32), rate, training, o), x.astype(np.float32),
                (size,))
    assert out32.dtype == np.float32
    x32 = x.astype(np.float32)
    want32 = [x32[i] / np.float32(1 - rate) if u[i] >= rate else 0.0 for i in range(size)] if training else x32
    np.testing.assert_array_equal(out32, np.array(want32, np.float32))
    if training and 0.0 < rate < 1.0:
        check_gradient(lambda a: run(lambda b, o: ops.dropout_forward(b, u, rate, True, o), a, (size,)), [x], dx, 0, dy)


@given(images(), RATES, st.booleans(), seeds())
def test_spatial_dropout(x, rate, training, seed):
    n, h, w, c = x.shape
    x3 = x.reshape(n, h * w, c)
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, (n, c))  # the kernels take it flat, sample-major
    dy = upstream_like(x3.shape, rng)
    want, want_dx = x3.copy(), dy.copy()
    if training:
        for i in range(n):
            for k in range(c):
                keep = u[i, k] >= rate
                want[i, :, k] = x3[i, :, k] / (1 - rate) if keep else 0.0
                want_dx[i, :, k] = dy[i, :, k] / (1 - rate) if keep else 0.0
    np.testing.assert_array_equal(run(lambda a, o: ops.spatial_dropout_forward(a, u.ravel(), rate, training, o), x3, x3.shape),
                                  want)
    dx = run(lambda g, d: ops.spatial_dropout_backward(u.ravel(), rate, training, g, d), dy, x3.shape)
    np.testing.assert_array_equal(dx, want_dx)
    alias = dy.copy()
    ops.spatial_dropout_backward(u.ravel(), rate, training, alias, alias)
    np.testing.assert_array_equal(alias, want_dx)
    if training and 0.0 < rate < 1.0:
        check_gradient(lambda a: run(lambda b, o: ops.spatial_dropout_forward(b, u.ravel(), rate, True, o), a, a.shape),
                       [x3], dx, 0, dy)
    out32 = run(lambda a, o: ops.spatial_dropout_forward(a, u.ravel().astype(np.float32), rate, training, o),
                x3.astype(np.float32), x3.shape)
    assert_f32_close(out32, want)


def test_dropout_not_training_ignores_u():
    x = np.arange(4.0)
    out = np.empty(4)
    ops.dropout_forward(x, np.empty(0), 0.5, False, out)  # no uniforms needed at inference
    np.testing.assert_array_equal(out, x)
    o3 = np.empty((1, 2, 2))
    ops.spatial_dropout_forward(x.reshape(1, 2, 2), np.empty(0), 0.5, False, o3)
    np.testing.assert_array_equal(o3.ravel(), x)


# ---------------------------------------------------------------------------------------------- common contracts

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_dtype_is_kept(dtype, rng):
    x = rng.standard_normal((2, 3, 4, 2)).astype(dtype)
    x0 = x.copy()
    outs = [run(ops.zero_pad2d_forward, x, (2, 5, 7, 2), 1, 2), run(ops.crop2d_forward, x, (2, 2, 2, 2), 1, 1),
            run(ops.upsample2d_nearest_forward, x, (2, 6, 4, 2), 2, 1),
            run(ops.upsample2d_bilinear_forward, x, (2, 6, 8, 2), 2, 2),
            permute_run(ops.permute_forward, x.reshape(-1), (x.size,), np.array([3, 4, 2]), np.array([2, 1, 0]))]
    grads = [run(ops.zero_pad2d_backward, outs[0], x.shape, 1, 2), run(ops.crop2d_backward, outs[1], x.shape, 1, 1),
             run(ops.upsample2d_nearest_backward, outs[2], x.shape, 2, 1),
             run(ops.upsample2d_bilinear_backward, outs[3], x.shape, 2, 2)]
    copies = [o.copy() for o in outs]
    assert all(a.dtype == dtype for a in outs + grads)
    np.testing.assert_array_equal(x, x0)
    for o, o0 in zip(outs, copies):
        np.testing.assert_array_equal(o, o0)


def test_empty_dx_is_skipped():
    dy4, e4 = np.ones((1, 2, 2, 1)), np.empty((0, 0, 0, 0))
    ops.zero_pad2d_backward(dy4, e4, 0, 0)
    ops.crop2d_backward(dy4, e4, 0, 0)
    ops.upsample2d_nearest_backward(dy4, e4, 2, 2)
    ops.upsample2d_bilinear_backward(dy4, e4, 2, 2)
    ops.permute_backward(np.ones(4), np.empty(0), *perm_args([2, 2], [1, 0]))
    ops.dropout_backward(np.ones(4), 0.5, True, np.ones(4), np.empty(0))
    ops.spatial_dropout_backward(np.ones(1), 0.5, True, np.ones((1, 4, 1)), np.empty((0, 0, 0)))


def test_bad_arguments_raise():
    x = np.ones((2, 3, 3, 2))
    cases = [
        (lambda: ops.zero_pad2d_forward(x, np.empty((2, 4, 5, 2)), 2, 1), "zero_pad2d_forward: out is too small"),
        (lambda: ops.zero_pad2d_forward(x, np.empty((2, 5, 5, 1)), 1, 1), "zero_pad2d_forward: x and out disagree"),
        (lambda: ops.zero_pad2d_forward(x, np.empty((2, 5, 5, 2)), -1, 1), "zero_pad2d_forward: out is too small"),
        (lambda: ops.zero_pad2d_backward(np.empty((2, 4, 4, 2)), x, 2, 0), "zero_pad2d_backward: dy is too small"),
        (lambda: ops.crop2d_forward(x, np.empty((2, 2, 2, 2)), 2, 0), "crop2d_forward: the crop does not fit"),
        (lambda: ops.crop2d_forward(x, np.empty((1, 2, 2, 2)), 0, 0), "crop2d_forward: x and out disagree"),
        (lambda: ops.crop2d_backward(np.empty((2, 2, 2, 2)), x, 0, 2), "crop2d_backward: the crop does not fit"),
        (lambda: ops.upsample2d_nearest_forward(x, np.empty((2, 6, 5, 2)), 2, 2), "upsample2d_nearest_forward"),
        (lambda: ops.upsample2d_nearest_forward(x, np.empty((2, 0, 0, 2)), 0, 0), "upsample2d_nearest_forward"),
        (lambda: ops.upsample2d_nearest_backward(np.empty((2, 6, 5, 2)), x, 2, 2), "upsample2d_nearest_backward"),
        (lambda: ops.upsample2d_bilinear_forward(x, np.empty((2, 6, 6, 1)), 2, 2), "upsample2d_bilinear_forward"),
        (lambda: ops.upsample2d_bilinear_backward(np.empty((2, 6, 7, 2)), x, 2, 2), "upsample2d_bilinear_backward"),
        (lambda: ops.dropout_forward(np.ones(3), np.ones(2), 0.5, True, np.empty(3)), "dropout_forward: x, u and out"),
        (lambda: ops.dropout_forward(np.ones(3), np.ones(3), 1.5, True, np.empty(3)), "dropout_forward: rate"),
        (lambda: ops.dropout_backward(np.ones(3), 0.5, True, np.ones(3), np.empty(2)), "dropout_backward: u, dy"),
        (lambda: ops.spatial_dropout_forward(np.ones((2, 3, 4)), np.ones(6), 0.5, True, np.empty((2, 3, 4))),
         "spatial_dropout_forward: u must hold N \\* C values"),
        (lambda: ops.spatial_dropout_backward(np.ones(8), -0.1, True, np.ones((2, 3, 4)), np.empty((2, 3, 4))),
         "spatial_dropout_backward: rate"),
    ]
    flat = np.ones(12)
    for args, out_size in [((1, 1, 3, 4, 0, 1, 3, 3), 12), ((1, 1, 3, 4, 0, 1, 4, 2), 12),
                           ((1, 1, 5, 2, 0, 1, 3, 2), 12), ((1, 1, 3, 4, 0, 1, 3, 2), 11),
                           ((1, 1, 3, -4, 0, 1, 3, 2), 12), ((1, 1, 3, 4, 0, 1, -1, 2), 12)]:
        cases.append((lambda a=args, s=out_size: ops.permute_forward(flat, np.empty(s), *a),
                      "permute_forward: dims, perm and the array sizes do not agree"))
        cases.append((lambda a=args, s=out_size: ops.permute_backward(flat, np.empty(s), *a),
                      "permute_backward: dims, perm and the array sizes do not agree"))
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
