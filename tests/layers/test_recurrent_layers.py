"""SimpleRNN, LSTM and GRU through the shared layer test (both interpreters bit-identical in float64, gradients
against central differences) over their options, outputs against a step-by-step NumPy reference written from
Keras 3's cell equations, masking, dropout, initial states, return_state, stateful layers, and Keras's errors."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.layers import GRU, LSTM, Embedding, Masking, SimpleRNN
from support.layer_test import check_description, floatx, run_layer_test

N, T, D, U = 2, 3, 2, 2


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def reference(layer, x, mask=None, states=None):
    """(sequence in processing order, final states) of ``layer`` on x by the Keras 3 cell equations."""
    w = layer.get_weights()
    k, r = w[0], w[1]
    b = w[2] if layer.use_bias else None
    u = layer.units
    n, steps, _ = x.shape
    h = np.zeros((n, u)) if states is None else states[0]
    c = np.zeros((n, u)) if states is None or len(states) < 2 else states[1]
    seq = []
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    for t in order:
        xt = x[:, t]
        if isinstance(layer, SimpleRNN):
            hn, cn = np.tanh(xt @ k + h @ r + (0 if b is None else b)), c
        elif isinstance(layer, LSTM):
            z = xt @ k + h @ r + (0 if b is None else b)
            i, f, g, o = _sig(z[:, :u]), _sig(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sig(z[:, 3 * u:])
            cn = f * c + i * g
            hn = o * np.tanh(cn)
        else:
            bi = 0 if b is None else (b[0] if layer.reset_after else b)
            mx = xt @ k + bi
            if layer.reset_after:
                mi = h @ r + (0 if b is None else b[1])
                zg, rg = _sig(mx[:, :u] + mi[:, :u]), _sig(mx[:, u:2 * u] + mi[:, u:2 * u])
                hh = np.tanh(mx[:, 2 * u:] + rg * mi[:, 2 * u:])
            else:
                mi = h @ r[:, :2 * u]
                zg, rg = _sig(mx[:, :u] + mi[:, :u]), _sig(mx[:, u:2 * u] + mi[:, u:])
                hh = np.tanh(mx[:, 2 * u:] + (rg * h) @ r[:, 2 * u:])
            hn, cn = zg * h + (1 - zg) * hh, c
        keep = np.ones((n, 1), bool) if mask is None else mask[:, t:t + 1].astype(bool)
        out = np.where(keep, hn, 0.0 if layer.zero_output_for_mask else h)
        h, c = np.where(keep, hn, h), np.where(keep, cn, c)
        seq.append(out)
    return np.stack(seq, 1), (h, c)


def _weights(cls, units, d, kwargs):
    g = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    shapes = [(d, g * units), (units, g * units)]
    if kwargs.get("use_bias", True):
        shapes.append((2, 3 * units) if cls is GRU and kwargs.get("reset_after", True) else (g * units,))
    return shapes


LAYERS = [(SimpleRNN, {}), (LSTM, {}), (GRU, {}), (GRU, {"reset_after": False})]
OPTIONS = [{}, {"return_sequences": True}, {"go_backwards": True}, {"go_backwards": True, "return_sequences": True},
           {"use_bias": False}, {"activation": "relu", "return_sequences": True}]


def _id(v):
    return v.__name__ if isinstance(v, type) else "-".join(f"{k}={x}" for k, x in v.items()) or "default"


@pytest.mark.parametrize("options", OPTIONS, ids=_id)
@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_layer_test(cls, extra, options):
    kwargs = {"units": U, **extra, **options}
    if cls is SimpleRNN:
        kwargs.pop("recurrent_activation", None)
    out = (N, T, U) if kwargs.get("return_sequences") else (N, U)
    run_layer_test(cls, kwargs, (N, T, D), out, _weights(cls, U, D, kwargs))


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_outputs_match_the_cell_equations(cls, extra, go_backwards):
    with floatx("float64"):
        keras.utils.set_random_seed(3)
        x = np.random.default_rng(3).normal(size=(3, 4, 2))
        layer = cls(3, return_sequences=True, go_backwards=go_backwards, bias_initializer="random_normal", **extra)
        seq = layer(x)
        want, _ = reference(layer, x)
        np.testing.assert_allclose(seq, want, rtol=1e-12, atol=1e-12)
        last = cls.from_config({**layer.get_config(), "return_sequences": False, "name": "last"})
        last(x[:1])
        last.set_weights(layer.get_weights())
        np.testing.assert_allclose(last(x), want[:, -1], rtol=1e-12, atol=1e-12)


def test_weights_and_defaults_follow_keras():
    lstm = LSTM(3)
    lstm(np.zeros((1, 2, 4), "float32"))
    bias = lstm.get_weights()[2]
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])  # unit_forget_bias
    r = lstm.get_weights()[1]
    assert r.shape == (3, 12)
    gru = GRU(3)
    gru(np.zeros((1, 2, 4), "float32"))
    assert [w.shape for w in gru.get_weights()] == [(4, 9), (3, 9), (2, 9)]
    assert [w.path for w in gru.weights] == [f"{gru.name}/kernel", f"{gru.name}/recurrent_kernel",
                                             f"{gru.name}/bias"]
    config = LSTM(2).get_config()
    for key in ("units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias", "dropout",
                "recurrent_dropout", "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                "seed", "kernel_initializer", "recurrent_initializer", "bias_initializer"):
        assert key in config
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal"
    assert GRU(2).get_config()["reset_after"] is True


@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_return_state(cls, extra):
    def make():
        return cls(U, return_state=True, return_sequences=True, **extra)

    check_description(make, [(N, T, D)])
    with floatx("float64"):
        x = np.random.default_rng(0).normal(size=(N, T, D))
        layer = make()
        outs = layer(x)
        seq, (h, c) = reference(layer, x)
        assert len(outs) == (3 if cls is LSTM else 2)
        np.testing.assert_allclose(outs[0], seq, atol=1e-12)
        np.testing.assert_allclose(outs[1], h, atol=1e-12)
        if cls is LSTM:
            np.testing.assert_allclose(outs[2], c, atol=1e-12)
        sym = make()(keras.Input((T, D)))
        assert [t.shape for t in sym] == [(None, T, U)] + [(None, U)] * (len(outs) - 1)


@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_initial_state_as_call_arguments(cls, extra):
    k = 2 if cls is LSTM else 1

    def model():
        x = keras.Input((T, D))
        states = [keras.Input((U,)) for _ in range(k)]
        return x, states, cls(U, return_sequences=True, **extra)

    class Make:  # check_description wants one layer called on a list of inputs
        def __call__(self):
            layer = cls(U, return_sequences=True, **extra)
            return _ListCall(layer)

    check_description(Make(), [(N, T, D)] + [(N, U)] * k)
    with floatx("float64"):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(N, T, D))
        s0 = [rng.normal(size=(N, U)) for _ in range(k)]
        _, _, layer = model()
        got = layer(x, initial_state=s0)
        want, _ = reference(layer, x, states=s0)
        np.testing.assert_allclose(got, want, atol=1e-12)


class _ListCall:
    """A layer called as layer(x, initial_state=rest) on a list [x, *rest]."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, inputs):
        return self.layer(inputs[0], initial_state=list(inputs[1:]))


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_masking_carries_the_state(cls, extra, zero_output):
    with floatx("float64"):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(3, 4, 2))
        x[0, 1:3] = 0.0  # masked steps
        x[2, 0] = 0.0
        inp = keras.Input((4, 2))
        layer = cls(3, return_sequences=True, zero_output_for_mask=zero_output, **extra)
        model = keras.Model(inp, layer(Masking()(inp)))
        got = model.predict(x, verbose=0)
        mask = np.any(x != 0.0, axis=-1)
        want, _ = reference(layer, x, mask=mask)
        np.testing.assert_allclose(got, want, atol=1e-12)
        assert layer.output._keras_mask is not None  # sequences pass the mask on
        # An eager call takes the mask as an argument.
        np.testing.assert_allclose(layer(x, mask=mask), want, atol=1e-12)

    # Gradients through masked steps: the mask comes from Embedding(mask_zero=True) on fixed ids (a Masking
    # layer's mask would flip under the finite differences' perturbation of a masked step's zeros).
    def make():
        return _Masked(cls(U, return_sequences=True, go_backwards=True, **extra))

    ids = np.array([[1, 0, 2], [0, 3, 1]])
    check_description(make, [(N, T)], input_data=[ids])


