"""Embedding, Masking and pad_sequences: the shared layer test with integer ids, lookups against NumPy indexing,
masks (mask_zero, Masking) flowing to the recurrent layers, ids checked before compiled code, Keras's errors, and
pad_sequences against Keras's documented behaviour."""

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.layers import LSTM, Embedding, Masking
from support.layer_test import check_description, floatx, run_layer_test


def test_layer_test_2d_ids():
    ids = np.array([[1, 0, 4], [3, 3, 2]])
    run_layer_test(Embedding, dict(input_dim=5, output_dim=2), (2, 3), (2, 3, 2), [(5, 2)], input_data=ids)


def test_layer_test_any_rank():
    ids = np.array([[[1, 0], [4, 4]], [[3, 2], [0, 1]]])
    run_layer_test(Embedding, dict(input_dim=5, output_dim=3, mask_zero=True), (2, 2, 2), (2, 2, 2, 3), [(5, 3)],
                   input_data=ids)
    run_layer_test(Embedding, dict(input_dim=4, output_dim=2), (3,), (3, 2), [(4, 2)], input_data=np.array([0, 3, 1]))


def test_lookup_matches_numpy_and_defaults():
    layer = Embedding(7, 3)
    ids = np.array([[6, 0, 2, 2]])
    out = layer(ids)
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(out, table[ids])
    assert out.dtype == np.float32
    assert np.all(np.abs(table) <= 0.05) and table.std() > 0  # uniform(-0.05, 0.05)
    config = layer.get_config()
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert (config["input_dim"], config["output_dim"], config["mask_zero"]) == (7, 3, False)


def test_embedding_gradient_sums_repeated_ids():
    with floatx("float64"):
        inp = keras.Input((4,))
        layer = Embedding(5, 2)
        model = keras.Model(inp, layer(inp))
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        w0 = layer.get_weights()[0].copy()
        ids = np.array([[1, 1, 3, 1]])
        y = np.zeros((1, 4, 2))
        model.train_on_batch(ids, y)
        grad = np.zeros_like(w0)
        for t, i in enumerate(ids[0]):
            grad[i] += 2 * w0[i] / 8  # d mse / d out
        np.testing.assert_allclose(layer.get_weights()[0], w0 - grad, rtol=1e-12)


def test_mask_zero_reaches_the_rnn():
    with floatx("float64"):
        inp = keras.Input((4,))
        emb = Embedding(6, 2, mask_zero=True)
        x = emb(inp)
        assert x._keras_mask.shape == (None, 4)
        lstm = LSTM(3)
        model = keras.Model(inp, lstm(x))
        ids = np.array([[3, 0, 0, 5], [1, 2, 0, 0]])
        got = model.predict(ids, verbose=0)
        # Masked steps carry the state: the same as running on the kept steps only.
        plain = keras.Model(inp, LSTM.from_config({**lstm.get_config(), "name": "p"})(Embedding(6, 2)(inp)))
        plain.set_weights(model.get_weights())
        np.testing.assert_allclose(got[0], _kept(plain, [3, 5]), atol=1e-12)
        np.testing.assert_allclose(got[1], _kept(plain, [1, 2]), atol=1e-12)
        np.testing.assert_array_equal(emb.compute_mask(ids), ids != 0)


def _kept(model, ids):
    """The model on a sequence of only these ids (a shorter Input)."""
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    inp = keras.Input((len(ids),))
    emb = Embedding(6, 2)
    lstm = LSTM.from_config({**layers[1].get_config(), "name": f"k{len(ids)}{ids[0]}"})
    out = lstm(emb(inp))
    emb.set_weights(layers[0].get_weights())
    lstm.set_weights(layers[1].get_weights())
    return keras.Model(inp, out).predict(np.array([ids]), verbose=0)[0]


def test_masking_layer():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], "float32")
    layer = Masking(0.0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(Masking(3.0)(np.full((1, 2, 2), 3.0, "float32")), 0.0)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    sym = Masking()(keras.Input((3, 2)))
    assert sym._keras_mask.shape == (None, 3)
    assert Masking(mask_value=2.5).get_config()["mask_value"] == 2.5
    check_description(lambda: Masking(5.0), [(2, 3, 2)])  # no step equals 5: gradients pass through
    with pytest.raises(ValueError, match="Masking: `mask_value`"):
        Masking("x")


def test_ids_are_checked_before_compiled_code():
    layer = Embedding(5, 2, name="emb")
    layer(np.array([[0, 4]]))
    for bad, what in ((5, "out of range"), (-1, "out of range"), (1.5, "not an integer"), (np.nan, "not an integer")):
        with pytest.raises(ValueError, match=f"Embedding 'emb': input 0 holds the index .*{what}"):
            layer.check_input_values(0, np.array([[0.0, bad]]))
        with pytest.raises(ValueError, match="Embedding 'emb'"):
            layer(np.array([[0.0, bad]]))
    layer.check_input_values(0, np.array([[0, 4]], np.int64))
    with pytest.raises(ValueError, match="must hold integer indices"):
        layer.check_input_values(0, np.array([True]))
    # A model checks its input data with the layer before compiled code runs (the kernel is the backstop).
    inp = keras.Input((2,))
    model = keras.Model(inp, Embedding(5, 2, name="first")(inp))
    with pytest.raises(ValueError, match="Embedding 'first'|index is not an integer"):
        model.predict(np.array([[0.5, 1.0]]), verbose=0)
    from nbkeras.kernels.cpu import embedding as kernels

    with pytest.raises(ValueError, match="index is not an integer"):
        kernels.embedding_forward(np.array([0.5]), np.zeros((5, 2)), np.zeros((1, 2)))


def test_arguments():
    with pytest.raises(ValueError, match="Embedding: `input_dim` must be a positive integer"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="Embedding: `output_dim`"):
        Embedding(3, 2.5)
    model = keras.Sequential([Embedding(10, 4, input_length=6), LSTM(2)])
    assert model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="exceeds 2\\*\\*24"):
        Embedding(2**24 + 1, 1)(keras.Input((2,)))


def test_pad_sequences():
    from nbkeras.preprocessing.sequence import pad_sequences as keras2

    seqs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    pad = keras.utils.pad_sequences
    assert pad is keras2
    np.testing.assert_array_equal(pad(seqs), [[0, 1, 2, 3], [0, 0, 4, 5], [6, 7, 8, 9]])
    np.testing.assert_array_equal(pad(seqs, padding="post"), [[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    np.testing.assert_array_equal(pad(seqs, maxlen=2), [[2, 3], [4, 5], [8, 9]])
    np.testing.assert_array_equal(pad(seqs, maxlen=2, truncating="post"), [[1, 2], [4, 5], [6, 7]])
    np.testing.assert_array_equal(pad([[1], []], maxlen=3, value=-1), [[-1, -1, 1], [-1, -1, -1]])
    assert pad(seqs).dtype == np.int32 and pad(seqs, dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(pad([[[1, 2]], [[3, 4], [5, 6]]]), [[[0, 0], [1, 2]], [[3, 4], [5, 6]]])
    assert pad([["a", "b"]], maxlen=3, dtype=object, value="").tolist() == [["", "a", "b"]]
    with pytest.raises(ValueError, match="Padding type"):
        pad(seqs, padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        pad(seqs, truncating="x")
    with pytest.raises(ValueError, match="not compatible"):
        pad(seqs, value="x")
    with pytest.raises(ValueError, match="non-iterable"):
        pad([1, 2])
