"""Bundled data sets (no download at run time), and Keras's ``mnist`` read from Keras's own cache when present."""

from . import digits, mnist

__all__ = ["digits", "mnist"]


def __getattr__(name):
    if name in ("cifar10", "cifar100", "fashion_mnist", "imdb", "reuters", "boston_housing", "california_housing"):
        raise AttributeError(f"keras.datasets.{name} is not available in nbkeras: it downloads nothing at run time. "
                             f"Load the arrays yourself (numpy.load) and pass them to fit(); nbkeras.datasets.digits "
                             f"is bundled")
    raise AttributeError(f"module 'nbkeras.datasets' has no attribute {name!r}")
