"""kernels/cuda/recurrent.py against kernels/cpu/recurrent.py (in the CUDA simulator: tiny shapes).

Forward twins are compared on every output and on the whole cache (the layout the backward twins read); backward
twins run on the cache the CPU forward wrote, so matching the CPU's BPTT proves the CUDA gradients."""

import numpy as np
import pytest
from nbkeras.kernels.cpu import recurrent as cpu
from nbkeras.kernels.cuda import recurrent as rec
from support.cuda_twin import arrays, check_twin

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
VARIANTS = [("simple_rnn", False), ("lstm", False), ("gru", True), ("gru", False)]
DTYPES = [np.float32, np.float64]

#: Option sets that change the code path: (mask, dropout masks 0/1/per-gate, bias, go_backwards,
#: zero_output_for_mask, accumulate, dx and initial-state gradients wanted, threads per block or None).
OPTIONS = {
    "plain": (False, 0, True, False, False, True, True, None),
    "masked_backwards_shared_dropout": (True, 1, False, True, True, False, False, None),
    "masked_gate_dropout_small_blocks": (True, 2, True, False, False, False, True, 8),
}


def make_case(kind, reset_after, dtype, opts, seed=0, n=3, steps=4, d=2, u=3, act=1, ract=2):
    mask_on, dropout, use_bias, go_back, zofm, accumulate, grads_in, _ = opts
    rng = np.random.default_rng(seed)
    k = GATES[kind]
    x, h0, c0, kern, rk = arrays(rng, dtype, (n, steps, d), (n, u), (n, u), (d, k * u), (u, k * u))
    nb = (6 if reset_after else k) * u if use_bias else 0
    (bias,) = arrays(rng, dtype, (nb,))
    if mask_on:
        mask = (rng.uniform(size=(n, steps)) > 0.4).astype(dtype)
        mask[0, :] = 0.0
        mask[1, 0] = 0.0
        mask[1, -1] = 0.0
        mask[2, 1] = 1.0
    else:
        mask = np.zeros((0, 0), dtype)
    if dropout:
        g = 1 if dropout == 1 else k
        dmx = (rng.uniform(size=(n, g, d)) > 0.3).astype(dtype) / dtype(0.7)
        dmh = (rng.uniform(size=(n, g, u)) > 0.3).astype(dtype) / dtype(0.7)
    else:
        dmx = np.zeros((0, 0, 0), dtype)
        dmh = np.zeros((0, 0, 0), dtype)
    size = getattr(cpu, f"{kind}_cache_size")(n, steps, d, u)
    seq, h_t, c_t, cache = arrays(rng, dtype, (n, steps, u), (n, u), (n, u), (size + 5,))
    dseq, dh_t, dc_t, dx, dh0, dc0, dk, dr = arrays(rng, dtype, (n, steps, u), (n, u), (n, u), (n, steps, d),
                                                    (n, u), (n, u), kern.shape, rk.shape)
    (db,) = arrays(rng, dtype, (nb,))
    if not grads_in:
        dx = np.zeros((0, 0, 0), dtype)
        dh0 = np.zeros((0, 0), dtype)
        dc0 = np.zeros((0, 0), dtype)
    return {"kind": kind, "ra": reset_after, "x": x, "h0": h0, "c0": c0, "k": kern, "r": rk, "b": bias,
            "mask": mask, "dmx": dmx, "dmh": dmh, "act": act, "ract": ract, "gb": go_back, "zofm": zofm, "seq": seq,
            "ht": h_t, "ct": c_t, "cache": cache, "dseq": dseq, "dht": dh_t, "dct": dc_t, "dx": dx, "dh0": dh0,
            "dc0": dc0, "dk": dk, "dr": dr, "db": db, "acc": accumulate}


def forward_args(c):
    head = [c["x"], c["h0"]] + ([c["c0"]] if c["kind"] == "lstm" else []) + [c["k"], c["r"], c["b"], c["mask"],
                                                                             c["dmx"], c["dmh"], c["act"]]
    if c["kind"] != "simple_rnn":
        head.append(c["ract"])
    if c["kind"] == "gru":
        head.append(c["ra"])
    outs = [c["seq"], c["ht"]] + ([c["ct"]] if c["kind"] == "lstm" else []) + [c["cache"]]
    return head + [c["gb"], c["zofm"]] + outs


def backward_args(c, cache):
    fwd = forward_args(c)
    head = fwd[:-(4 if c["kind"] == "lstm" else 3)]
    lstm = c["kind"] == "lstm"
    return head + [cache, c["dseq"], c["dht"]] + ([c["dct"]] if lstm else []) + [c["dx"], c["dh0"]] \
        + ([c["dc0"]] if lstm else []) + [c["dk"], c["dr"], c["db"], c["acc"]]


