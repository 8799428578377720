"""Convolution kernels: forward against NumPy references written here as explicit loops, gradients against central
finite differences (float64, random upstream), float32 against float64, accumulation, the skipped input gradient,
chunking through a small ``cols``, no mutation of inputs, and bad arguments.

Geometry is drawn the way a layer would compute it: a kernel extent K = (k - 1) * dilation + 1, a front padding
in 0 .. K - 1 and an implied back padding in 0 .. K - 1, which give the output length.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import conv
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds

EMPTY4 = np.empty((0, 0, 0, 0))


# ------------------------------------------------------------------------------------------ geometry


@st.composite
def axis(draw, max_side=5):
    """(input length, kernel taps, stride, front pad, dilation, output length) for one spatial axis."""
    n_in, k, stride, dil = draw(st.integers(1, max_side)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), \
        draw(st.integers(1, 2))
    extent = (k - 1) * dil + 1
    front = draw(st.integers(0, extent - 1))
    back = draw(st.integers(max(0, extent - n_in - front), extent - 1))
    return n_in, k, stride, front, dil, (n_in + front + back - extent) // stride + 1


@st.composite
def convs(draw, with_bias=st.booleans(), grouped=True):
    """A drawn convolution problem: arrays (float64, float32-representable) and geometry."""
    n = draw(st.integers(1, 3))
    h, kh, sh, pt, dh, oh = draw(axis())
    w, kw, sw, pl, dw, ow = draw(axis())
    groups = draw(st.integers(1, 2)) if grouped else 1
    cg, fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    c, f = cg * groups, fg * groups
    x = draw(floats_array((n, h, w, c)))
    kernel = draw(floats_array((kh, kw, cg, f)))
    bias = draw(floats_array((f,))) if draw(with_bias) else np.empty(0)
    geo = dict(sh=sh, sw=sw, pt=pt, pl=pl, dh=dh, dw=dw, groups=groups, oh=oh, ow=ow)
    return x, kernel, bias, geo


def args(geo, groups=True):
    a = (geo["sh"], geo["sw"], geo["pt"], geo["pl"], geo["dh"], geo["dw"])
    return a + ((geo["groups"],) if groups else ())


# ---------------------------------------------------------------------------------- NumPy references


def ref_conv(x, kernel, bias, geo):
    """out[n, i, j, f] = bias[f] + sum_{p, q, c} xpad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] kernel[p, q, c, f]."""
    n, h, w, _ = x.shape
    kh, kw, cg, f = kernel.shape
    fg = f // geo["groups"]
    out = np.zeros((n, geo["oh"], geo["ow"], f))
    for b in range(n):
        for i in range(geo["oh"]):
            for j in range(geo["ow"]):
                for o in range(f):
                    g = o // fg
                    acc = bias[o] if bias.size else 0.0
                    for p in range(kh):
                        for q in range(kw):
                            ih = i * geo["sh"] - geo["pt"] + p * geo["dh"]
                            iw = j * geo["sw"] - geo["pl"] + q * geo["dw"]
                            if 0 <= ih < h and 0 <= iw < w:
                                for ci in range(cg):
                                    acc += x[b, ih, iw, g * cg + ci] * kernel[p, q, ci, o]
                    out[b, i, j, o] = acc
    return out


def ref_depthwise(x, kernel, bias, geo):
    """out[n, i, j, c*M + m] = bias[c*M + m] + sum_{p, q} xpad[n, i*sh + p*dh, j*sw + q*dw, c] kernel[p, q, c, m]."""
    n, h, w, c = x.shape
    kh, kw, _, mult = kernel.shape
    out = np.zeros((n, geo["oh"], geo["ow"], c * mult))
    for b in range(n):
        for i in range(geo["oh"]):
            for j in range(geo["ow"]):
                for ci in range(c):
                    for m in range(mult):
                        acc = bias[ci * mult + m] if bias.size else 0.0
                        for p in range(kh):
                            for q in range(kw):
                                ih = i * geo["sh"] - geo["pt"] + p * geo["dh"]
                                iw = j * geo["sw"] - geo["pl"] + q * geo["dw"]
                                if 0 <= ih < h and 0 <= iw < w:
                                    acc += x[b, ih, iw, ci] * kernel[p, q, ci, m]
                        out[b, i, j, ci * mult + m] = acc
    return out


def ref_transpose(x, kernel, bias, geo):
    """Scatter: x[n, h, w, :] spreads kernel[p, q] @ x[n, h, w] to out[n, h*sh + p*dh - pt, w*sw + q*dw - pl]."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    out = np.zeros((n, geo["oh"], geo["ow"], f))
    for b in range(n):
        for y in range(h):
            for z in range(w):
                for p in range(kh):
                    for q in range(kw):
                        oy = y * geo["sh"] + p * geo["dh"] - geo["pt"]
                        oz = z * geo["sw"] + q * geo["dw"] - geo["pl"]
                        if 0 <= oy < geo["oh"] and 0 <= oz < geo["ow"]:
                            for o in range(f):
                                for ci in range(x.shape[3]):
                                    out[b, oy, oz, o] += kernel[p, q, o, ci] * x[b, y, z, ci]
    return out + (bias if bias.size else 0.0)


# -------------------------------------------------------------------------------- calling the kernels