class _Masked:
    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x):
        return self.layer(Embedding(4, D, mask_zero=True, embeddings_initializer="random_normal")(x))


@pytest.mark.parametrize("cls, extra", LAYERS, ids=lambda v: _id(v))
def test_dropout_training_step(cls, extra):
    def make():
        return cls(U, dropout=0.4, recurrent_dropout=0.3, return_sequences=True, **extra)

    check_description(make, [(N, T, D)])
    # At inference, dropout does nothing.
    with floatx("float64"):
        x = np.random.default_rng(5).normal(size=(N, T, D))
        layer = make()
        np.testing.assert_allclose(layer(x), reference(layer, x)[0], atol=1e-12)
        assert not np.allclose(layer(x, training=True), reference(layer, x)[0])


def test_input_dropout_only_draws_one_shared_mask():
    layer = LSTM(2, dropout=0.5)
    assert layer._dropout_gates() == (1, 0)
    assert LSTM(2, dropout=0.5, recurrent_dropout=0.5)._dropout_gates() == (4, 4)
    assert GRU(2, recurrent_dropout=0.5)._dropout_gates() == (0, 3)
    assert SimpleRNN(2, dropout=0.1, recurrent_dropout=0.1)._dropout_gates() == (1, 1)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_stateful_carries_states_between_calls(cls):
    with floatx("float64"):
        rng = np.random.default_rng(6)
        x1, x2 = rng.normal(size=(2, T, D)), rng.normal(size=(2, T, D))
        inp = keras.Input((T, D), batch_size=2)
        layer = cls(U, stateful=True)
        model = keras.Model(inp, layer(inp))
        y1 = model.predict(x1, batch_size=2, verbose=0)
        y2 = model.predict(x2, batch_size=2, verbose=0)
        plain = cls.from_config({**layer.get_config(), "stateful": False, "name": "plain"})
        plain(x1)
        plain.set_weights(layer.get_weights()[:len(plain.get_weights())])
        _, s1 = reference(plain, x1)
        np.testing.assert_allclose(y1, reference(plain, x1)[0][:, -1], atol=1e-12)
        np.testing.assert_allclose(y2, reference(plain, x2, states=list(s1))[0][:, -1], atol=1e-12)
        layer.reset_states()
        np.testing.assert_allclose(model.predict(x1, batch_size=2, verbose=0), y1, atol=1e-12)
        # train_on_batch also moves the states, and both interpreters agree.
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(x1, np.zeros((2, U)))
        assert np.any(layer.states[0].numpy() != 0.0)
        layer.reset_state()
        assert np.all(layer.states[0].numpy() == 0.0)

    check_description(lambda: cls(U, stateful=True, batch_input_shape=(N, T, D)), [(N, T, D)],
                      check_gradients=False)


