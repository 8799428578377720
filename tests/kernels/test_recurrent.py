"""Recurrent kernels (SimpleRNN, LSTM, GRU): forward against a step-by-step NumPy reference written from Keras 3's
cell formulas, every gradient against central differences (float64, random upstream on seq, hT and cT), float32
against float64, masks, go_backwards, dropout masks (shared and per gate), accumulation, skipped gradients, no
mutation of inputs, and bad shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import recurrent as rec
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds

#: The variants under test: (kind, reset_after).
VARIANTS = [("simple_rnn", False), ("lstm", False), ("gru", True), ("gru", False)]
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
#: Activations smooth enough for central differences (no kink in the first derivative).
SMOOTH = (0, 1, 2, 5, 6, 7)


# ------------------------------------------------------------------------------------ NumPy reference

def _np_act(code, v):
    """Keras 3's activations by the kernels' codes, written directly from their definitions."""
    selu_a, selu_s = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return [
        lambda a: a,
        np.tanh,
        lambda a: 1.0 / (1.0 + np.exp(-a)),
        lambda a: np.maximum(a, 0.0),
        lambda a: np.clip(a + 3.0, 0.0, 6.0) / 6.0,
        lambda a: a / (1.0 + np.abs(a)),
        lambda a: np.logaddexp(0.0, a),
        lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0.0))),
        lambda a: selu_s * np.where(a > 0, a, selu_a * np.expm1(np.minimum(a, 0.0))),
        np.exp,
        lambda a: np.clip(a, 0.0, 6.0),
    ][code](v)


def reference(case):
    """(seq, hT, cT) by the Keras 3 cell equations, one step at a time, one gate at a time."""
    kind, x, h0, c0 = case["kind"], case["x"], case["h0"], case["c0"]
    K, R, b = case["kernel"], case["recurrent_kernel"], case["bias"]
    mask, mx, mh = case["mask"], case["dmask_x"], case["dmask_h"]
    f = lambda v: _np_act(case["activation"], v)  # noqa: E731
    rf = lambda v: _np_act(case["recurrent_activation"], v)  # noqa: E731
    n, steps, d = x.shape
    u = h0.shape[1]
    col = lambda m, g: m[:, g * u:(g + 1) * u]  # noqa: E731
    xmask = lambda g: 1.0 if mx.size == 0 else mx[:, g if mx.shape[1] > 1 else 0]  # noqa: E731
    hmask = lambda g: 1.0 if mh.size == 0 else mh[:, g if mh.shape[1] > 1 else 0]  # noqa: E731

    def bias(g, second=False):
        if b.size == 0:
            return 0.0
        off = 3 * u if second else 0
        return b[off + g * u:off + (g + 1) * u]

    h, c = h0.copy(), c0.copy()
    seq = np.zeros((n, steps, u))
    order = range(steps - 1, -1, -1) if case["go_backwards"] else range(steps)
    for s, t in enumerate(order):
        xt = x[:, t, :]
        xin = lambda g: (xt * xmask(g)) @ col(K, g)  # noqa: E731
        hin = lambda g: (h * hmask(g)) @ col(R, g)  # noqa: E731
        cn = c
        if kind == "simple_rnn":
            hn = f(xin(0) + hin(0) + bias(0))
        elif kind == "lstm":
            i = rf(xin(0) + hin(0) + bias(0))
            fg = rf(xin(1) + hin(1) + bias(1))
            g = f(xin(2) + hin(2) + bias(2))
            o = rf(xin(3) + hin(3) + bias(3))
            cn = fg * c + i * g
            hn = o * f(cn)
        elif case["reset_after"]:
            z = rf(xin(0) + bias(0) + hin(0) + bias(0, True))
            r = rf(xin(1) + bias(1) + hin(1) + bias(1, True))
            hh = f(xin(2) + bias(2) + r * (hin(2) + bias(2, True)))
            hn = z * h + (1.0 - z) * hh
        else:
            z = rf(xin(0) + bias(0) + hin(0))
            r = rf(xin(1) + bias(1) + hin(1))
            hh = f(xin(2) + bias(2) + (r * (h * hmask(2))) @ col(R, 2))
            hn = z * h + (1.0 - z) * hh
        keep = np.ones((n, 1), bool) if mask.size == 0 else (mask[:, t:t + 1] != 0)
        seq[:, s] = np.where(keep, hn, 0.0 if case["zero_output_for_mask"] else h)
        h = np.where(keep, hn, h)
        c = np.where(keep, cn, c)
    return seq, h, c


# ------------------------------------------------------------------------------------ calling the kernels

def _empty(ndim, dtype):
    return np.empty((0,) * ndim, dtype)


def run_forward(case, seq=None, cache=None):
    """(seq, hT, cT, cache) from the kernel; cT is c0's copy for the layers without a carry. ``seq`` and
    ``cache`` replace the arrays it would allocate (to test bad shapes)."""
    kind, x, h0 = case["kind"], case["x"], case["h0"]
    n, steps, d = x.shape
    u = h0.shape[1]
    seq = np.full((n, steps, u), np.nan, x.dtype) if seq is None else seq
    h_t = np.full((n, u), np.nan, x.dtype)
    c_t = case["c0"].copy()
    if cache is None:
        cache = np.full(getattr(rec, kind + "_cache_size")(n, steps, d, u), np.nan, x.dtype)
    common = (x, h0)
    weights = (case["kernel"], case["recurrent_kernel"], case["bias"], case["mask"], case["dmask_x"],
               case["dmask_h"])
    if kind == "simple_rnn":
        rec.simple_rnn_forward(*common, *weights, case["activation"], case["go_backwards"],
                               case["zero_output_for_mask"], seq, h_t, cache)
    elif kind == "lstm":
        c_t = np.full((n, u), np.nan, x.dtype)
        rec.lstm_forward(x, h0, case["c0"], *weights, case["activation"], case["recurrent_activation"],
                         case["go_backwards"], case["zero_output_for_mask"], seq, h_t, c_t, cache)
    else:
        rec.gru_forward(*common, *weights, case["activation"], case["recurrent_activation"], case["reset_after"],
                        case["go_backwards"], case["zero_output_for_mask"], seq, h_t, cache)
    return seq, h_t, c_t, cache


def run_backward(case, cache, dseq, dh_t, dc_t, need=(True, True, True), accumulate=False, start=None, dx=None,
                 dbias=None):
    """Gradients dict (x, h0, c0, kernel, recurrent_kernel, bias) from the kernel's backward.

    ``need`` says which of dx, dh0, dc0 to ask for (an empty array otherwise); ``start`` gives initial contents
    of the weight gradients (for accumulate); ``dx`` and ``dbias`` replace the arrays it would allocate."""
    kind, x, h0 = case["kind"], case["x"], case["h0"]
    dt = x.dtype
    if dx is None:
        dx = np.full_like(x, np.nan) if need[0] else _empty(3, dt)
    dh0 = np.full_like(h0, np.nan) if need[1] else _empty(2, dt)
    dc0 = np.full_like(h0, np.nan) if need[2] else _empty(2, dt)
    names = ("kernel", "recurrent_kernel", "bias")
    if start is None:
        dw = [np.full_like(case[k], np.nan) for k in names]
    else:
        dw = [start[k].copy() for k in names]
    if dbias is not None:
        dw[2] = dbias
    weights = (case["kernel"], case["recurrent_kernel"], case["bias"], case["mask"], case["dmask_x"],
               case["dmask_h"])
    if kind == "simple_rnn":
        rec.simple_rnn_backward(x, h0, *weights, case["activation"], case["go_backwards"],
                                case["zero_output_for_mask"], cache, dseq, dh_t, dx, dh0, *dw, accumulate)
    elif kind == "lstm":
        rec.lstm_backward(x, h0, case["c0"], *weights, case["activation"], case["recurrent_activation"],
                          case["go_backwards"], case["zero_output_for_mask"], cache, dseq, dh_t, dc_t, dx, dh0,
                          dc0, *dw, accumulate)
    else:
        rec.gru_backward(x, h0, *weights, case["activation"], case["recurrent_activation"], case["reset_after"],
                         case["go_backwards"], case["zero_output_for_mask"], cache, dseq, dh_t, dx, dh0, *dw,
                         accumulate)
    out = dict(x=dx, h0=dh0, kernel=dw[0], recurrent_kernel=dw[1], bias=dw[2])
    if kind == "lstm":
        out["c0"] = dc0
    return out


def flat_forward(case):
    """seq, hT (and cT for LSTM) as one float64 vector: what the gradient check differentiates."""
    seq, h_t, c_t, _ = run_forward(case)
    parts = [seq.ravel(), h_t.ravel()] + ([c_t.ravel()] if case["kind"] == "lstm" else [])
    return np.concatenate(parts).astype(np.float64)


def as_dtype(case, dtype):
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
            for k, v in case.items()}


# ------------------------------------------------------------------------------------ cases

def make_case(kind, reset_after, arrays, flags):
    """A case dict from drawn arrays (x, h0, c0, kernel, recurrent_kernel, bias, mask, dmask_x, dmask_h)."""
    case = dict(kind=kind, reset_after=reset_after, activation=1, recurrent_activation=2, go_backwards=False,
                zero_output_for_mask=False)
    case.update(arrays)
    case.update(flags)
    return case


def _dropout_shape(mode, gates, n, width):
    return {"none": (0, 0, 0), "shared": (n, 1, width), "per_gate": (n, gates, width)}[mode]


def random_case(rng, kind, reset_after, n=2, steps=3, d=2, u=2, masked=False, dropout="none", use_bias=True,
                **flags):
    k = GATES[kind]
    bias_len = (6 if reset_after else 3) * u if kind == "gru" else k * u
    arrays = dict(
        x=rng.uniform(-2, 2, (n, steps, d)),
        h0=rng.uniform(-1, 1, (n, u)),
        c0=rng.uniform(-1, 1, (n, u)),
        kernel=rng.uniform(-1, 1, (d, k * u)),
        recurrent_kernel=rng.uniform(-1, 1, (u, k * u)),
        bias=rng.uniform(-1, 1, bias_len) if use_bias else np.empty(0),
        mask=(rng.uniform(size=(n, steps)) < 0.6).astype(np.float64) if masked else np.empty((0, 0)),
        dmask_x=rng.choice([0.0, 2.0], _dropout_shape(dropout, k, n, d)),
        dmask_h=rng.choice([0.0, 2.0], _dropout_shape(dropout, k, n, u)),
    )
    arrays = {k_: np.asarray(v, np.float32).astype(np.float64) for k_, v in arrays.items()}
    return make_case(kind, reset_after, arrays, flags)


@st.composite
def cases(draw, variant, activations=SMOOTH):
    kind, reset_after = variant
    k = GATES[kind]
    n, steps, d, u = draw(dims(1, 3)), draw(dims(1, 4)), draw(dims(1, 3)), draw(dims(1, 3))
    bias_len = (6 if reset_after else 3) * u if kind == "gru" else k * u
    arrays = dict(
        x=draw(floats_array((n, steps, d), -2.0, 2.0)),
        h0=draw(floats_array((n, u), -1.0, 1.0)),
        c0=draw(floats_array((n, u), -1.0, 1.0)),
        kernel=draw(floats_array((d, k * u), -1.0, 1.0)),
        recurrent_kernel=draw(floats_array((u, k * u), -1.0, 1.0)),
        bias=draw(floats_array((bias_len,), -1.0, 1.0)) if draw(st.booleans()) else np.empty(0),
    )
    if draw(st.booleans()):
        keep = draw(st.lists(st.booleans(), min_size=n * steps, max_size=n * steps))
        arrays["mask"] = np.array(keep, np.float64).reshape(n, steps)
    else:
        arrays["mask"] = np.empty((0, 0))
    for name, width in (("dmask_x", d), ("dmask_h", u)):
        mode = draw(st.sampled_from(["none", "shared", "per_gate"]))
        shape = _dropout_shape(mode, k, n, width)
        values = draw(st.lists(st.sampled_from([0.0, 1.25, 2.0]), min_size=int(np.prod(shape)),
                               max_size=int(np.prod(shape))))
        arrays[name] = np.array(values, np.float64).reshape(shape)
    flags = dict(
        activation=draw(st.sampled_from(activations)),
        recurrent_activation=draw(st.sampled_from(activations)),
        go_backwards=draw(st.booleans()),
        zero_output_for_mask=draw(st.booleans()),
    )
    return make_case(kind, reset_after, arrays, flags)


def check_all_gradients(case, seed):
    rng = np.random.default_rng(seed)
    seq, h_t, c_t, cache = run_forward(case)
    dseq, dh_t, dc_t = (upstream_like(a.shape, rng) for a in (seq, h_t, c_t))
    grads = run_backward(case, cache, dseq, dh_t, dc_t)
    upstream = np.concatenate([dseq.ravel(), dh_t.ravel()] + ([dc_t.ravel()] if case["kind"] == "lstm" else []))
    for name, analytic in grads.items():
        if case[name].size == 0:
            continue

        def forward(arr, name=name):
            return flat_forward({**case, name: arr})

        check_gradient(forward, [case[name]], analytic, 0, upstream)


# ------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
@given(data=st.data())
def test_forward_matches_reference(variant, data):
    # Every code but exponential, whose nesting (exp of exp through the recurrence) overflows: the activation
    # table test checks it alone.
    codes = tuple(c for c in range(len(rec.ACTIVATIONS)) if rec.ACTIVATIONS[c] != "exponential")
    case = data.draw(cases(variant, activations=codes))
    seq, h_t, c_t, _ = run_forward(case)
    want_seq, want_h, want_c = reference(case)
    np.testing.assert_allclose(seq, want_seq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_t, want_h, rtol=1e-12, atol=1e-12)
    if case["kind"] == "lstm":
        np.testing.assert_allclose(c_t, want_c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
@given(data=st.data(), seed=seeds())
def test_gradients_match_finite_differences(variant, data, seed):
    check_all_gradients(data.draw(cases(variant)), seed)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
@pytest.mark.parametrize("go_backwards, masked, zero_output", [(False, False, False), (True, True, False),
                                                               (False, True, True), (True, False, False)])
@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_gradients_on_every_flag_combination(variant, go_backwards, masked, zero_output, dropout):
    rng = np.random.default_rng(7)
    case = random_case(rng, *variant, masked=masked, dropout=dropout, go_backwards=go_backwards,
                       zero_output_for_mask=zero_output)
    check_all_gradients(case, 11)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
@given(data=st.data(), seed=seeds())
def test_float32_agrees_with_float64(variant, data, seed):
    case64 = data.draw(cases(variant))
    case32 = as_dtype(case64, np.float32)
    rng = np.random.default_rng(seed)
    out64, out32 = run_forward(case64), run_forward(case32)
    for got, want in zip(out32[:3], out64[:3]):
        assert_f32_close(got, want)
    dseq, dh_t, dc_t = (upstream_like(a.shape, rng) for a in out64[:3])
    g64 = run_backward(case64, out64[3], dseq, dh_t, dc_t)
    g32 = run_backward(case32, out32[3], *(a.astype(np.float32) for a in (dseq, dh_t, dc_t)))
    for name in g64:
        if g64[name].size:
            assert_f32_close(g32[name], g64[name])


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
def test_go_backwards_is_the_reversed_sequence(variant):
    """Keras: go_backwards processes x[:, ::-1] and returns the outputs in processing order."""
    case = random_case(np.random.default_rng(3), *variant, n=3, steps=4, masked=True, dropout="shared")
    back = run_forward({**case, "go_backwards": True})
    flipped = run_forward({**case, "x": case["x"][:, ::-1].copy(), "mask": case["mask"][:, ::-1].copy()})
    for a, b in zip(back[:3], flipped[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("zero_output", [False, True])
def test_masked_steps_carry_the_state(zero_output):
    """A masked step keeps the state; its output is the previous h (Keras 3's default) or zeros."""
    case = random_case(np.random.default_rng(5), "lstm", False, n=1, steps=4, zero_output_for_mask=zero_output)
    case["mask"] = np.array([[0.0, 1.0, 0.0, 0.0]])
    seq, h_t, c_t, _ = run_forward(case)
    first = case["h0"][0] if not zero_output else 0.0
    np.testing.assert_array_equal(seq[0, 0], first)
    np.testing.assert_array_equal(h_t[0], seq[0, 1])
    np.testing.assert_array_equal(seq[0, 2], 0.0 if zero_output else seq[0, 1])
    np.testing.assert_array_equal(seq[0, 3], 0.0 if zero_output else seq[0, 1])
    all_masked = run_forward({**case, "mask": np.zeros((1, 4))})
    np.testing.assert_array_equal(all_masked[1], case["h0"])
    np.testing.assert_array_equal(all_masked[2], case["c0"])


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_not_mutated_and_dtype_is_kept(variant, dtype):
    case = as_dtype(random_case(np.random.default_rng(9), *variant, masked=True, dropout="per_gate"), dtype)
    copies = {k: v.copy() for k, v in case.items() if isinstance(v, np.ndarray)}
    seq, h_t, c_t, cache = run_forward(case)
    cache_copy = cache.copy()
    rng = np.random.default_rng(1)
    ups = [upstream_like(a.shape, rng).astype(dtype) for a in (seq, h_t, c_t)]
    ups_copy = [u.copy() for u in ups]
    grads = run_backward(case, cache, *ups)
    assert seq.dtype == h_t.dtype == c_t.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())
    for k, v in copies.items():
        np.testing.assert_array_equal(case[k], v)
    np.testing.assert_array_equal(cache, cache_copy)
    for u, u0 in zip(ups, ups_copy):
        np.testing.assert_array_equal(u, u0)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