def cols_for(x, kernel, geo, images=None):
    """Scratch for ``images`` images per GEMM (all of them by default)."""
    n = x.shape[0]
    per = conv.conv2d_scratch_min(geo["oh"], geo["ow"], kernel.shape[0], kernel.shape[1], x.shape[3],
                                  geo["groups"])
    return np.full(per * (n if images is None else images), np.nan, x.dtype)


def forward(x, kernel, bias, geo, images=None):
    out = np.full((x.shape[0], geo["oh"], geo["ow"], kernel.shape[3]), np.nan, x.dtype)
    conv.conv2d_forward(x, kernel, bias, out, cols_for(x, kernel, geo, images), *args(geo))
    return out


def backward(x, kernel, bias, dy, geo, need_dx=True, images=None):
    """(dx, dkernel, dbias) from conv2d_backward, overwriting (accumulate=False)."""
    dx = np.full_like(x, np.nan) if need_dx else EMPTY4.astype(x.dtype)
    dkernel, dbias = np.full_like(kernel, np.nan), np.full_like(bias, np.nan)
    conv.conv2d_backward(x, kernel, dy, dx, dkernel, dbias, cols_for(x, kernel, geo, images), *args(geo), False)
    return dx, dkernel, dbias


def out_shape(x, kernel, geo):
    return (x.shape[0], geo["oh"], geo["ow"], kernel.shape[3])


# ------------------------------------------------------------------------------------------ conv2d


@given(convs())
def test_forward_matches_reference(problem):
    x, kernel, bias, geo = problem
    np.testing.assert_allclose(forward(x, kernel, bias, geo), ref_conv(x, kernel, bias, geo), rtol=1e-12,
                               atol=1e-12)


@given(convs(), seeds())
def test_gradients_match_finite_differences(problem, seed):
    x, kernel, bias, geo = problem
    dy = upstream_like(out_shape(x, kernel, geo), np.random.default_rng(seed))
    dx, dkernel, dbias = backward(x, kernel, bias, dy, geo)
    inputs = [x, kernel, bias]
    fwd = lambda x, kernel, bias: forward(x, kernel, bias, geo)  # noqa: E731
    check_gradient(fwd, inputs, dx, 0, dy)
    check_gradient(fwd, inputs, dkernel, 1, dy)
    if bias.size:
        check_gradient(fwd, inputs, dbias, 2, dy)


@given(convs(), seeds())
def test_float32_agrees_with_float64(problem, seed):
    x, kernel, bias, geo = problem
    dy = upstream_like(out_shape(x, kernel, geo), np.random.default_rng(seed))
    f32 = [a.astype(np.float32) for a in (x, kernel, bias, dy)]
    assert_f32_close(forward(*f32[:3], geo), forward(x, kernel, bias, geo))
    for got, want in zip(backward(*f32, geo), backward(x, kernel, bias, dy, geo)):
        if want.size:
            assert_f32_close(got, want)


