"""Optimizer, clipping and weight-decay kernels against plain-NumPy transcriptions of Keras 3.

The references below are written from Keras 3.16's ``keras/src/optimizers/*.py`` and never call a kernel. They use
NumPy's own promotion rules, which match Keras on a float32 variable: a Python float next to a float32 array stays
float32 (a weak scalar, as in JAX), and ``1 - beta`` written on Python floats is formed in float64 first. So each
reference runs in the dtype it is given, and a float32 kernel is held to a float32 reference closely, as well as to
the float64 kernel with the shared float32 tolerance.

Every optimizer case runs several steps from Keras's initial slot state, starting at a random iteration count,
with gradients spanning 1e-5..10 in magnitude (tiny ones make misplaced epsilons visible), some exactly zero.
A few golden trajectories observed from Keras itself (``*_test.py`` there) anchor the transcriptions.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import optimizers as opt
from support.gradcheck import assert_f32_close

STEPS = 5
F64_RTOL = 1e-11  # float64 kernel vs float64 reference: fastmath reorders, little else
F32_RTOL = 1e-5  # float32 kernel vs float32 reference: a few ulps per operation over a few steps


def assert_close(actual, expected, rtol):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype
    scale = 1.0 + float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# --- references: one Keras update_step each, over a dict of slot arrays ------------------------------------------


def ref_sgd(w, g, s, hp, step):
    lr = w.dtype.type(hp["lr"])
    if hp["momentum"] == 0:
        return w - g * lr
    mu = w.dtype.type(hp["momentum"])
    s["m"] = s["m"] * mu - g * lr
    if hp["nesterov"]:
        return w + (s["m"] * mu - g * lr)
    return w + s["m"]


def ref_adam(w, g, s, hp, step):
    dt = w.dtype.type
    t = dt(step)
    b1_power = dt(hp["beta_1"]) ** t
    b2_power = dt(hp["beta_2"]) ** t
    alpha = dt(hp["lr"]) * np.sqrt(1 - b2_power) / (1 - b1_power)
    s["m"] = s["m"] + (g - s["m"]) * (1 - hp["beta_1"])
    s["v"] = s["v"] + (np.square(g) - s["v"]) * (1 - hp["beta_2"])
    v = s["v"]
    if hp["amsgrad"]:
        s["vhat"] = np.maximum(s["vhat"], s["v"])
        v = s["vhat"]
    return w - (s["m"] * alpha) / (np.sqrt(v) + hp["epsilon"])


def ref_rmsprop(w, g, s, hp, step):
    rho = hp["rho"]
    s["v"] = rho * s["v"] + (1 - rho) * np.square(g)
    if hp["centered"]:
        s["mg"] = rho * s["mg"] + (1 - rho) * g
        denominator = s["v"] - np.square(s["mg"]) + hp["epsilon"]
    else:
        denominator = s["v"] + hp["epsilon"]
    increment = (w.dtype.type(hp["lr"]) * g) / np.sqrt(denominator)
    if hp["momentum"] > 0:
        s["mom"] = hp["momentum"] * s["mom"] + increment
        return w - s["mom"]
    return w - increment


def ref_adagrad(w, g, s, hp, step):
    s["acc"] = s["acc"] + np.square(g)
    return w - (w.dtype.type(hp["lr"]) * g) / np.sqrt(s["acc"] + hp["epsilon"])


def ref_adadelta(w, g, s, hp, step):
    rho, eps = hp["rho"], hp["epsilon"]
    s["acc_grad"] = rho * s["acc_grad"] + (1 - rho) * np.square(g)
    delta = -(np.sqrt(s["acc_delta"] + eps) * g / np.sqrt(s["acc_grad"] + eps))
    s["acc_delta"] = rho * s["acc_delta"] + (1 - rho) * np.square(delta)
    return w + w.dtype.type(hp["lr"]) * delta


def ref_adamax(w, g, s, hp, step):
    dt = w.dtype.type
    b1_power = dt(hp["beta_1"]) ** dt(step)
    s["m"] = s["m"] + (g - s["m"]) * (1 - hp["beta_1"])
    s["u"] = np.maximum(hp["beta_2"] * s["u"], np.abs(g))
    return w - (dt(hp["lr"]) * s["m"]) / ((1 - b1_power) * (s["u"] + hp["epsilon"]))


def nadam_advance(u_product, beta_1, step):
    """Keras's Nadam._backend_update_step: once per step, before any variable is updated."""
    dt = u_product.dtype.type
    return u_product * beta_1 * (1.0 - 0.5 * np.power(0.96, dt(step)))


