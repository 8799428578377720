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


MODELS = {"mlp": mlp, "two_inputs": two_inputs, "cnn": cnn}
#: (model, summary keyword arguments, compile and train one batch first?)
SCENARIOS = [
    ("mlp", {}, False),
    ("mlp", {"line_length": 70, "show_trainable": True}, True),
    ("two_inputs", {}, False),
    ("two_inputs", {"show_trainable": True, "line_length": 76}, False),
    ("cnn", {}, False),
    ("cnn", {"line_length": 60}, True),
    ("cnn", {"positions": [0.5, 0.7, 1.0], "line_length": 100}, False),
]