@given(convs(), seeds(), st.integers(1, 2))
def test_small_cols_chunks_images_with_the_same_result(problem, seed, images):
    x, kernel, bias, geo = problem
    assume(images < x.shape[0])
    dy = upstream_like(out_shape(x, kernel, geo), np.random.default_rng(seed))
    np.testing.assert_allclose(forward(x, kernel, bias, geo, images), forward(x, kernel, bias, geo),
                               rtol=1e-12, atol=1e-12)
    for got, want in zip(backward(x, kernel, bias, dy, geo, images=images), backward(x, kernel, bias, dy, geo)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(convs(with_bias=st.just(True)), seeds(), st.booleans())
def test_accumulate_adds_to_dkernel_and_dbias(problem, seed, need_dx):
    x, kernel, bias, geo = problem
    rng = np.random.default_rng(seed)
    dy = upstream_like(out_shape(x, kernel, geo), rng)
    dx, dkernel, dbias = backward(x, kernel, bias, dy, geo)
    start_k, start_b = rng.standard_normal(kernel.shape), rng.standard_normal(bias.shape)
    acc_k, acc_b = start_k.copy(), start_b.copy()
    acc_dx = np.full_like(x, np.nan) if need_dx else EMPTY4
    conv.conv2d_backward(x, kernel, dy, acc_dx, acc_k, acc_b, cols_for(x, kernel, geo, 1), *args(geo), True)
    np.testing.assert_allclose(acc_k, start_k + dkernel, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_b, start_b + dbias, rtol=1e-12, atol=1e-12)
    if need_dx:  # overwritten, not accumulated
        np.testing.assert_allclose(acc_dx, dx, rtol=1e-12, atol=1e-12)


def test_empty_dx_and_dbias_are_skipped(rng):
    geo = dict(sh=1, sw=2, pt=1, pl=0, dh=1, dw=1, groups=1, oh=4, ow=2)
    x, kernel = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((3, 2, 3, 2))
    dy = rng.standard_normal((2, 4, 2, 2))
    dx, dkernel, _ = backward(x, kernel, np.empty(0), dy, geo, need_dx=False)
    assert dx.size == 0
    _, want, _ = backward(x, kernel, np.empty(0), dy, geo)
    np.testing.assert_allclose(dkernel, want, rtol=1e-12, atol=1e-12)


def test_empty_batch(rng):
    """N = 0: nothing to write, and an overwritten kernel gradient is zero."""
    geo = dict(sh=1, sw=1, pt=1, pl=1, dh=1, dw=1, groups=1, oh=3, ow=3)
    x, kernel, bias = np.empty((0, 3, 3, 2)), rng.standard_normal((3, 3, 2, 2)), rng.standard_normal(2)
    assert forward(x, kernel, bias, geo, images=1).shape == (0, 3, 3, 2)
    dx, dkernel, dbias = backward(x, kernel, bias, np.empty((0, 3, 3, 2)), geo, images=1)
    np.testing.assert_array_equal(dkernel, 0.0)
    np.testing.assert_array_equal(dbias, 0.0)
    out = np.empty((0, 3, 3, 2))
    conv.conv2d_transpose_forward(x, kernel, bias, out, np.empty(3 * 3 * 3 * 3 * 2), 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("pad", [0, 1])
def test_workload_channel_counts(pad, rng):
    """1 and 32 input channels as in the CNN workload, 'valid' and 'same': one channel takes _im2col's strided
    copy, 32 its row copies, and with padding the edge positions are zero-filled."""
    for (h, c, f) in ((9, 1, 8), (6, 32, 16)):
        geo = dict(sh=1, sw=1, pt=pad, pl=pad, dh=1, dw=1, groups=1, oh=h - 2 + 2 * pad, ow=h - 2 + 2 * pad)
        x, kernel, bias = rng.standard_normal((2, h, h, c)), rng.standard_normal((3, 3, c, f)), rng.standard_normal(f)
        np.testing.assert_allclose(forward(x, kernel, bias, geo, images=1), ref_conv(x, kernel, bias, geo),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_dtype_is_kept(dtype, rng):
    geo = dict(sh=2, sw=1, pt=1, pl=1, dh=1, dw=2, groups=2, oh=2, ow=3)
    x, kernel, bias = (rng.standard_normal(s).astype(dtype) for s in [(2, 4, 3, 4), (2, 2, 2, 4), (4,)])
    dy = rng.standard_normal((2, 2, 3, 4)).astype(dtype)
    copies = [a.copy() for a in (x, kernel, bias, dy)]
    out = forward(x, kernel, bias, geo)
    grads = backward(x, kernel, bias, dy, geo)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    for a, a0 in zip((x, kernel, bias, dy), copies):
        np.testing.assert_array_equal(a, a0)


def test_bad_arguments_raise(rng):
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=3, ow=3)
    x, kernel, bias = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 4)), np.zeros(4)
    cols = cols_for(x, kernel, geo)
    out = np.zeros((2, 3, 3, 4))
    a = args(geo)
    with pytest.raises(ValueError, match="do not follow from"):
        conv.conv2d_forward(x, kernel, bias, np.zeros((2, 6, 3, 4)), cols, *a)  # at most 5 rows
    with pytest.raises(ValueError, match="do not follow from"):
        conv.conv2d_forward(x, kernel, bias, out, cols, 1, 1, 3, 0, 1, 1, 1)  # front pad past the kernel
    with pytest.raises(ValueError, match="kernel.shape"):
        conv.conv2d_forward(x, rng.standard_normal((3, 3, 3, 4)), bias, out, cols, *a)
    with pytest.raises(ValueError, match="kernel.shape"):
        conv.conv2d_forward(x, kernel, bias, out, cols, *a[:-1], 2)  # 2 groups need kernel.shape[2] == 1
    with pytest.raises(ValueError, match="cols is shorter"):
        conv.conv2d_forward(x, kernel, bias, out, cols[:cols.size // 2 - 1], *a)
    with pytest.raises(ValueError, match="bias must have length"):
        conv.conv2d_forward(x, kernel, np.zeros(3), out, cols, *a)
    with pytest.raises(ValueError, match="share one float dtype"):
        conv.conv2d_forward(x, kernel, bias, out.astype(np.float32), cols, *a)
    dkernel = np.zeros_like(kernel)
    with pytest.raises(ValueError, match="do not follow from"):
        conv.conv2d_backward(x, kernel, np.zeros((2, 3, 2, 4)), EMPTY4, dkernel, bias, cols, *a, False)
    with pytest.raises(ValueError, match="dx must have"):
        conv.conv2d_backward(x, kernel, out, np.zeros((2, 5, 5, 1)), dkernel, bias, cols, *a, False)
    with pytest.raises(ValueError, match="cols is shorter"):
        conv.conv2d_backward(x, kernel, out, EMPTY4, dkernel, bias, cols[:10], *a, False)
    np.testing.assert_array_equal(dkernel, 0.0)


def test_scratch_sizes():
    per = conv.conv2d_scratch_min(4, 3, 3, 2, 6, 2)
    assert per == 4 * 3 * 3 * 2 * 3
    assert conv.conv2d_scratch_size(10, 4, 3, 3, 2, 6, 2, per * 4 + 5) == per * 4
    assert conv.conv2d_scratch_size(3, 4, 3, 3, 2, 6, 2, per * 100) == per * 3
    assert conv.conv2d_scratch_size(3, 4, 3, 3, 2, 6, 2, 1) == per  # at least one image


# ------------------------------------------------------------------------------- conv2d_forward_relu


def forward_relu(x, kernel, bias, geo, images=None):
    out = np.full((x.shape[0], geo["oh"], geo["ow"], kernel.shape[3]), np.nan, x.dtype)
    conv.conv2d_forward_relu(x, kernel, bias, out, cols_for(x, kernel, geo, images), *args(geo))
    return out


@given(convs(), st.sampled_from([None, 1]))
def test_forward_relu_is_relu_of_the_reference(problem, images):
    """Keras's plain relu (z if z > 0 else 0) of the loop reference, one image per chunk or all in one."""
    x, kernel, bias, geo = problem
    images = None if images is None or images >= x.shape[0] else images
    want = ref_conv(x, kernel, bias, geo)
    np.testing.assert_allclose(forward_relu(x, kernel, bias, geo, images), np.where(want > 0, want, 0.0),
                               rtol=1e-12, atol=1e-12)


@given(convs(), seeds())
def test_forward_relu_float32_agrees_with_float64(problem, seed):
    x, kernel, bias, geo = problem
    f32 = [a.astype(np.float32) for a in (x, kernel, bias)]
    assert_f32_close(forward_relu(*f32, geo), forward_relu(x, kernel, bias, geo))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups, pad, c, f", [(1, 0, 1, 32), (1, 1, 8, 16), (2, 0, 8, 32)])
def test_forward_relu_equals_forward_then_relu_forward_bitwise(dtype, groups, pad, c, f, rng):
    """Bit for bit conv2d_forward followed by activations.relu_forward in place, on the threaded path too (the
    relu is applied per chunk of images, inside the parts), NaN and -0.0 included; inputs not mutated."""
    from nbkeras.kernels.cpu import activations

    n, h = 32, 20
    oh = h - 2 + 2 * pad
    geo = dict(sh=1, sw=1, pt=pad, pl=pad, dh=1, dw=1, groups=groups, oh=oh, ow=oh)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    x[3, 5, 5, 0] = np.nan
    kernel = rng.standard_normal((3, 3, c // groups, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    bias[1] = -1e30  # every output of filter 1 negative (clamped to +0.0)
    copies = [a.copy() for a in (x, kernel, bias)]
    per = conv.conv2d_scratch_min(oh, oh, 3, 3, c, groups)
    assert conv._parts(n, per, 0, per * n, n * per * (f // groups)) > 1
    want = forward(x, kernel, bias, geo)
    activations.relu_forward(want.reshape(-1), want.reshape(-1), 0.0, np.inf, 0.0)
    got = forward_relu(x, kernel, bias, geo)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).any() and not np.signbit(got[~np.isnan(got)]).any()
    for a, a0 in zip((x, kernel, bias), copies):
        np.testing.assert_array_equal(a, a0)


def test_forward_relu_bad_arguments_raise(rng):
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=3, ow=3)
    x, kernel, bias = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 4)), np.zeros(4)
    cols = cols_for(x, kernel, geo)
    out = np.zeros((2, 3, 3, 4))
    a = args(geo)
    with pytest.raises(ValueError, match="conv2d_forward_relu: out's height/width do not follow from"):
        conv.conv2d_forward_relu(x, kernel, bias, np.zeros((2, 6, 3, 4)), cols, *a)
    with pytest.raises(ValueError, match="conv2d_forward_relu: kernel.shape"):
        conv.conv2d_forward_relu(x, kernel, bias, out, cols, *a[:-1], 2)
    with pytest.raises(ValueError, match="conv2d_forward_relu: cols is shorter"):
        conv.conv2d_forward_relu(x, kernel, bias, out, cols[:10], *a)
    with pytest.raises(ValueError, match="conv2d_forward_relu: bias must have length"):
        conv.conv2d_forward_relu(x, kernel, np.zeros(3), out, cols, *a)
    with pytest.raises(ValueError, match="conv2d_forward_relu: x, kernel, bias, out and cols must share"):
        conv.conv2d_forward_relu(x, kernel, bias, out.astype(np.float32), cols, *a)
    with pytest.raises(ValueError, match="conv2d_forward_relu: out must be"):
        conv.conv2d_forward_relu(x, kernel, bias, np.zeros((2, 3, 3, 3)), cols, *a)
    np.testing.assert_array_equal(out, 0.0)


# ------------------------------------------------------------------------------ conv2d_backward_relu


def backward_relu(x, kernel, bias, y, dy, geo, need_dx=True, images=None, accumulate=False, start=None):
    """(dx, dkernel, dbias, dy after the call) from conv2d_backward_relu."""
    dx = np.full_like(x, np.nan) if need_dx else EMPTY4.astype(x.dtype)
    dkernel = np.full_like(kernel, np.nan) if start is None else start[0].copy()
    dbias = np.full_like(bias, np.nan) if start is None else start[1].copy()
    dy = dy.copy()
    conv.conv2d_backward_relu(x, kernel, y, dy, dx, dkernel, dbias, cols_for(x, kernel, geo, images), *args(geo),
                              accumulate)
    return dx, dkernel, dbias, dy


@given(convs(), seeds(), st.booleans(), st.sampled_from([None, 1]))
def test_backward_relu_is_backward_of_the_masked_gradient(problem, seed, need_dx, images):
    """dy is masked in place by y > 0 (NumPy), and the gradients are those of the masked dy: against the
    finite-difference-checked conv2d_backward, and dkernel/dbias against NumPy sums."""
    x, kernel, bias, geo = problem
    rng = np.random.default_rng(seed)
    images = None if images is None or images >= x.shape[0] else images
    y = np.maximum(forward(x, kernel, bias, geo), 0.0)
    dy = upstream_like(out_shape(x, kernel, geo), rng)
    masked = dy * (y > 0)
    dx, dkernel, dbias, dy_after = backward_relu(x, kernel, bias, y, dy, geo, need_dx, images)
    np.testing.assert_array_equal(dy_after, masked)
    want = backward(x, kernel, bias, masked, geo, need_dx)
    for got, w in zip((dx, dkernel, dbias), want):
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12)
    if bias.size:
        np.testing.assert_allclose(dbias, masked.sum(axis=(0, 1, 2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups, pad, c, f, need_dx", [(1, 0, 1, 32, False), (2, 1, 8, 32, True)])
@pytest.mark.parametrize("accumulate", [True, False])
def test_backward_relu_threaded_matches_numpy(dtype, groups, pad, c, f, need_dx, accumulate, rng):
    """The threaded path (each part masks the chunks it claims and sums them into its own bias partial): NumPy
    reference on the masked dy, accumulate both ways, the mask bit for bit as relu_backward(y, y, dy, dy); x, kernel and y not mutated."""
    from nbkeras.kernels.cpu import activations

    n, h = 32, 20
    oh = h - 2 + 2 * pad
    geo = dict(sh=1, sw=1, pt=pad, pl=pad, dh=1, dw=1, groups=groups, oh=oh, ow=oh)
    x = rng.standard_normal((n, h, h, c)).astype(dtype)
    kernel = rng.standard_normal((3, 3, c // groups, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    y = np.maximum(rng.standard_normal((n, oh, oh, f)), 0).astype(dtype)
    dy = rng.standard_normal((n, oh, oh, f)).astype(dtype)
    per = conv.conv2d_scratch_min(oh, oh, 3, 3, c, groups)
    assert conv._parts(n, per, 9 * (c // groups) * f, per * n, n * per * (f // groups)) > 1
    copies = [a.copy() for a in (x, kernel, y)]
    want_dy = dy.copy()
    activations.relu_backward(y.reshape(-1), y.reshape(-1), want_dy.reshape(-1), want_dy.reshape(-1), 0.0, np.inf,
                              0.0)
    _, dx_ref, dk_ref, db_ref = ref_conv_np(x.astype(np.float64), kernel.astype(np.float64), bias,
                                            want_dy.astype(np.float64), geo)
    start = (np.ones_like(kernel), np.ones_like(bias)) if accumulate else None
    dx, dk, db, dy_after = backward_relu(x, kernel, bias, y, dy, geo, need_dx, accumulate=accumulate, start=start)
    np.testing.assert_array_equal(dy_after, want_dy)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(dk, dk_ref + accumulate, **tol)
    np.testing.assert_allclose(db, db_ref + accumulate, **tol)
    if need_dx:
        np.testing.assert_allclose(dx, dx_ref, **tol)
    for a, a0 in zip((x, kernel, y), copies):
        np.testing.assert_array_equal(a, a0)


def test_backward_relu_bad_arguments_raise(rng):
    geo = dict(sh=1, sw=1, pt=0, pl=0, dh=1, dw=1, groups=1, oh=3, ow=3)
    x, kernel, bias = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 4)), np.zeros(4)
    cols = cols_for(x, kernel, geo)
    dy, dkernel = np.ones((2, 3, 3, 4)), np.zeros_like(kernel)
    a = args(geo)
    with pytest.raises(ValueError, match="conv2d_backward_relu: y must have dy's shape and dtype"):
        conv.conv2d_backward_relu(x, kernel, np.ones((2, 3, 3, 3)), dy, EMPTY4, dkernel, bias, cols, *a, False)
    with pytest.raises(ValueError, match="conv2d_backward_relu: y must have dy's shape and dtype"):
        conv.conv2d_backward_relu(x, kernel, np.ones((2, 3, 3, 4), np.float32), dy, EMPTY4, dkernel, bias, cols, *a,
                                  False)
    with pytest.raises(ValueError, match="conv2d_backward_relu: dx must have"):
        conv.conv2d_backward_relu(x, kernel, dy, dy, np.zeros((2, 5, 5, 1)), dkernel, bias, cols, *a, False)
    with pytest.raises(ValueError, match="conv2d_backward_relu: cols is shorter"):
        conv.conv2d_backward_relu(x, kernel, dy, dy, EMPTY4, dkernel, bias, cols[:10], *a, False)
    with pytest.raises(ValueError, match="conv2d_backward_relu: dy's height/width do not follow"):
        conv.conv2d_backward_relu(x, kernel, np.ones((2, 3, 2, 4)), np.ones((2, 3, 2, 4)), EMPTY4, dkernel, bias,
                                  cols, *a, False)
    np.testing.assert_array_equal(dkernel, 0.0)
    np.testing.assert_array_equal(dy, 1.0)


# ------------------------------------------------------------------------------------------- depthwise


@st.composite
def depthwise_problems(draw, with_bias=st.booleans()):
    n = draw(st.integers(1, 3))
    h, kh, sh, pt, dh, oh = draw(axis())
    w, kw, sw, pl, dw, ow = draw(axis())
    c, mult = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    x = draw(floats_array((n, h, w, c)))
    kernel = draw(floats_array((kh, kw, c, mult)))
    bias = draw(floats_array((c * mult,))) if draw(with_bias) else np.empty(0)
    return x, kernel, bias, dict(sh=sh, sw=sw, pt=pt, pl=pl, dh=dh, dw=dw, oh=oh, ow=ow)


def dw_forward(x, kernel, bias, geo):
    out = np.full((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2] * kernel.shape[3]), np.nan, x.dtype)
    conv.depthwise_conv2d_forward(x, kernel, bias, out, *args(geo, groups=False))
    return out


def dw_backward(x, kernel, bias, dy, geo, need_dx=True, accumulate=False, start=None):
    dx = np.full_like(x, np.nan) if need_dx else EMPTY4.astype(x.dtype)
    dkernel, dbias = (np.full_like(kernel, np.nan), np.full_like(bias, np.nan)) if start is None else start
    conv.depthwise_conv2d_backward(x, kernel, dy, dx, dkernel, dbias, *args(geo, groups=False), accumulate)
    return dx, dkernel, dbias


@given(depthwise_problems())
def test_depthwise_forward_matches_reference(problem):
    x, kernel, bias, geo = problem
    np.testing.assert_allclose(dw_forward(x, kernel, bias, geo), ref_depthwise(x, kernel, bias, geo),
                               rtol=1e-12, atol=1e-12)


@given(depthwise_problems(), seeds())
def test_depthwise_gradients_match_finite_differences(problem, seed):
    x, kernel, bias, geo = problem
    dy = upstream_like((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2] * kernel.shape[3]),
                       np.random.default_rng(seed))
    dx, dkernel, dbias = dw_backward(x, kernel, bias, dy, geo)
    inputs = [x, kernel, bias]
    fwd = lambda x, kernel, bias: dw_forward(x, kernel, bias, geo)  # noqa: E731
    check_gradient(fwd, inputs, dx, 0, dy)
    check_gradient(fwd, inputs, dkernel, 1, dy)
    if bias.size:
        check_gradient(fwd, inputs, dbias, 2, dy)


@given(depthwise_problems(with_bias=st.just(True)), seeds())
def test_depthwise_float32_and_accumulate(problem, seed):
    x, kernel, bias, geo = problem
    rng = np.random.default_rng(seed)
    dy = upstream_like((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2] * kernel.shape[3]), rng)
    f32 = [a.astype(np.float32) for a in (x, kernel, bias, dy)]
    assert_f32_close(dw_forward(*f32[:3], geo), dw_forward(x, kernel, bias, geo))
    want = dw_backward(x, kernel, bias, dy, geo)
    for got, w in zip(dw_backward(*f32, geo), want):
        assert_f32_close(got, w)
    start_k, start_b = rng.standard_normal(kernel.shape), rng.standard_normal(bias.shape)
    dx, acc_k, acc_b = dw_backward(x, kernel, bias, dy, geo, need_dx=False, accumulate=True,
                                   start=(start_k.copy(), start_b.copy()))
    assert dx.size == 0
    np.testing.assert_allclose(acc_k, start_k + want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_b, start_b + want[2], rtol=1e-12, atol=1e-12)


def test_depthwise_bad_arguments_raise(rng):
    x, kernel = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((3, 3, 3, 2))
    with pytest.raises(ValueError, match="shapes do not agree"):
        conv.depthwise_conv2d_forward(x, kernel, np.empty(0), np.zeros((2, 2, 2, 3)), 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="shapes do not agree"):
        conv.depthwise_conv2d_forward(x, kernel, np.empty(0), np.zeros((2, 5, 2, 6)), 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="bias must have length"):
        conv.depthwise_conv2d_forward(x, kernel, np.zeros(3), np.zeros((2, 2, 2, 6)), 1, 1, 0, 0, 1, 1)
    dkernel = np.zeros_like(kernel)
    with pytest.raises(ValueError, match="dkernel must have"):
        conv.depthwise_conv2d_backward(x, kernel, np.zeros((2, 2, 2, 6)), EMPTY4, dkernel[:2], np.empty(0),
                                       1, 1, 0, 0, 1, 1, False)


# ------------------------------------------------------------------------------------------ transposed


@st.composite
def transposes(draw, with_bias=st.booleans()):
    """x (N, H, W, C) -> out (N, OH, OW, F): OH is any length whose convolution (front pad pt, some back pad in
    0 .. K - 1) gives back H, which covers every crop/extension the front-end formulas produce."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sizes, geo = [], {}
    for name in ("h", "w"):
        n_in, k, stride, dil = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), \
            draw(st.integers(1, 2))
        extent = (k - 1) * dil + 1
        front, back, rest = draw(st.integers(0, extent - 1)), draw(st.integers(0, extent - 1)), \
            draw(st.integers(0, stride - 1))
        n_out = (n_in - 1) * stride + rest + extent - front - back
        assume(n_out >= 1)
        sizes.append((n_in, k))
        geo.update({"s" + name: stride, "d" + name: dil, ("pt" if name == "h" else "pl"): front,
                    "o" + name: n_out})
    (h, kh), (w, kw) = sizes
    x = draw(floats_array((n, h, w, c)))
    kernel = draw(floats_array((kh, kw, f, c)))
    bias = draw(floats_array((f,))) if draw(with_bias) else np.empty(0)
    return x, kernel, bias, geo


def t_cols(x, kernel):
    return np.full(x.shape[0] * conv.conv2d_scratch_min(x.shape[1], x.shape[2], kernel.shape[0], kernel.shape[1],
                                                        kernel.shape[2], 1), np.nan, x.dtype)


def t_forward(x, kernel, bias, geo):
    out = np.full((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2]), np.nan, x.dtype)
    conv.conv2d_transpose_forward(x, kernel, bias, out, t_cols(x, kernel), *args(geo, groups=False))
    return out


def t_backward(x, kernel, bias, dy, geo, need_dx=True, accumulate=False, start=None):
    dx = np.full_like(x, np.nan) if need_dx else EMPTY4.astype(x.dtype)
    dkernel, dbias = (np.full_like(kernel, np.nan), np.full_like(bias, np.nan)) if start is None else start
    conv.conv2d_transpose_backward(x, kernel, dy, dx, dkernel, dbias, t_cols(x, kernel), *args(geo, groups=False),
                                   accumulate)
    return dx, dkernel, dbias


@given(transposes())
def test_transpose_forward_matches_reference(problem):
    x, kernel, bias, geo = problem
    np.testing.assert_allclose(t_forward(x, kernel, bias, geo), ref_transpose(x, kernel, bias, geo), rtol=1e-12,
                               atol=1e-12)


@given(transposes(), seeds())
def test_transpose_gradients_match_finite_differences(problem, seed):
    x, kernel, bias, geo = problem
    dy = upstream_like((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2]), np.random.default_rng(seed))
    dx, dkernel, dbias = t_backward(x, kernel, bias, dy, geo)
    inputs = [x, kernel, bias]
    fwd = lambda x, kernel, bias: t_forward(x, kernel, bias, geo)  # noqa: E731
    check_gradient(fwd, inputs, dx, 0, dy)
    check_gradient(fwd, inputs, dkernel, 1, dy)
    if bias.size:
        check_gradient(fwd, inputs, dbias, 2, dy)


@given(transposes(with_bias=st.just(True)), seeds())
def test_transpose_float32_and_accumulate(problem, seed):
    x, kernel, bias, geo = problem
    rng = np.random.default_rng(seed)
    dy = upstream_like((x.shape[0], geo["oh"], geo["ow"], kernel.shape[2]), rng)
    f32 = [a.astype(np.float32) for a in (x, kernel, bias, dy)]
    assert_f32_close(t_forward(*f32[:3], geo), t_forward(x, kernel, bias, geo))
    want = t_backward(x, kernel, bias, dy, geo)
    for got, w in zip(t_backward(*f32, geo), want):
        assert_f32_close(got, w)
    start_k, start_b = rng.standard_normal(kernel.shape), rng.standard_normal(bias.shape)
    dx, acc_k, acc_b = t_backward(x, kernel, bias, dy, geo, need_dx=False, accumulate=True,
                                  start=(start_k.copy(), start_b.copy()))
    assert dx.size == 0
    np.testing.assert_allclose(acc_k, start_k + want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc_b, start_b + want[2], rtol=1e-12, atol=1e-12)


def output_length_and_crop(n_in, k, stride, dil, same, output_padding):
    """The front end's arithmetic for a transposed convolution (Keras 3's formulas, written out in the report that
    came with these kernels): (output length, front crop) for padding 'same'/'valid' and output_padding or None."""
    extent = (k - 1) * dil + 1
    if not same:
        op = max(extent, stride) - extent if output_padding is None else output_padding
        return (n_in - 1) * stride + extent + op, 0
    pad_len = stride + extent - 2 if output_padding is None else extent + extent % 2 - 2 + output_padding
    front = min((pad_len + 1) // 2, extent - 1)
    return (n_in - 1) * stride + pad_len - extent + 2, extent - 1 - front


@pytest.mark.parametrize("same", [False, True])
def test_transpose_accepts_every_front_end_geometry(same, rng):
    """Every (length, crop) the front-end formulas give passes the kernel's geometry check and matches the scatter
    reference."""
    for n_in in (1, 2, 3):
        for k in (1, 2, 3):
            for stride in (1, 2, 3):
                for dil in (1, 2):
                    for op in [None] + list(range(stride)):
                        n_out, crop = output_length_and_crop(n_in, k, stride, dil, same, op)
                        if n_out < 1:  # 'same', even kernel, output_padding 0, one input step: an empty output
                            continue
                        geo = dict(sh=1, sw=stride, pt=0, pl=crop, dh=1, dw=dil, oh=1, ow=n_out)
                        x, kernel = rng.standard_normal((1, 1, n_in, 2)), rng.standard_normal((1, k, 2, 2))
                        np.testing.assert_allclose(t_forward(x, kernel, np.empty(0), geo),
                                                   ref_transpose(x, kernel, np.empty(0), geo), rtol=1e-12,
                                                   atol=1e-12)


def test_transpose_bad_arguments_raise(rng):
    x, kernel = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((3, 3, 4, 2))
    cols = t_cols(x, kernel)
    with pytest.raises(ValueError, match="do not follow from"):
        conv.conv2d_transpose_forward(x, kernel, np.empty(0), np.zeros((2, 9, 5, 4)), cols, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="kernel.shape"):
        conv.conv2d_transpose_forward(x, kernel[:, :, :, :1].copy(), np.empty(0), np.zeros((2, 5, 5, 4)), cols,
                                      1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="cols is shorter"):
        conv.conv2d_transpose_forward(x, kernel, np.empty(0), np.zeros((2, 5, 5, 4)), cols[:10], 1, 1, 0, 0, 1, 1)


# ------------------------------------------------------------------------ batches split among threads


def ref_conv_np(x, kernel, bias, dy, geo):
    """(out, dx, dkernel, dbias) with NumPy products per tap and group: fast enough for batches large enough that
    the kernels split them among numba's threads, where the explicit loops above would take minutes."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    groups, oh, ow = geo["groups"], geo["oh"], geo["ow"]
    fg = f // groups
    sh, sw, pt, pl, dh, dw = args(geo, groups=False)
    hp, wp = max(h + pt, (oh - 1) * sh + (kh - 1) * dh + 1), max(w + pl, (ow - 1) * sw + (kw - 1) * dw + 1)
    xpad = np.zeros((n, hp, wp, c))
    xpad[:, pt:pt + h, pl:pl + w] = x
    dxpad = np.zeros_like(xpad)
    out = np.zeros((n, oh, ow, f)) + (bias if bias.size else 0.0)
    dkernel = np.zeros_like(kernel)
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dh, p * dh + (oh - 1) * sh + 1, sh)
            cols = slice(q * dw, q * dw + (ow - 1) * sw + 1, sw)
            for g in range(groups):
                cs, fs = slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)
                xs = xpad[:, rows, cols, cs]
                out[..., fs] += xs @ kernel[p, q, :, fs]
                dkernel[p, q, :, fs] = np.einsum("nijc,nijf->cf", xs, dy[..., fs])
                dxpad[:, rows, cols, cs] += dy[..., fs] @ kernel[p, q, :, fs].T
    return out, dxpad[:, pt:pt + h, pl:pl + w], dkernel, dy.sum(axis=(0, 1, 2))


