"""The models whose summaries are compared with Keras 3's text (built the same way in either library)."""


def mlp(k):
    return k.Sequential([k.Input((20,)), k.layers.Dense(64, activation="relu", name="hidden_1"),
                         k.layers.Dropout(0.1, name="dropout"), k.layers.Dense(10, activation="softmax", name="out")],
                        name="mlp")


def two_inputs(k):
    a, b = k.Input((4,), name="a"), k.Input((3,), name="b")
    h = k.layers.Dense(5, activation="relu", name="h")(a)
    c = k.layers.Concatenate(name="cat")([h, b])
    o1 = k.layers.Dense(1, name="o1")(c)
    o2 = k.layers.Dense(2, activation="softmax", name="o2")(c)
    return k.Model([a, b], [o1, o2], name="fm")


def cnn(k):
    return k.Sequential([k.Input((8, 8, 1)), k.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
                         k.layers.BatchNormalization(name="batch_normalization"),
                         k.layers.MaxPooling2D(name="max_pooling2d"), k.layers.Flatten(name="flatten"),
                         k.layers.Dense(10, activation="softmax", name="dense")], name="cnn")


def rnn(k):
    return k.Sequential([k.Input((10,)), k.layers.Embedding(100, 8, name="embedding"), k.layers.LSTM(16, name="lstm"),
                         k.layers.Dense(1, activation="sigmoid", name="dense")], name="rnn")


def rnn_functional(k):
    tokens = k.Input((10,), name="tokens")
    h = k.layers.Embedding(100, 8, name="embedding")(tokens)
    h = k.layers.LSTM(16, name="lstm")(h)
    out = k.layers.Dense(1, activation="sigmoid", name="dense")(h)
    return k.Model(tokens, out, name="rnn_functional")


MODELS = {"mlp": mlp, "two_inputs": two_inputs, "cnn": cnn, "rnn": rnn, "rnn_functional": rnn_functional}
#: (model, summary keyword arguments, compile and train one batch first?)
SCENARIOS = [
    ("mlp", {}, False),
    ("mlp", {"line_length": 70, "show_trainable": True}, True),
    ("two_inputs", {}, False),
    ("two_inputs", {"show_trainable": True, "line_length": 76}, False),
    ("cnn", {}, False),
    ("cnn", {"line_length": 60}, True),
    ("cnn", {"positions": [0.5, 0.7, 1.0], "line_length": 100}, False),
    ("rnn", {}, False),
    ("rnn", {"line_length": 64, "show_trainable": True}, True),
    ("rnn_functional", {}, False),
    ("rnn_functional", {"line_length": 80, "show_trainable": True}, True),
]
