"""Bidirectional and TimeDistributed: the shared layer test (both interpreters bit-identical in float64, gradients
against central differences), outputs against the inner layers run separately, masks, states and errors."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, SimpleRNN, TimeDistributed
from support.layer_test import check_description, floatx, run_layer_test

N, T, D, U = 2, 3, 2, 2


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_layer_test(merge_mode, return_sequences):
    width = 2 * U if merge_mode == "concat" else U
    out = (N, T, width) if return_sequences else (N, width)
    weights = [(D, 4 * U), (U, 4 * U), (4 * U,)] * 2
    run_layer_test(Bidirectional, dict(layer=LSTM(U, return_sequences=return_sequences), merge_mode=merge_mode),
                   (N, T, D), out, weights)


@pytest.mark.parametrize("inner", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_equals_its_two_layers(inner, merge_mode, return_sequences):
    with floatx("float64"):
        x = np.random.default_rng(0).normal(size=(3, 4, 2))
        layer = Bidirectional(inner(3, return_sequences=return_sequences), merge_mode=merge_mode)
        y = layer(x)
        f, b = layer.forward_layer(x), layer.backward_layer(x)
        assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
        if return_sequences:
            b = b[:, ::-1]  # Keras flips the backward sequence back into time order
        want = {"concat": lambda: np.concatenate([f, b], -1), "sum": lambda: f + b, "mul": lambda: f * b,
                "ave": lambda: (f + b) / 2, None: lambda: [f, b]}[merge_mode]()
        if merge_mode is None:
            np.testing.assert_array_equal(y[0], want[0])
            np.testing.assert_array_equal(y[1], want[1])
        else:
            np.testing.assert_array_equal(y, want)
        names = [w.path.split("/")[0] for w in layer.weights]
        assert names[0].startswith("forward_") and names[-1].startswith("backward_")


def test_bidirectional_merge_none_and_states_description():
    check_description(lambda: Bidirectional(GRU(U, return_sequences=True), merge_mode=None), [(N, T, D)])
    check_description(lambda: Bidirectional(LSTM(U, return_state=True)), [(N, T, D)])
    out = Bidirectional(LSTM(U, return_state=True))(keras.Input((T, D)))
    assert [t.shape for t in out] == [(None, 2 * U)] + [(None, U)] * 4


def test_bidirectional_with_mask_and_dropout():
    class Make:
        def __call__(self):
            return lambda x: Bidirectional(GRU(U, return_sequences=True, dropout=0.3, recurrent_dropout=0.2))(
                Embedding(4, D, mask_zero=True, embeddings_initializer="random_normal")(x))

    check_description(Make(), [(N, T)], input_data=[np.array([[1, 0, 2], [3, 1, 0]])])
    with floatx("float64"):
        inp = keras.Input((4,))
        emb = Embedding(5, 2, mask_zero=True)
        bi = Bidirectional(LSTM(3, return_sequences=True))
        y = bi(emb(inp))
        assert y._keras_mask is not None
        ids = np.array([[1, 2, 0, 0]])
        got = keras.Model(inp, y).predict(ids, verbose=0)
        # Keras forces zero_output_for_mask on both directions when returning sequences.
        np.testing.assert_array_equal(got[0, 2:], 0.0)


def test_bidirectional_initial_state_and_errors():
    with pytest.raises(ValueError, match="Bidirectional: `layer` must be a recurrent layer"):
        Bidirectional(Dense(2))
    with pytest.raises(ValueError, match="invalid `merge_mode`"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="different `go_backwards`"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="`initial_state` must hold 4"):
        Bidirectional(LSTM(2))(keras.Input((3, 2)), initial_state=[keras.Input((2,))])
    with floatx("float64"):
        rng = np.random.default_rng(1)
        x, states = rng.normal(size=(2, 3, 2)), [rng.normal(size=(2, 2)) for _ in range(2)]
        layer = Bidirectional(GRU(2))
        got = layer(x, initial_state=states)
        f = layer.forward_layer(x, initial_state=states[:1])
        b = layer.backward_layer(x, initial_state=states[1:])
        np.testing.assert_array_equal(got, np.concatenate([f, b], -1))
    config = Bidirectional(LSTM(2), merge_mode="sum").get_config()
    clone = Bidirectional.from_config(config)
    assert clone.merge_mode == "sum" and clone.backward_layer.go_backwards


def test_time_distributed_dense():
    run_layer_test(TimeDistributed, dict(layer=Dense(3, activation="tanh")), (N, T, D), (N, T, 3), [(D, 3), (3,)])
    with floatx("float64"):
        x = np.random.default_rng(2).normal(size=(2, 4, 3))
        td = TimeDistributed(Dense(2, activation="relu"))
        np.testing.assert_array_equal(td(x), td.layer(x))  # Dense on 3-D inputs is per step too
        x4 = np.random.default_rng(3).normal(size=(2, 3, 2, 2))
        td4 = TimeDistributed(Dense(2))
        y = td4(x4)
        want = np.stack([td4.layer(x4[:, t]) for t in range(3)], 1)
        np.testing.assert_allclose(y, want, atol=1e-12)


def test_time_distributed_scales_per_sample_buffers():
    # Dropout asks for one uniform per value of its (per step) output: the wrapper draws T times as many.
    check_description(lambda: TimeDistributed(Dropout(0.5)), [(N, T, D)])
    check_description(lambda: TimeDistributed(LSTM(U)), [(N, T, 2, D)])
    out = TimeDistributed(LSTM(U, return_sequences=True))(keras.Input((T, 4, D)))
    assert out.shape == (None, T, 4, U)


def test_time_distributed_errors_and_config():
    with pytest.raises(ValueError, match="TimeDistributed .* at least 3-D"):
        TimeDistributed(Dense(2))(keras.Input((3,)))
    config = TimeDistributed(Dense(4)).get_config()
    clone = TimeDistributed.from_config(config)
    assert isinstance(clone.layer, Dense) and clone.layer.units == 4
    x = Embedding(4, 2, mask_zero=True)(keras.Input((3,)))
    assert TimeDistributed(Dense(2))(x)._keras_mask is x._keras_mask
