"""`CSVLogger`: append one CSV row per epoch to a file (Keras's `keras.callbacks.CSVLogger`).

Columns: `epoch`, then the first epoch's log keys sorted; when that epoch had no `val_` keys, `val_<key>` columns
are added for every key (validation may start later, e.g. with validation_freq), and missing values read `NA`.
Rows end in "\\r\\n" (the csv module's excel dialect, as Keras writes them). Each row is formatted in memory and
written with a single write and a flush, so an interrupted run leaves complete rows only.
"""

import csv
import io
import os

import numpy as np

from .callback import Callback


def _cell(value):
    # Keras's rule: strings as they are, sequences as "[a, b]" in literal double quotes, anything else as is.
    if isinstance(value, str):
        return value
    if hasattr(value, "__iter__") and not (isinstance(value, np.ndarray) and value.ndim == 0):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Streams epoch results to a CSV file.

    Args:
        filename: path of the CSV file (str or path-like).
        separator: the field separator, default ",".
        append: True appends to an existing file (writing the header only if the file is empty); False overwrites.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename, "r", newline="") as existing:
                self.append_header = not existing.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # newline="": the csv module writes its own "\r\n"; text-mode translation must not touch it.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect="excel", delimiter=self.sep)
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
            if self.append_header:
                writer.writerow(["epoch"] + self.keys)
        writer.writerow([epoch] + [_cell(logs.get(key, "NA")) for key in self.keys])
        self.csv_file.write(buffer.getvalue())
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
