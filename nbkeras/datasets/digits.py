"""The UCI handwritten digits: 1,797 8x8 images of pixel counts 0..16 with labels 0..9, bundled with nbkeras.

Data: the test set of the UCI Machine Learning Repository's "Optical Recognition of Handwritten Digits" data set by
E. Alpaydin and C. Kaynak (1998), licensed CC BY 4.0; the file is the copy
scikit-learn ships (sklearn/datasets/data/digits.csv.gz). See README.md in this folder.
"""

import gzip
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")
_SPLIT_SEED = 20261125  # fixed: the same train/test split on every machine and version


def load_data(test_split=0.2):
    """Return ``(x_train, y_train), (x_test, y_test)``.

    x: uint8 arrays of shape (n, 8, 8) with pixel counts 0..16; y: uint8 labels 0..9. The split is a fixed
    shuffle (seeded), ``test_split`` of the samples going to the test set (360 of 1,797 by default).
    """
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"test_split must be in (0, 1), got {test_split!r}")
    with gzip.open(_PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    x = table[:, :64].reshape(-1, 8, 8).astype(np.uint8)
    y = table[:, 64].astype(np.uint8)
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(y))
    n_test = int(round(len(y) * test_split))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
