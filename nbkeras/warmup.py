"""python -m nbkeras.warmup: fill the compile cache with every kernel, so that nothing compiles at run time.

For container images and devices that should never compile after deployment: run it once where the image is
built (or on the device), with the same ``NBKERAS_CACHE_DIR`` the application will use, the same nbkeras, numba
and CPU family (numba's cache is keyed on them), then ship the cache folder (it may be made read-only: nbkeras
then loads from it and writes nothing; see the README).

It trains tiny models, one batch each and eagerly (``run_eagerly=True``, so only the kernels compile, not a train
step per model), over every layer type, activation, optimizer and loss, and the metrics' kernels, then evaluates
and predicts with them. The train step of a model structure is still compiled once per structure, in the
background, while its first batches run on these kernels (see nbkeras/models/engine.py).

    python -m nbkeras.warmup [--floatx float32,float64] [--only NAME,...] [--list]
"""

import argparse
import sys
import time

import numpy as np

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "softplus",
               "softsign", "swish", "silu", "gelu", "exponential", "celu", "mish", "log_sigmoid", "squareplus",
               "tanh_shrink", "hard_silu", "hard_swish", "hard_tanh", "sparse_plus", "sparse_sigmoid", "soft_shrink",
               "hard_shrink", "softmax", "log_softmax", "sparsemax")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
LOSSES = ("mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
          "mean_squared_logarithmic_error", "huber", "log_cosh", "poisson", "kl_divergence", "cosine_similarity",
          "binary_crossentropy", "categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge")


def _recipes(keras):
    """(name, build, x shape, target kind, compile kwargs): each builds a small model over one family."""
    L = keras.layers

    def seq(shape, *layers):
        return lambda: keras.Sequential([keras.Input(shape)] + [f() for f in layers])

    def merged(op):
        def build():
            a, b = keras.Input((6,)), keras.Input((6,))
            return keras.Model([a, b], L.Dense(3, activation="softmax")(op()([L.Dense(6)(a), L.Dense(6)(b)])))
        return build

    dense_head = lambda: L.Dense(3, activation="softmax")  # noqa: E731
    out = []
    for act in ACTIVATIONS:
        out.append((f"dense_{act}", seq((6,), lambda a=act: L.Dense(5, activation=a), dense_head), "sparse", {}))
    out += [
        ("conv1d", seq((12, 3), lambda: L.Conv1D(4, 3, activation="relu"), lambda: L.Conv1D(4, 3, strides=2,
                                                                                         padding="same"),
                       lambda: L.MaxPooling1D(), lambda: L.AveragePooling1D(2), lambda: L.GlobalMaxPooling1D(),
                       dense_head), "sparse", {}),
        ("conv1d_more", seq((12, 3), lambda: L.Conv1DTranspose(4, 3), lambda: L.DepthwiseConv1D(3),
                            lambda: L.SeparableConv1D(4, 3), lambda: L.UpSampling1D(), lambda: L.ZeroPadding1D(),
                            lambda: L.Cropping1D(), lambda: L.SpatialDropout1D(0.2),
                            lambda: L.GlobalAveragePooling1D(), dense_head), "sparse", {}),
        ("conv2d", seq((8, 8, 2), lambda: L.Conv2D(4, 3, activation="relu"), lambda: L.MaxPooling2D(),
                       lambda: L.Conv2D(4, 3, padding="same"), lambda: L.AveragePooling2D(2), lambda: L.Flatten(),
                       dense_head), "sparse", {}),
        ("conv2d_more", seq((8, 8, 2), lambda: L.Conv2DTranspose(4, 3, strides=2), lambda: L.DepthwiseConv2D(3),
                            lambda: L.SeparableConv2D(4, 3), lambda: L.UpSampling2D(), lambda: L.ZeroPadding2D(),
                            lambda: L.Cropping2D(), lambda: L.SpatialDropout2D(0.2),
                            lambda: L.MaxPooling2D(3, strides=2), lambda: L.GlobalMaxPooling2D(), dense_head),
         "sparse", {}),
        ("conv2d_norm", seq((8, 8, 2), lambda: L.Conv2D(4, 3), lambda: L.BatchNormalization(),
                            lambda: L.Activation("relu"), lambda: L.GlobalAveragePooling2D(), dense_head),
         "sparse", {}),
        ("normalization", seq((6,), lambda: L.Dense(6), lambda: L.LayerNormalization(),
                              lambda: L.BatchNormalization(), lambda: L.UnitNormalization(),
                              lambda: L.Normalization(mean=0.5, variance=2.0), lambda: L.Rescaling(0.5, 0.1),
                              dense_head), "sparse", {}),
        ("noise", seq((6,), lambda: L.Dense(6), lambda: L.Dropout(0.2), lambda: L.GaussianNoise(0.1),
                      lambda: L.GaussianDropout(0.1), lambda: L.AlphaDropout(0.1),
                      lambda: L.ActivityRegularization(0.01, 0.01), dense_head), "sparse", {}),
        ("shapes", seq((6,), lambda: L.RepeatVector(4), lambda: L.Permute((2, 1)), lambda: L.Reshape((4, 6)),
                       lambda: L.Masking(), lambda: L.TimeDistributed(L.Dense(3)), lambda: L.Flatten(), dense_head),
         "sparse", {}),
        ("simple_rnn", seq((5, 3), lambda: L.SimpleRNN(4, return_sequences=True), lambda: L.SimpleRNN(4),
                           dense_head), "sparse", {}),
        ("lstm", seq((5, 3), lambda: L.LSTM(4, return_sequences=True), lambda: L.LSTM(4), dense_head), "sparse", {}),
        ("gru", seq((5, 3), lambda: L.GRU(4, return_sequences=True), lambda: L.GRU(4, reset_after=False),
                    dense_head), "sparse", {}),
        ("bidirectional", seq((5, 3), lambda: L.Bidirectional(L.LSTM(4)), dense_head), "sparse", {}),
        ("embedding", seq((5,), lambda: L.Embedding(20, 4), lambda: L.GlobalAveragePooling1D(), dense_head),
         "sparse_tokens", {}),
        ("lambda", seq((6,), lambda: L.Dense(6), lambda: L.Lambda(lambda t: t * 2.0 + 1.0), dense_head),
         "sparse", {}),
    ]
    for name, op in (("add", L.Add), ("subtract", L.Subtract), ("multiply", L.Multiply), ("average", L.Average),
                     ("maximum", L.Maximum), ("minimum", L.Minimum), ("concatenate", L.Concatenate),
                     ("dot", lambda: L.Dot(axes=1))):
        out.append((f"merge_{name}", merged(op), "sparse_pair", {}))
    for opt in OPTIMIZERS:
        out.append((f"optimizer_{opt}", seq((6,), lambda: L.Dense(4, activation="relu"), dense_head), "sparse",
                    {"optimizer": opt}))
    for loss in LOSSES:
        out.append((f"loss_{loss}", seq((6,), lambda: L.Dense(3, activation="softmax")), "onehot",
                    {"loss": loss}))
    metrics = ["accuracy", "mae", "mse", "auc", "precision", "recall", keras.metrics.F1Score(),
               keras.metrics.R2Score(), keras.metrics.MeanIoU(3), keras.metrics.TopKCategoricalAccuracy(2),
               "categorical_crossentropy", "kl_divergence"]
    out.append(("metrics", seq((6,), lambda: L.Dense(3, activation="softmax")), "onehot",
                {"loss": "categorical_crossentropy", "metrics": metrics}))
    return out