@pytest.mark.parametrize("groups, pad, c, f", [(1, 0, 8, 16), (2, 1, 8, 32)])
def test_batches_split_among_threads_match_references(groups, pad, c, f, rng):
    """Work above PARALLEL_MIN_WORK and a ``cols`` with room for several parts take the threaded path (parts of
    the batch per thread, a partial kernel gradient per part, summed after): same results as NumPy, accumulate
    included."""
    n, h = 16, 20
    oh = h - 2 + 2 * pad
    geo = dict(sh=1, sw=1, pt=pad, pl=pad, dh=1, dw=1, groups=groups, oh=oh, ow=oh)
    x, kernel, bias = rng.standard_normal((n, h, h, c)), rng.standard_normal((3, 3, c // groups, f)), \
        rng.standard_normal(f)
    dy = rng.standard_normal((n, oh, oh, f))
    per = conv.conv2d_scratch_min(oh, oh, 3, 3, c, groups)
    assert conv._parts(n, per, 9 * (c // groups) * f, per * n, n * per * (f // groups)) > 1
    out_ref, dx_ref, dk_ref, db_ref = ref_conv_np(x, kernel, bias, dy, geo)
    np.testing.assert_allclose(forward(x, kernel, bias, geo), out_ref, rtol=1e-10, atol=1e-10)
    dx, dk, db = backward(x, kernel, bias, dy, geo)
    for got, want in ((dx, dx_ref), (dk, dk_ref), (db, db_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    dk2, db2 = np.ones_like(kernel), np.ones_like(bias)
    conv.conv2d_backward(x, kernel, dy, EMPTY4, dk2, db2, cols_for(x, kernel, geo), *args(geo), True)
    np.testing.assert_allclose(dk2, dk_ref + 1.0, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(db2, db_ref + 1.0, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("stride", [1, 2])
def test_one_channel_per_group_reads_its_own_channel(stride, rng):
    """groups == channels (cg == 1 with C > 1): the copy loops for one channel must step over the others (a
    regression: they read consecutive values, mixing the channels)."""
    x = rng.normal(size=(2, 5, 5, 3))
    kernel = rng.normal(size=(2, 2, 1, 3))
    oh = (5 - 2) // stride + 1
    geo = dict(sh=stride, sw=stride, pt=0, pl=0, dh=1, dw=1, groups=3, oh=oh, ow=oh)
    np.testing.assert_allclose(forward(x, kernel, np.empty(0), geo), ref_conv(x, kernel, np.empty(0), geo),
                               rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=(2, oh, oh, 3))
    dx, dkernel, _ = backward(x, kernel, np.empty(0), dy, geo)
    check_gradient(lambda a: forward(a, kernel, np.empty(0), geo), [x.copy()], dx, 0, dy)
    check_gradient(lambda k: forward(x, k, np.empty(0), geo), [kernel.copy()], dkernel, 0, dy)