def ref_nadam(w, g, s, hp, step):
    dt = w.dtype.type
    s["u_product"] = nadam_advance(s["u_product"], hp["beta_1"], step)
    beta_1, beta_2, decay = dt(hp["beta_1"]), dt(hp["beta_2"]), dt(0.96)
    u_t = beta_1 * (1.0 - 0.5 * decay ** dt(step))
    u_t_1 = beta_1 * (1.0 - 0.5 * decay ** dt(step + 1))
    u_product_t = s["u_product"][0]
    u_product_t_1 = u_product_t * u_t_1
    s["m"] = s["m"] + (g - s["m"]) * (1 - beta_1)
    s["v"] = s["v"] + (np.square(g) - s["v"]) * (1 - beta_2)
    m_hat = (u_t_1 * s["m"]) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
    v_hat = s["v"] / (1 - beta_2 ** dt(step))
    return w - (m_hat * dt(hp["lr"])) / (np.sqrt(v_hat) + hp["epsilon"])


# --- kernel adapters and initial slot states (Keras's build()) ----------------------------------------------------


def call_sgd(w, g, s, hp, step):
    opt.sgd_update(w, g, s["m"], hp["lr"], hp["momentum"], hp["nesterov"])


def call_adam(w, g, s, hp, step):
    opt.adam_update(w, g, s["m"], s["v"], s["vhat"], hp["lr"], hp["beta_1"], hp["beta_2"], hp["epsilon"],
                    hp["amsgrad"], step)


def call_rmsprop(w, g, s, hp, step):
    opt.rmsprop_update(w, g, s["v"], s["mom"], s["mg"], hp["lr"], hp["rho"], hp["momentum"], hp["epsilon"],
                       hp["centered"])


def call_adagrad(w, g, s, hp, step):
    opt.adagrad_update(w, g, s["acc"], hp["lr"], hp["epsilon"])


def call_adadelta(w, g, s, hp, step):
    opt.adadelta_update(w, g, s["acc_grad"], s["acc_delta"], hp["lr"], hp["rho"], hp["epsilon"])


def call_adamax(w, g, s, hp, step):
    opt.adamax_update(w, g, s["m"], s["u"], hp["lr"], hp["beta_1"], hp["beta_2"], hp["epsilon"], step)


def call_nadam(w, g, s, hp, step):
    opt.nadam_update(w, g, s["m"], s["v"], s["u_product"], hp["lr"], hp["beta_1"], hp["beta_2"], hp["epsilon"],
                     step)


def initial_slots(name, hp, n, dtype, iterations):
    """The slot arrays Keras creates (zeros unless noted); an unused slot is a length-0 array."""
    zeros = np.zeros(n, dtype)
    empty = np.empty(0, dtype)
    if name == "sgd":
        return {"m": zeros.copy() if hp["momentum"] != 0 else empty}
    if name == "adam":
        return {"m": zeros.copy(), "v": zeros.copy(), "vhat": zeros.copy() if hp["amsgrad"] else empty}
    if name == "rmsprop":
        return {"v": zeros.copy(), "mom": zeros.copy() if hp["momentum"] > 0 else empty,
                "mg": zeros.copy() if hp["centered"] else empty}
    if name == "adagrad":
        return {"acc": np.full(n, hp["initial_accumulator_value"], dtype)}
    if name == "adadelta":
        return {"acc_grad": zeros.copy(), "acc_delta": zeros.copy()}
    if name == "adamax":
        return {"m": zeros.copy(), "u": zeros.copy()}
    if name == "nadam":
        u_product = np.ones(1, dtype)
        for k in range(1, iterations + 1):  # as if `iterations` steps had already run
            u_product = nadam_advance(u_product, hp["beta_1"], k)
        return {"m": zeros.copy(), "v": zeros.copy(), "u_product": u_product}
    raise AssertionError(name)


OPTIMIZERS = {
    "sgd": (call_sgd, ref_sgd),
    "adam": (call_adam, ref_adam),
    "rmsprop": (call_rmsprop, ref_rmsprop),
    "adagrad": (call_adagrad, ref_adagrad),
    "adadelta": (call_adadelta, ref_adadelta),
    "adamax": (call_adamax, ref_adamax),
    "nadam": (call_nadam, ref_nadam),
}