def test_accumulate_adds_to_weight_gradients(variant):
    rng = np.random.default_rng(13)
    case = random_case(rng, *variant, masked=True)
    seq, h_t, c_t, cache = run_forward(case)
    ups = [upstream_like(a.shape, rng) for a in (seq, h_t, c_t)]
    fresh = run_backward(case, cache, *ups)
    start = {k: rng.standard_normal(case[k].shape) for k in ("kernel", "recurrent_kernel", "bias")}
    summed = run_backward(case, cache, *ups, accumulate=True, start=start)
    for k in start:
        np.testing.assert_allclose(summed[k], start[k] + fresh[k], rtol=1e-12, atol=1e-12)
    for k in ("x", "h0"):  # input gradients are overwritten, never accumulated
        np.testing.assert_allclose(summed[k], fresh[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
def test_empty_input_gradients_are_skipped(variant):
    rng = np.random.default_rng(17)
    case = random_case(rng, *variant, masked=True, use_bias=False)
    seq, h_t, c_t, cache = run_forward(case)
    ups = [upstream_like(a.shape, rng) for a in (seq, h_t, c_t)]
    full = run_backward(case, cache, *ups)
    part = run_backward(case, cache, *ups, need=(False, False, False))
    assert part["x"].size == 0 and part["h0"].size == 0 and part["bias"].size == 0
    for k in ("kernel", "recurrent_kernel"):
        np.testing.assert_allclose(part[k], full[k], rtol=1e-12, atol=1e-12)


def test_activation_derivatives_come_from_the_output():
    """Every code's derivative (as the backward computes it, from the output) against a central difference."""
    v = np.array([-4.0, -2.9, -1.3, -0.4, 0.3, 0.9, 2.2, 2.95, 5.1, 6.5])
    for code in range(len(rec.ACTIVATIONS)):
        got = np.array([rec._dact(code, rec._act(code, a)) for a in v])
        want = (_np_act(code, v + 1e-6) - _np_act(code, v - 1e-6)) / 2e-6
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=rec.ACTIVATIONS[code])
        np.testing.assert_allclose([rec._act(code, a) for a in v], _np_act(code, v), rtol=1e-14, atol=1e-14)


def _bad_cases():
    """(description, change to the LSTM case or the outputs, message) for test_bad_shapes_raise."""
    return [
        ("h0 rows", dict(h0=np.zeros((3, 2))), "h0 must have shape"),
        ("kernel", dict(kernel=np.zeros((2, 7))), "kernel must have shape"),
        ("recurrent", dict(recurrent_kernel=np.zeros((2, 7))), "recurrent_kernel must have shape"),
        ("bias", dict(bias=np.zeros(5)), "bias must have length"),
        ("mask", dict(mask=np.ones((2, 2))), "mask must have shape"),
        ("dmask_x gates", dict(dmask_x=np.ones((2, 2, 2))), "dmask_x must have shape"),
        ("dmask_h width", dict(dmask_h=np.ones((1, 2, 3))), "dmask_h must have shape"),
        ("c0", dict(c0=np.zeros((2, 3))), "c0 and cT must have shape"),
        ("activation", dict(activation=11), "unknown activation code"),
    ]


@pytest.mark.parametrize("what, change, message", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_shapes_raise(what, change, message):
    case = random_case(np.random.default_rng(19), "lstm", False)
    with pytest.raises(ValueError, match=message):
        run_forward({**case, **change})


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}{'_reset_after' if v[1] else ''}")
def test_bad_caches_outputs_and_gradients_raise(variant):
    case = random_case(np.random.default_rng(23), *variant)
    n, steps, d = case["x"].shape
    u = case["h0"].shape[1]
    seq, h_t, c_t, cache = run_forward(case)
    with pytest.raises(ValueError, match="cache is smaller"):
        run_forward(case, cache=cache[:-1].copy())
    with pytest.raises(ValueError, match="seq must have shape"):
        run_forward(case, seq=np.empty((n, steps, u + 1)))
    with pytest.raises(ValueError, match="cache is smaller"):
        run_backward(case, cache[:-1].copy(), seq, h_t, c_t)
    with pytest.raises(ValueError, match="dseq must have shape"):
        run_backward(case, cache, np.zeros((n, steps + 1, u)), h_t, c_t)
    with pytest.raises(ValueError, match="dx must have shape"):
        run_backward(case, cache, seq, h_t, c_t, dx=np.empty((n, steps, d + 1)))
    with pytest.raises(ValueError, match="dbias must have"):
        run_backward(case, cache, seq, h_t, c_t, dbias=np.empty(case["bias"].size + 1))
    # Backward indexes the inputs too, so it checks them again rather than trusting forward's checks.
    with pytest.raises(ValueError, match="mask must have shape"):
        run_backward({**case, "mask": np.ones((n, steps + 1))}, cache, seq, h_t, c_t)
    with pytest.raises(ValueError, match="dmask_h must have shape"):
        run_backward({**case, "dmask_h": np.ones((2, n, u))}, cache, seq, h_t, c_t)
    if case["kind"] == "lstm":
        with pytest.raises(ValueError, match="c0 must have shape"):
            run_backward({**case, "c0": np.ones((n, u + 1))}, cache, seq, h_t, c_t)


# ------------------------------------------------------------------------------------ helpers the layers use


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_masks_from_uniforms(dtype, rng):
    n, gx, d, gh, u = 3, 4, 2, 4, 3
    w = gx * d + gh * u + 1  # a row may be longer than the masks need
    uni = rng.uniform(size=n * w).astype(dtype)
    mx, mh = np.full((n, gx, d), np.nan, dtype), np.full((n, gh, u), np.nan, dtype)
    rec.dropout_masks(uni, 0.3, 0.6, True, mx, mh)
    rows = uni.reshape(n, w)
    want_x = np.where(rows[:, :gx * d] >= dtype(0.3), dtype(1.0) / dtype(0.7), 0.0).reshape(n, gx, d)
    want_h = np.where(rows[:, gx * d:gx * d + gh * u] >= dtype(0.6), dtype(1.0) / dtype(1.0 - 0.6), 0.0)
    np.testing.assert_array_equal(mx, want_x)
    np.testing.assert_array_equal(mh, want_h.reshape(n, gh, u))
    assert mx.dtype == mh.dtype == dtype
    # Not training: all ones, and no uniforms are read (a step that does not train draws none).
    rec.dropout_masks(np.empty(0, dtype), 0.3, 0.6, False, mx, mh)
    assert np.all(mx == 1.0) and np.all(mh == 1.0)
    # One of the two masks may be absent; rate 1 drops everything.
    rec.dropout_masks(uni, 1.0, 0.0, True, mx, np.empty((0, 0, 0), dtype))
    assert np.all(mx == 0.0)
    with pytest.raises(ValueError, match="u must hold"):
        rec.dropout_masks(uni[:n * 5], 0.3, 0.6, True, mx, mh)
    with pytest.raises(ValueError, match="rates must be"):
        rec.dropout_masks(uni, 1.5, 0.6, True, mx, mh)


def test_sequence_mask_and_masking():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, np.nan], [2.0, 2.0]])
    mask = np.full(4, np.nan)
    rec.sequence_mask(x, 0.0, mask)
    np.testing.assert_array_equal(mask, [0.0, 1.0, 1.0, 1.0])
    rec.sequence_mask(x, 2.0, mask)
    np.testing.assert_array_equal(mask, [1.0, 1.0, 1.0, 0.0])
    out = np.full_like(x, np.nan)
    rec.masking_forward(x, 2.0, out)
    np.testing.assert_array_equal(out, [[0.0, 0.0], [1.0, 0.0], [0.0, np.nan], [0.0, 0.0]])
    dy = np.arange(8.0).reshape(4, 2)
    dx = np.full_like(x, np.nan)
    rec.masking_backward(x, 2.0, dy, dx)
    np.testing.assert_array_equal(dx, [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [0.0, 0.0]])
    rec.masking_backward(x, 2.0, dy, np.empty((0, 0)))  # skipped
    with pytest.raises(ValueError, match="sequence_mask"):
        rec.sequence_mask(x, 0.0, np.zeros(3))