def test_errors_name_the_layer_and_argument():
    with pytest.raises(ValueError, match=r"LSTM 'l2d'.*3-D"):
        LSTM(2, name="l2d")(keras.Input((4,)))
    with pytest.raises(ValueError, match=r"GRU 'g'.*`initial_state`.*shape"):
        GRU(2, name="g")(keras.Input((3, 2)), initial_state=[keras.Input((5,))])
    with pytest.raises(ValueError, match=r"LSTM 'l'.*`initial_state` must hold 2"):
        LSTM(2, name="l")(keras.Input((3, 2)), initial_state=[keras.Input((2,))])
    with pytest.raises(ValueError, match=r"SimpleRNN 's'.*`stateful=True` needs a fixed batch size"):
        SimpleRNN(2, stateful=True, name="s")(keras.Input((3, 2)))
    with pytest.raises(ValueError, match="LSTM: `units`"):
        LSTM(0)
    with pytest.raises(ValueError, match="GRU: `activation`='softmax' is not supported"):
        GRU(2, activation="softmax")
    with pytest.raises(ValueError, match=r"LSTM 'm'.*`mask` must have shape"):
        LSTM(2, name="m")(np.zeros((2, 3, 2)), mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match="timesteps and features must be known"):
        LSTM(2)(keras.Input((None, 2)))
