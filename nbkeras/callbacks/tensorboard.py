"""`TensorBoard`: write training metrics as TensorBoard event files (Keras's `keras.callbacks.TensorBoard`).

Layout and tags follow Keras 3:
- `log_dir/train`: per epoch `epoch_<name>` for every training log key, plus `epoch_learning_rate` (the
  optimizer's current rate) and, with `write_steps_per_second`, `epoch_steps_per_second`; step = epoch (from 0).
- `log_dir/validation`: per epoch `epoch_<name>` for every `val_<name>` key, step = epoch; after every
  evaluation pass (validation in `fit`, or `evaluate`) `evaluation_<name>_vs_iterations` with step = the
  optimizer's iteration count.
- `update_freq` an int N (or "batch", meaning 1): in `log_dir/train`, `batch_<name>` for the running batch logs at
  every N-th training batch, step = the count of training batch calls since `fit` began (from 1), and
  `batch_steps_per_second` with `write_steps_per_second`.
- `histogram_freq` N > 0: every N-th epoch (epoch % N == 0), a histogram of each weight of each layer of
  `model.layers`, tag `<weight path>/histogram`, step = epoch; with `write_images` also `<weight path>/image`
  for weights that can be drawn (1-D, 2-D and 3-D kernels, as Keras; a 3-D kernel gives up to 3 images tagged
  `<weight path>/image/<i>`), as grayscale PNGs encoded here (no Pillow needed).

Events reach the disk as tensorboardX's writer thread flushes them (at the latest every 120 s, as TensorFlow's
writers) and completely when `fit` ends (and when a standalone `evaluate` ends): the files are closed then.

The files are written by tensorboardX (no TensorFlow needed), an optional extra: `pip install "nbkeras[tensorboard]"`.
"""

import os
import struct
import time
import zlib

import numpy as np

from .callback import Callback

_MISSING_EXTRA = ('TensorBoard needs the tensorboardX package, an optional extra of nbkeras: '
                  'pip install "nbkeras[tensorboard]" (or pip install tensorboardX).')


class MissingExtraError(ImportError, ValueError):
    """Raised when an optional extra's package is not installed (an ImportError, and a ValueError too)."""


def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as error:
        raise MissingExtraError(_MISSING_EXTRA) from error
    return SummaryWriter


def _scalar(value):
    return float(np.asarray(value, dtype=np.float64).reshape(()))


def _weight_image(values):
    """A weight arranged as Keras draws it: NHWC float array, or None when it cannot be drawn."""
    img = np.squeeze(np.asarray(values, dtype=np.float32))
    if img.ndim == 1:  # a bias: one row
        img = img.reshape(1, img.shape[0], 1, 1)
    elif img.ndim == 2:  # a dense kernel, the longer side horizontal
        if img.shape[0] > img.shape[1]:
            img = img.T
        img = img.reshape(1, img.shape[0], img.shape[1], 1)
    elif img.ndim == 3:  # a 1-D convolution kernel (width, in, out): one image per output channel
        img = np.transpose(img, (2, 0, 1))[..., None]
    else:
        return None
    return img