# (optimizer, fixed options); the remaining hyperparameters are drawn, Keras's default among the draws.
CASES = [
    ("sgd", dict(momentum=0.0, nesterov=False)),
    ("sgd", dict(nesterov=False)),
    ("sgd", dict(nesterov=True)),
    ("adam", dict(amsgrad=False)),
    ("adam", dict(amsgrad=True)),
    ("rmsprop", dict(momentum=0.0, centered=False)),
    ("rmsprop", dict(momentum=0.0, centered=True)),
    ("rmsprop", dict(centered=False)),
    ("rmsprop", dict(centered=True)),
    ("adagrad", {}),
    ("adadelta", {}),
    ("adamax", {}),
    ("nadam", {}),
]


def case_id(case):
    name, fixed = case
    flags = [k if v is True else f"{k}={v}" for k, v in fixed.items() if v is not False]
    return "-".join([name] + flags)


def default_or(default, lo, hi):
    return st.one_of(st.just(default), st.floats(lo, hi))


HYPER = {
    "sgd": dict(lr=default_or(0.01, 1e-3, 0.3), momentum=default_or(0.9, 0.05, 0.99)),
    "adam": dict(lr=default_or(0.001, 1e-4, 0.3), beta_1=default_or(0.9, 0.5, 0.99),
                 beta_2=default_or(0.999, 0.8, 0.9999), epsilon=default_or(1e-7, 1e-8, 1e-3)),
    "rmsprop": dict(lr=default_or(0.001, 1e-4, 0.3), rho=default_or(0.9, 0.5, 0.99),
                    momentum=default_or(0.9, 0.05, 0.99), epsilon=default_or(1e-7, 1e-8, 1e-3)),
    "adagrad": dict(lr=default_or(0.001, 1e-4, 0.5), initial_accumulator_value=default_or(0.1, 0.0, 1.0),
                    epsilon=default_or(1e-7, 1e-8, 1e-3)),
    "adadelta": dict(lr=default_or(0.001, 1e-4, 1.0), rho=default_or(0.95, 0.5, 0.99),
                     epsilon=default_or(1e-7, 1e-8, 1e-3)),
    "adamax": dict(lr=default_or(0.001, 1e-4, 0.3), beta_1=default_or(0.9, 0.5, 0.99),
                   beta_2=default_or(0.999, 0.8, 0.9999), epsilon=default_or(1e-7, 1e-8, 1e-3)),
    "nadam": dict(lr=default_or(0.001, 1e-4, 0.3), beta_1=default_or(0.9, 0.5, 0.99),
                  beta_2=default_or(0.999, 0.8, 0.9999), epsilon=default_or(1e-7, 1e-8, 1e-3)),
}


def random_gradients(rng, n, steps):
    """float32-representable gradients of magnitude 1e-5..10 (per step), about one in ten exactly zero."""
    g = rng.standard_normal((steps, n)) * 10.0 ** rng.uniform(-5, 1, size=(steps, 1))
    g[rng.random((steps, n)) < 0.1] = 0.0
    return g.astype(np.float32).astype(np.float64)


def run_kernel(name, hp, w0, grads, dtype, iterations):
    call = OPTIMIZERS[name][0]
    w = w0.astype(dtype)
    slots = initial_slots(name, hp, w.size, dtype, iterations)
    for k, g64 in enumerate(grads):
        g = g64.astype(dtype)
        g_before = g.copy()
        call(w, g, slots, hp, iterations + k + 1)
        np.testing.assert_array_equal(g, g_before, err_msg="an update kernel modified the gradient")
    assert w.dtype == dtype and all(a.dtype == dtype for a in slots.values())
    return w, slots


def run_reference(name, hp, w0, grads, dtype, iterations):
    ref = OPTIMIZERS[name][1]
    w = w0.astype(dtype)
    slots = initial_slots(name, hp, w.size, dtype, iterations)
    for k, g64 in enumerate(grads):
        w = ref(w, g64.astype(dtype), slots, hp, iterations + k + 1)
    return w, slots