def cpu_cache(c):
    """The cache the CPU forward writes for this case (what the backward twins read)."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in forward_args(c)]
    getattr(cpu, f"{c['kind']}_forward")(*args)
    return args[-1]


@pytest.fixture
def threads(monkeypatch):
    """Lower the loop kernels' block size (several blocks, threads striding over columns) and the weight-gradient
    launch's rows per chunk (several chunks adding into one gradient)."""
    def set_threads(value):
        if value is not None:
            monkeypatch.setattr(rec, "_THREADS", value)
            monkeypatch.setattr(rec, "_ROWS_PER_CHUNK", 5)
    return set_threads


@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,reset_after", VARIANTS, ids=["simple_rnn", "lstm", "gru_ra", "gru"])
def test_forward_and_backward_match_cpu(kind, reset_after, dtype, opts, threads):
    threads(OPTIONS[opts][-1])
    c = make_case(kind, reset_after, dtype, OPTIONS[opts])
    check_twin(f"recurrent.{kind}_forward", *forward_args(c))
    check_twin(f"recurrent.{kind}_backward", *backward_args(c, cpu_cache(c)))


@pytest.mark.parametrize("n,steps", [(1, 1), (2, 0), (0, 2)])
@pytest.mark.parametrize("kind,reset_after", VARIANTS, ids=["simple_rnn", "lstm", "gru_ra", "gru"])
def test_degenerate_sizes(kind, reset_after, n, steps):
    """One sample and step; no steps (hT = h0, dh0 = dhT, zero weight gradients); no samples."""
    c = make_case(kind, reset_after, np.float64, OPTIONS["plain"], n=n, steps=steps)
    check_twin(f"recurrent.{kind}_forward", *forward_args(c))
    check_twin(f"recurrent.{kind}_backward", *backward_args(c, cpu_cache(c)))


@pytest.mark.parametrize("act", range(len(cpu.ACTIVATIONS)))
def test_every_activation(act):
    """Each activation code in the forward and its derivative in the backward (SimpleRNN, and as the LSTM's
    recurrent activation), float64."""
    opts = OPTIONS["plain"]
    c = make_case("simple_rnn", False, np.float64, opts, seed=act, act=act)
    check_twin("recurrent.simple_rnn_forward", *forward_args(c))
    check_twin("recurrent.simple_rnn_backward", *backward_args(c, cpu_cache(c)))
    c = make_case("lstm", False, np.float64, opts, seed=act, n=2, steps=2, u=2, ract=act)
    check_twin("recurrent.lstm_forward", *forward_args(c))
    check_twin("recurrent.lstm_backward", *backward_args(c, cpu_cache(c)))


def test_cuda_backward_reads_cuda_forward_cache():
    """The backward twin on the cache the forward twin wrote (device to device) matches the CPU pair."""
    from numba import cuda

    c = make_case("gru", True, np.float64, OPTIONS["masked_gate_dropout_small_blocks"])
    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in forward_args(c)]
    rec.gru_forward(*dev)
    bdev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in backward_args(c, c["cache"])]
    bdev[13] = dev[-1]
    rec.gru_backward(*bdev)
    host = backward_args(c, cpu_cache(c))
    host = [a.copy() if isinstance(a, np.ndarray) else a for a in host]
    cpu.gru_backward(*host)
    for i in (16, 17, 18, 19, 20):
        np.testing.assert_allclose(bdev[i].copy_to_host(), host[i], rtol=1e-10, atol=1e-12)