@pytest.mark.parametrize("mode", range(4))
@pytest.mark.parametrize("reverse_b", [False, True])
def test_merge_pair_against_numpy_and_finite_differences(mode, reverse_b, rng):
    a, b = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2))
    width = 4 if mode == 0 else 2

    def forward(a_, b_):
        out = np.full((2, 3, width), np.nan)
        rec.merge_pair_forward(a_, b_, mode, reverse_b, out)
        return out

    br = b[:, ::-1] if reverse_b else b
    want = [np.concatenate([a, br], -1), a + br, a * br, (a + br) / 2][mode]
    np.testing.assert_array_equal(forward(a, b), want)
    dy = upstream_like((2, 3, width), rng)
    da, db = np.full_like(a, np.nan), np.full_like(b, np.nan)
    rec.merge_pair_backward(a, b, dy, mode, reverse_b, da, db)
    check_gradient(forward, [a, b], da, 0, dy)
    check_gradient(forward, [a, b], db, 1, dy)
    with pytest.raises(ValueError, match="merge_pair_forward"):
        rec.merge_pair_forward(a, b, mode, reverse_b, np.zeros((2, 3, width + 1)))


def test_sequence_last_and_reverse_time(rng):
    seq = rng.normal(size=(2, 3, 4))
    out = np.full((2, 4), np.nan)
    rec.sequence_last_forward(seq, out)
    np.testing.assert_array_equal(out, seq[:, -1])
    dseq = np.full_like(seq, np.nan)
    rec.sequence_last_backward(out, dseq)
    want = np.zeros_like(seq)
    want[:, -1] = out
    np.testing.assert_array_equal(dseq, want)
    rev = np.full_like(seq, np.nan)
    rec.reverse_time(seq, rev)
    np.testing.assert_array_equal(rev, seq[:, ::-1])
    with pytest.raises(ValueError, match="sequence_last_forward"):
        rec.sequence_last_forward(seq, np.zeros((2, 3)))