@pytest.mark.parametrize("case", CASES, ids=case_id)
@given(data=st.data())
def test_update_matches_keras_formula(case, data):
    name, fixed = case
    hp = {k: data.draw(s, label=k) for k, s in HYPER[name].items() if k not in fixed}
    hp.update(fixed)
    n = data.draw(st.integers(1, 40), label="n")
    iterations = data.draw(st.sampled_from([0, 0, 1, 7, 30]), label="iterations")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    w0 = rng.standard_normal(n).astype(np.float32).astype(np.float64)
    grads = random_gradients(rng, n, STEPS)

    results = {}
    for dtype, rtol in ((np.float64, F64_RTOL), (np.float32, F32_RTOL)):
        w, slots = run_kernel(name, hp, w0, grads, dtype, iterations)
        w_ref, slots_ref = run_reference(name, hp, w0, grads, dtype, iterations)
        assert_close(w, w_ref, rtol)
        for key in slots:
            assert_close(slots[key], slots_ref[key], rtol)
        results[dtype] = w
    assert_f32_close(results[np.float32], results[np.float64])


# --- golden trajectories observed from Keras (keras/src/optimizers/*_test.py, float32 variables) -----------------
# One step with gradient 0.01 everywhere, then checkpoints k = 0..4 each followed by a step with gradient
# (0.1, 0.2, ..., 1.0). Columns 0 and 9 of Keras's 10-wide tables; Keras's own tolerance 5e-4.

GOLDEN = [
    ("adam", dict(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=True), 0.0,
     [[0.999, 0.999], [0.9982, 0.9982], [0.9974, 0.9974], [0.9965, 0.9965], [0.9955, 0.9955]]),
    ("adam", dict(lr=1.0, beta_1=0.9, beta_2=0.999, epsilon=2.0, amsgrad=False), 0.5,  # AdamW
     [[0.4998, 0.4998], [0.2486, 0.2382], [0.1223, 0.1003], [0.0586, 0.0258], [0.0263, -0.0159]]),
    ("rmsprop", dict(lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=True), 0.0,
     [[0.9967, 0.9967], [0.9933, 0.9933], [0.9908, 0.9908], [0.9885, 0.9885], [0.9864, 0.9864]]),
    ("adagrad", dict(lr=0.2, initial_accumulator_value=0.3, epsilon=1e-6), 0.0,
     [[0.9963, 0.9963], [0.9604, 0.8209], [0.9251, 0.6891], [0.8903, 0.579], [0.856, 0.4825]]),
    ("adadelta", dict(lr=1.0, rho=0.8, epsilon=1e-6), 0.0,
     [[0.9978, 0.9978], [0.9947, 0.9947], [0.9915, 0.9915], [0.9882, 0.9882], [0.9849, 0.9849]]),
    ("adamax", dict(lr=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6), 0.0,
     [[0.8, 0.8], [0.6827, 0.691], [0.5333, 0.5466], [0.368, 0.3848], [0.1933, 0.2126]]),
    ("nadam", dict(lr=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5), 0.0,
     [[0.4281, 0.4281], [-0.1738, -0.1717], [-0.7115, -0.7084], [-1.2335, -1.2299], [-1.7492, -1.7454]]),
    ("sgd", dict(lr=0.01, momentum=0.0, nesterov=True), 0.0,
     [[0.9999, 0.9999], [0.9989, 0.9899], [0.9979, 0.9799], [0.9969, 0.9699], [0.9959, 0.9599]]),
]


@pytest.mark.parametrize("name, hp, weight_decay, golden", GOLDEN, ids=[f"{c[0]}-{i}" for i, c in enumerate(GOLDEN)])
def test_golden_trajectory_from_keras(name, hp, weight_decay, golden):
    call = OPTIMIZERS[name][0]
    w = np.ones(10, np.float32)
    slots = initial_slots(name, hp, 10, np.float32, 0)
    grads = np.arange(1, 11, dtype=np.float32) / np.float32(10)

    def step(g, iterations):
        if weight_decay:
            opt.apply_weight_decay(w, hp["lr"], weight_decay)
        call(w, g, slots, hp, iterations + 1)

    step(np.full(10, 0.01, np.float32), 0)
    for k, row in enumerate(golden):
        np.testing.assert_allclose(w[[0, 9]], row, rtol=5e-4, atol=5e-4, err_msg=f"checkpoint {k}")
        step(grads, k + 1)


