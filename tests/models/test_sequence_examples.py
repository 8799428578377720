"""The issue's two sequence examples, as tests that train and must beat chance clearly: text classification with
Embedding -> Bidirectional(LSTM) -> Dense on synthetic integer sequences (padded by pad_sequences, masked), and a
sensor-window classifier with a GRU."""

import numpy as np

import nbkeras as keras


def _texts(rng, n, vocab=30):
    """Variable-length token sequences; the label says whether the 'keyword' token 7 occurs (balanced)."""
    seqs, labels = [], []
    for i in range(n):
        length = int(rng.integers(3, 12))
        seq = rng.choice([t for t in range(1, vocab) if t != 7], size=length)
        label = i % 2
        if label:
            seq[rng.integers(0, length)] = 7
        seqs.append(seq.tolist())
        labels.append(label)
    return keras.utils.pad_sequences(seqs, maxlen=12), np.array(labels, "float32")


def test_text_classification_embedding_bidirectional_lstm():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = _texts(rng, 480)
    x_test, y_test = _texts(rng, 200)
    model = keras.Sequential([
        keras.Input((12,)),
        keras.layers.Embedding(30, 8, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(8)),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85, accuracy


def _windows(rng, n, steps=24):
    """Noisy sensor windows: class 0 a slow oscillation, class 1 a fast one, random phase and amplitude."""
    t = np.arange(steps)
    labels = rng.integers(0, 2, n)
    freq = np.where(labels == 1, 0.45, 0.12)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    x = amp * np.sin(freq * t + phase) + 0.2 * rng.normal(size=(n, steps))
    return x[..., None].astype("float32"), labels


def test_sensor_windows_gru():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x, y = _windows(rng, 400)
    x_test, y_test = _windows(rng, 200)
    inp = keras.Input((24, 1))
    h = keras.layers.GRU(8)(inp)
    out = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85, accuracy
