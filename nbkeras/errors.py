"""Error types that satisfy both Keras generations.

Where Keras 2 documents one exception type and Keras 3 raises another for the same misuse, nbkeras raises a class
deriving from both, so ``except RuntimeError`` (Keras 2 code) and ``except ValueError`` (Keras 3 code) both work.
"""


class NotCompiledError(RuntimeError, ValueError):
    """The model is used for training or evaluation before ``compile()`` (RuntimeError in Keras 2's docs,
    ValueError in Keras 3)."""


class ArgumentError(TypeError, ValueError):
    """An unknown keyword argument (TypeError in Keras 2, ValueError in Keras 3)."""


def check_kwargs(kwargs, allowed, owner):
    """Reject keyword arguments Keras would not understand, naming them."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ArgumentError(f"Unrecognized keyword arguments passed to {owner}: {unknown}")


class DataTypeError(TypeError, ValueError):
    """Data that are not numbers (Keras 3 raises ValueError for a string array; TypeError is the natural type)."""