def _png_gray(pixels):
    """A 2-D uint8 array encoded as an 8-bit grayscale PNG (written here, so Pillow is not needed)."""
    height, width = pixels.shape

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class TensorBoard(Callback):
    """Writes logs for TensorBoard: scalars per epoch (and per batch), weight histograms.

    Args:
        log_dir: directory of the logs; event files go to `log_dir/train` and `log_dir/validation`.
        histogram_freq: every how many epochs to write histograms of the layers' weights (0: never).
        write_graph: accepted for compatibility; nbkeras writes no graph (its models are not TensorFlow graphs).
        write_images: with `histogram_freq`, also draw the weights as images.
        write_steps_per_second: also log training steps per second (per epoch, and per batch when batches are
            logged).
        update_freq: "epoch" (scalars once per epoch), "batch" (every batch) or an int N (every N batches; the
            batch scalars then also go to `log_dir/train` with the `batch_` prefix).
        profile_batch: must be 0 -- nbkeras has no profiler; anything else raises ValueError.
        embeddings_freq: must be 0 -- embedding projector files are not written; anything else raises ValueError.
        embeddings_metadata: must be None, for the same reason.

    Raises:
        ImportError (also a ValueError) naming the `nbkeras[tensorboard]` extra when tensorboardX is absent.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._writer_class = _summary_writer_class()
        if profile_batch not in (0, None, "0", "0,0", (0, 0), [0, 0]):
            raise ValueError(f"TensorBoard: profiling is not available in nbkeras. Received: "
                             f"profile_batch={profile_batch!r} (must be 0)")
        if embeddings_freq:
            raise ValueError(f"TensorBoard: embeddings are not written by nbkeras. Received: "
                             f"embeddings_freq={embeddings_freq!r} (must be 0)")
        if embeddings_metadata is not None:
            raise ValueError(f"TensorBoard: embeddings are not written by nbkeras. Received: "
                             f"embeddings_metadata={embeddings_metadata!r} (must be None)")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer))
                                       or update_freq < 1):
            raise ValueError(f'TensorBoard: update_freq must be "epoch", "batch" or a positive int. '
                             f"Received: update_freq={update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, (int, np.integer)) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0. Received: {histogram_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq if update_freq == "epoch" else int(update_freq)
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._in_fit = False
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0

    # ------------------------------------------------------------ writers
    def set_model(self, model):
        super().set_model(model)
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()

    def _writer(self, which):
        writer = self._writers.get(which)
        if writer is None:
            logdir = os.path.join(self.log_dir, "train" if which == "train" else "validation")
            writer = self._writer_class(logdir=logdir)
            self._writers[which] = writer
        return writer

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _batch_logging(self):
        return self.update_freq != "epoch"

    def _implements_train_batch_hooks(self):
        # Batch hooks make the trainer run one step per call; only ask for them when batches are logged.
        return self._batch_logging() or super()._implements_train_batch_hooks()

    # ------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._writer("train")

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._previous_epoch_iterations = self._iterations()
            self._epoch_start_time = time.time()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if not self._batch_logging() or self._global_train_batch % self.update_freq != 0:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = time.time() - self._batch_start_time
            writer.add_scalar("batch_steps_per_second", 1.0 / elapsed if elapsed > 0 else float("inf"), step)
        if isinstance(logs, dict):
            for name, value in logs.items():
                writer.add_scalar(f"batch_{name}", _scalar(value), step)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if logs and optimizer is not None and hasattr(optimizer, "iterations"):
            writer = self._writer("validation")
            step = int(optimizer.iterations)
            for name, value in logs.items():
                writer.add_scalar(f"evaluation_{name}_vs_iterations", _scalar(value), step)
        if not self._in_fit:  # a standalone evaluate(): nothing else will close the files
            self._close_writers()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    # ------------------------------------------------------------ helpers
    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return int(getattr(optimizer, "iterations", 0) or 0)

    def _learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            return None
        if hasattr(optimizer, "lr_at"):  # the rate of the next step, schedules and decay applied
            return float(optimizer.lr_at(self._iterations()))
        rate = optimizer.learning_rate
        if callable(rate):
            rate = rate(self._iterations())
        try:
            return _scalar(rate)
        except (TypeError, ValueError):
            return None

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        rate = self._learning_rate()
        if rate is not None:
            train_logs["learning_rate"] = rate
        if self.write_steps_per_second:
            elapsed = time.time() - self._epoch_start_time
            steps = self._iterations() - self._previous_epoch_iterations
            train_logs["steps_per_second"] = steps / elapsed if elapsed > 0 else float("inf")
        for which, values in (("train", train_logs), ("validation", val_logs)):
            if values:
                writer = self._writer(which)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", _scalar(value), epoch)

    @staticmethod
    def _log_weight_as_image(writer, tag, values, epoch):
        from tensorboardX.proto.summary_pb2 import Summary

        images = _weight_image(values)
        if images is None:
            return
        # As TensorFlow's image summary: floats taken as [0, 1], saturated, scaled to 0..255; at most 3 images.
        pixels = np.round(np.clip(images[..., 0], 0.0, 1.0) * 255.0).astype(np.uint8)
        count = min(len(pixels), 3)
        summary = Summary()
        for i in range(count):
            img = np.ascontiguousarray(pixels[i])
            summary.value.add(tag=tag if count == 1 else f"{tag}/{i}",
                              image=Summary.Image(height=img.shape[0], width=img.shape[1], colorspace=1,
                                                  encoded_image_string=_png_gray(img)))
        writer._get_file_writer().add_summary(summary, epoch)

    def _log_weights(self, epoch):
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = str(getattr(weight, "path", None) or weight.name).replace(":", "_")
                values = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight, dtype=np.float64)
                writer.add_histogram(f"{name}/histogram", values, epoch)
                if self.write_images:
                    self._log_weight_as_image(writer, f"{name}/image", values, epoch)