def test_cache_sizes():
    for kind in GATES:
        assert getattr(rec, f"{kind}_cache_size")(3, 4, 2, 5) == getattr(cpu, f"{kind}_cache_size")(3, 4, 2, 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("gx,gh", [(1, 1), (4, 4), (0, 3), (2, 0)])
def test_dropout_masks(dtype, training, gx, gh):
    rng = np.random.default_rng(1)
    n, d, u = 3, 2, 3
    mx = rng.uniform(size=(n, gx, d)).astype(dtype) if gx else np.zeros((0, 0, 0), dtype)
    mh = rng.uniform(size=(n, gh, u)).astype(dtype) if gh else np.zeros((0, 0, 0), dtype)
    w = gx * d + gh * u + 2
    uni = rng.uniform(size=n * w).astype(dtype) if training else np.zeros(0, dtype)
    check_twin("recurrent.dropout_masks", uni, 0.3, 0.6, training, mx, mh)
    if training:
        check_twin("recurrent.dropout_masks", uni, 1.0, 0.0, training, mx, mh)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masking(dtype):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(7, 3)).astype(dtype)
    x[[1, 4]] = dtype(0.5)
    x[5, 0] = dtype(0.5)
    mask, out, dy, dx = arrays(rng, dtype, (7,), (7, 3), (7, 3), (7, 3))
    check_twin("recurrent.sequence_mask", x, 0.5, mask)
    check_twin("recurrent.sequence_mask", x[:, :1].copy(), 0.0, mask)
    check_twin("recurrent.masking_forward", x, 0.5, out)
    check_twin("recurrent.masking_backward", x, 0.5, dy, dx)
    check_twin("recurrent.masking_backward", x, 0.5, dy, np.zeros((0, 0), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sequence_last_and_reverse(dtype):
    rng = np.random.default_rng(3)
    seq, out, dy, dseq, rev = arrays(rng, dtype, (3, 4, 5), (3, 5), (3, 5), (3, 4, 5), (3, 4, 5))
    check_twin("recurrent.sequence_last_forward", seq, out)
    check_twin("recurrent.sequence_last_backward", dy, dseq)
    check_twin("recurrent.reverse_time", seq, rev)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", range(4))
@pytest.mark.parametrize("reverse_b", [False, True])
def test_merge_pair(dtype, mode, reverse_b):
    rng = np.random.default_rng(4)
    w = 6 if mode == 0 else 3
    a, b, out, dy, da, db = arrays(rng, dtype, (2, 4, 3), (2, 4, 3), (2, 4, w), (2, 4, w), (2, 4, 3), (2, 4, 3))
    check_twin("recurrent.merge_pair_forward", a, b, mode, reverse_b, out)
    check_twin("recurrent.merge_pair_backward", a, b, dy, mode, reverse_b, da, db)


def test_bad_shapes():
    from numba import cuda

    dev = lambda *shape: cuda.to_device(np.zeros(shape))
    x, h0, k, r, b = dev(2, 3, 2), dev(2, 4), dev(2, 4), dev(4, 4), dev(4)
    e2, e3 = dev(0, 0), dev(0, 0, 0)
    seq, ht, cache = dev(2, 3, 4), dev(2, 4), dev(rec.simple_rnn_cache_size(2, 3, 2, 4))
    with pytest.raises(ValueError, match="kernel must have shape"):
        rec.simple_rnn_forward(x, h0, dev(3, 4), r, b, e2, e3, e3, 1, False, False, seq, ht, cache)
    with pytest.raises(ValueError, match="cache is smaller"):
        rec.simple_rnn_forward(x, h0, k, r, b, e2, e3, e3, 1, False, False, seq, ht, dev(5))
    with pytest.raises(ValueError, match="unknown activation"):
        rec.simple_rnn_forward(x, h0, k, r, b, e2, e3, e3, 11, False, False, seq, ht, cache)
    with pytest.raises(ValueError, match="dmask_h"):
        rec.simple_rnn_forward(x, h0, k, r, b, e2, e3, dev(2, 2, 4), 1, False, False, seq, ht, cache)
    with pytest.raises(ValueError, match="dx must have shape"):
        rec.simple_rnn_backward(x, h0, k, r, b, e2, e3, e3, 1, False, False, cache, seq, ht, dev(2, 3, 3), e2,
                                dev(2, 4), dev(4, 4), dev(4), True)
    with pytest.raises(ValueError, match="lstm_forward: c0"):
        rec.lstm_forward(x, h0, dev(2, 3), dev(2, 16), dev(4, 16), dev(0), e2, e3, e3, 1, 2, False, False, seq,
                         ht, dev(2, 4), dev(rec.lstm_cache_size(2, 3, 2, 4)))
    with pytest.raises(ValueError, match="bias must have length"):
        rec.gru_forward(x, h0, dev(2, 12), dev(4, 12), dev(7), e2, e3, e3, 1, 2, False, False, False, seq, ht,
                        dev(rec.gru_cache_size(2, 3, 2, 4)))
    with pytest.raises(ValueError, match="dropout_masks: rates"):
        rec.dropout_masks(dev(30), 1.5, 0.0, True, dev(2, 1, 2), e3)
    with pytest.raises(ValueError, match="dropout_masks: u must"):
        rec.dropout_masks(dev(5), 0.5, 0.0, True, dev(2, 1, 2), e3)
    with pytest.raises(ValueError, match="masking_forward"):
        rec.masking_forward(dev(3, 2), 0.0, dev(3, 3))
    with pytest.raises(ValueError, match="sequence_last_forward"):
        rec.sequence_last_forward(seq, dev(2, 3))
    with pytest.raises(ValueError, match="merge_pair_forward"):
        rec.merge_pair_forward(seq, seq, 0, False, seq)
    with pytest.raises(ValueError, match="reverse_time"):
        rec.reverse_time(seq, dev(2, 4, 3))