def test_single_step_examples_from_keras_docs():
    """Keras docstring/test values: RMSprop(0.1) on loss x^2/2 at x=10 gives 9.683772; SGD wd=0.004, lr=1: 1.9760959."""
    w = np.array([10.0], np.float32)
    v = np.zeros(1, np.float32)
    empty = np.empty(0, np.float32)
    opt.rmsprop_update(w, w.copy(), v, empty, empty, 0.1, 0.9, 0.0, 1e-7, False)
    np.testing.assert_allclose(w, [9.683772], rtol=1e-6)

    w = np.array([2.0], np.float32)  # Keras's weight-decay test steps var1 with three optimizers, zero gradient
    for _ in range(3):
        opt.apply_weight_decay(w, 1.0, 0.004)
        opt.sgd_update(w, np.zeros(1, np.float32), empty, 1.0, 0.0, False)
    np.testing.assert_allclose(w, [1.9760959], rtol=1e-6)


def test_nadam_advances_u_product_once_per_call():
    w = np.zeros(3)
    m, v, u_product = np.zeros(3), np.zeros(3), np.ones(1)
    expected = 1.0
    for step in range(1, 5):
        opt.nadam_update(w, np.ones(3), m, v, u_product, 0.001, 0.9, 0.999, 1e-7, step)
        expected *= 0.9 * (1.0 - 0.5 * 0.96**step)
        np.testing.assert_allclose(u_product, [expected], rtol=1e-14)


def test_update_rejects_bad_slots_and_steps():
    w, g = np.zeros(4), np.zeros(4)
    empty = np.empty(0)
    with pytest.raises(ValueError):  # amsgrad needs vhat
        opt.adam_update(w, g, np.zeros(4), np.zeros(4), empty, 0.001, 0.9, 0.999, 1e-7, True, 1)
    with pytest.raises(ValueError):  # momentum needs m
        opt.sgd_update(w, g, empty, 0.01, 0.9, False)
    with pytest.raises(ValueError):  # slot of the wrong length
        opt.rmsprop_update(w, g, np.zeros(3), empty, empty, 0.001, 0.9, 0.0, 1e-7, False)
    with pytest.raises(ValueError):  # gradient of the wrong length
        opt.adagrad_update(w, np.zeros(5), np.zeros(4), 0.001, 1e-7)
    with pytest.raises(ValueError):  # step is iterations + 1
        opt.adamax_update(w, g, np.zeros(4), np.zeros(4), 0.001, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(ValueError):
        opt.nadam_update(w, g, np.zeros(4), np.zeros(4), np.ones(2), 0.001, 0.9, 0.999, 1e-7, 1)


# --- clipping and weight decay -----------------------------------------------------------------------------------


def ref_clip_by_norm(g, clipnorm):
    """BaseOptimizer._clip_by_norm for one variable."""
    l2sum = np.sum(np.square(g))
    l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
    return (g * clipnorm) / np.maximum(l2norm, g.dtype.type(clipnorm))


def ref_clip_by_global_norm(g, clipnorm):
    """keras.src.optimizers.base_optimizer.clip_by_global_norm, over one flat buffer."""
    use_norm = np.sqrt(np.sum(np.square(g)))
    with np.errstate(divide="ignore"):
        scale = clipnorm * np.minimum(1.0 / use_norm, 1.0 / clipnorm) + (use_norm - use_norm)
    return g * scale


def random_segments(rng, n):
    """(start, stop) rows that tile [0, n), with empty segments allowed."""
    cuts = np.sort(rng.integers(0, n + 1, size=rng.integers(0, 5)))
    bounds = np.concatenate([[0], cuts, [n]])
    return np.stack([bounds[:-1], bounds[1:]], axis=1).astype(np.int64)


@st.composite
def clip_inputs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 30))
    g = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 2)
    segments = random_segments(rng, n)
    for start, stop in segments:  # some variables get an all-zero gradient
        if rng.random() < 0.2:
            g[start:stop] = 0.0
    clip = draw(st.floats(0.01, 10.0))
    return g.astype(np.float32).astype(np.float64), segments, clip


@given(clip_inputs())
def test_clip_by_value(inputs):
    g64, _, clip = inputs
    for dtype in (np.float64, np.float32):
        g = g64.astype(dtype)
        opt.clip_by_value(g, clip)
        np.testing.assert_array_equal(g, np.clip(g64.astype(dtype), -dtype(clip), dtype(clip)))
        assert g.dtype == dtype


