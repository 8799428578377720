"""``keras.datasets.mnist.load_data``, without a download: nbkeras reads ``mnist.npz`` where Keras caches it
(``~/.keras/datasets/``, or ``$KERAS_HOME/datasets/``), or from the ``path`` given, and says where to put it when
it is missing (nothing is fetched at run time)."""

import os

import numpy as np


def _cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def load_data(path="mnist.npz"):
    """((x_train, y_train), (x_test, y_test)): uint8 images (n, 28, 28) and uint8 labels, as Keras returns them."""
    full = path if os.path.isabs(path) else os.path.join(_cache_dir(), path)
    if not os.path.exists(full):
        raise FileNotFoundError(
            f"keras.datasets.mnist.load_data: {full} does not exist. nbkeras downloads nothing at run time: copy "
            f"Keras's mnist.npz (from a machine where keras.datasets.mnist.load_data() has run, or from "
            f"https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz) to that path")
    with np.load(full, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
