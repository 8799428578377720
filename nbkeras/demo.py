"""python -m nbkeras.demo [--cnn]: train a Keras-style model on the bundled digits and print the test accuracy.

Written exactly as a Keras script would be, with ``import nbkeras as keras``: an MLP by default, a small CNN over
the 8x8 images with ``--cnn``.
"""

import argparse
import time

import nbkeras as keras
from nbkeras.datasets import digits


def mlp():
    return keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def cnn():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def main(epochs=None, seed=0, use_cnn=False):
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    shape = (-1, 8, 8, 1) if use_cnn else (-1, 64)
    x_train = x_train.reshape(shape).astype("float32") / 16.0
    x_test = x_test.reshape(shape).astype("float32") / 16.0

    model = cnn() if use_cnn else mlp()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs or (60 if use_cnn else 30), validation_split=0.1,
              verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"(digits: {len(x_train)} training and {len(x_test)} test images; {time.perf_counter() - start:.1f} s "
          f"from start, compile included)")
    return accuracy


def cli(argv=None):
    """Console-script entry point (its return value would become the exit status)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cnn", action="store_true", help="train a small CNN instead of the MLP")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)
    main(epochs=args.epochs, use_cnn=args.cnn)


if __name__ == "__main__":
    cli()