@given(clip_inputs())
def test_clip_by_norm_per_variable(inputs):
    g64, segments, clip = inputs
    for dtype, rtol in ((np.float64, F64_RTOL), (np.float32, F32_RTOL)):
        g = g64.astype(dtype)
        opt.clip_by_norm(g, segments, clip)
        expected = np.concatenate([ref_clip_by_norm(g64.astype(dtype)[a:b], clip) for a, b in segments])
        assert_close(g, expected, rtol)
        for a, b in segments:  # each variable ends with norm min(its norm, clipnorm)
            norm = np.linalg.norm(g64[a:b])
            np.testing.assert_allclose(np.linalg.norm(g[a:b].astype(np.float64)), min(norm, clip), rtol=1e-5)


@given(clip_inputs())
def test_clip_by_global_norm(inputs):
    g64, _, clip = inputs
    for dtype, rtol in ((np.float64, F64_RTOL), (np.float32, F32_RTOL)):
        g = g64.astype(dtype)
        norm = opt.clip_by_global_norm(g, clip)
        np.testing.assert_allclose(norm, np.linalg.norm(g64), rtol=1e-5)
        assert_close(g, ref_clip_by_global_norm(g64.astype(dtype), clip), rtol)


def test_clip_examples_from_keras():
    g = np.array([100.0, 100.0], np.float32)
    opt.clip_by_norm(g, np.array([[0, 2]], np.int64), 1.0)
    np.testing.assert_allclose(g, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)
    g = np.array([100.0, -100.0, 0.5], np.float32)
    opt.clip_by_value(g, 1.0)
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipping_non_finite_like_keras(dtype):
    inf, nan = np.inf, np.nan
    segments = np.array([[0, 2], [2, 4], [4, 6]], np.int64)
    g = np.array([3.0, 4.0, nan, 1.0, inf, 2.0], dtype)
    with np.errstate(invalid="ignore"):
        # clipnorm: only the variable holding the NaN or inf is affected; inf / inf -> NaN, finite / inf -> 0
        clipped = g.copy()
        opt.clip_by_norm(clipped, segments, 1.0)
        np.testing.assert_allclose(clipped[:2], [0.6, 0.8], rtol=1e-6)
        assert np.isnan(clipped[2:4]).all()
        assert np.isnan(clipped[4]) and clipped[5] == 0.0
        # global_clipnorm: one non-finite value anywhere makes every gradient NaN
        for bad in (nan, inf, -inf):
            clipped = np.array([3.0, 4.0, bad, 1.0], dtype)
            norm = opt.clip_by_global_norm(clipped, 1.0)
            assert not np.isfinite(norm)
            assert np.isnan(clipped).all()
            assert np.isnan(ref_clip_by_global_norm(np.array([3.0, 4.0, bad, 1.0], dtype), 1.0)).all()
        # clipvalue leaves NaN alone and clamps infinities
        clipped = g.copy()
        opt.clip_by_value(clipped, 2.0)
        np.testing.assert_array_equal(clipped, [2.0, 2.0, nan, 1.0, 2.0, 2.0])
    # a float32 sum of squares that overflows counts as an infinite norm, as in Keras
    if dtype == np.float32:
        with np.errstate(over="ignore", invalid="ignore"):
            big = np.full(4, 3e19, dtype)
            opt.clip_by_global_norm(big, 1.0)
            assert np.isnan(big).all()
            big = np.full(4, 3e19, dtype)
            opt.clip_by_norm(big, np.array([[0, 4]], np.int64), 1.0)
            np.testing.assert_array_equal(big, 0.0)


def test_clip_zero_gradient_stays_zero():
    for dtype in (np.float32, np.float64):
        g = np.zeros(5, dtype)
        opt.clip_by_norm(g, np.array([[0, 5]], np.int64), 0.3)
        opt.clip_by_global_norm(g, 0.3)
        np.testing.assert_array_equal(g, 0.0)


def test_clip_by_norm_rejects_bad_segments():
    with pytest.raises(ValueError):
        opt.clip_by_norm(np.zeros(4), np.array([[0, 5]], np.int64), 1.0)
    with pytest.raises(ValueError):
        opt.clip_by_norm(np.zeros(4), np.array([[3, 2]], np.int64), 1.0)


@given(clip_inputs(), st.floats(1e-4, 1.0), st.floats(1e-4, 0.5))
def test_apply_weight_decay(inputs, lr, weight_decay):
    w64 = inputs[0]
    for dtype, rtol in ((np.float64, F64_RTOL), (np.float32, F32_RTOL)):
        w = w64.astype(dtype)
        opt.apply_weight_decay(w, lr, weight_decay)
        ref = w64.astype(dtype)
        assert_close(w, ref - ref * dtype(weight_decay) * dtype(lr), rtol)
