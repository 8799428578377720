"""python -m nbkeras.demo: train a Keras-style MLP on the bundled digits and print the test accuracy.

Written exactly as a Keras script would be, with ``import nbkeras as keras``.
"""

import time

import nbkeras as keras
from nbkeras.datasets import digits


def main(epochs=30, seed=0):
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train.reshape(-1, 64).astype("float32") / 16.0
    x_test = x_test.reshape(-1, 64).astype("float32") / 16.0

    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"(digits: {len(x_train)} training and {len(x_test)} test images; {time.perf_counter() - start:.1f} s "
          f"from start, compile included)")
    return accuracy


def cli():
    """Console-script entry point (its return value would become the exit status)."""
    main()


if __name__ == "__main__":
    cli()