def _data(kind, shape, rng, dtype):
    n = 8
    if kind == "sparse_tokens":
        x = rng.integers(0, 20, size=(n,) + shape)
    elif kind == "sparse_pair":
        x = [rng.normal(size=(n, 6)).astype(dtype), rng.normal(size=(n, 6)).astype(dtype)]
    else:
        x = rng.normal(size=(n,) + shape).astype(dtype)
    labels = rng.integers(0, 3, size=n)
    y = np.eye(3, dtype=dtype)[labels] if kind == "onehot" else labels
    return x, y


def _warm_step_helpers(keras, dtype):
    """Compile one generated train step (waiting for it), so the small view helpers every step calls are cached
    too (kernels/cpu/views.py: the eager interpreter does not use them)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data("sparse", (6,), np.random.default_rng(0), dtype)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model._engine._function()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.predict(x, batch_size=4, verbose=0)


def run(names=None, floatx=("float32",), out=sys.stdout):
    """Warm every recipe (or those named), once per float type; returns the number of models run."""
    import nbkeras as keras

    recipes = _recipes(keras)
    known = {r[0] for r in recipes}
    if names:
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"nbkeras.warmup: unknown recipe(s) {unknown}; --list shows them")
        recipes = [r for r in recipes if r[0] in names]
    previous = keras.backend.floatx()
    count = 0
    try:
        for dtype in floatx:
            keras.backend.set_floatx(dtype)
            for name, build, kind, extra in recipes:
                t = time.perf_counter()
                keras.utils.set_random_seed(0)
                model = build()
                shape = tuple(model.inputs[0].shape[1:])
                x, y = _data(kind, shape, np.random.default_rng(0), dtype)
                args = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
                args.update(extra)
                model.compile(run_eagerly=True, **args)
                model.fit(x, y, batch_size=4, epochs=1, verbose=0)
                model.evaluate(x, y, batch_size=4, verbose=0)
                model.predict(x, batch_size=4, verbose=0)
                count += 1
                if out is not None:
                    print(f"{dtype:8s} {name:40s} {time.perf_counter() - t:6.2f} s", file=out, flush=True)
            t = time.perf_counter()
            _warm_step_helpers(keras, dtype)
            if out is not None:
                print(f"{dtype:8s} {'(a compiled step: its view helpers)':40s} {time.perf_counter() - t:6.2f} s",
                      file=out, flush=True)
    finally:
        keras.backend.set_floatx(previous)
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nbkeras.warmup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floatx", default="float32", help="comma-separated float types (default: float32)")
    parser.add_argument("--only", default="", help="comma-separated recipe names (default: all)")
    parser.add_argument("--list", action="store_true", help="print the recipe names and exit")
    args = parser.parse_args(argv)
    import nbkeras as keras
    from nbkeras.kernels import policy

    if args.list:
        print("\n".join(r[0] for r in _recipes(keras)))
        return 0
    floatx = tuple(f.strip() for f in args.floatx.split(",") if f.strip())
    for f in floatx:
        if f not in ("float32", "float64"):
            parser.error(f"--floatx: expected float32 and/or float64, got {f!r}")
    if policy.CACHE_DIR is None:
        print("nbkeras.warmup: the compile cache is off (NBKERAS_CACHE=0, or no usable folder): nothing would be "
              "kept", file=sys.stderr)
        return 2
    t = time.perf_counter()
    n = run([s.strip() for s in args.only.split(",") if s.strip()] or None, floatx)
    print(f"nbkeras.warmup: {n} models, {time.perf_counter() - t:.1f} s; cache: {policy.CACHE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
