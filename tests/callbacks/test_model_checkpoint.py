"""ModelCheckpoint: file names, save_best_only, weights-only, batch frequency, and kill -9 during saves."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.callbacks import ModelCheckpoint


def _model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    return m


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def test_every_epoch_with_formatted_names(tmp_path):
    x, y = _data()
    model = _model()
    pattern = str(tmp_path / "sub" / "ckpt-{epoch:02d}-{loss:.3f}.keras")
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(pattern, monitor="loss")])
    names = sorted(os.listdir(tmp_path / "sub"))
    assert names == [f"ckpt-{e + 1:02d}-{loss:.3f}.keras" for e, loss in enumerate(hist.history["loss"])]
    last = keras.models.load_model(tmp_path / "sub" / names[-1])
    np.testing.assert_array_equal(last.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_best_only_and_threshold(tmp_path):
    x, y = _data()
    path = tmp_path / "best.weights.h5"
    saved = []

    class Spy(ModelCheckpoint):
        def _save_model(self, epoch, batch, logs):
            before = os.path.getmtime(path) if path.exists() else None
            super()._save_model(epoch, batch, logs)
            saved.append(path.exists() and os.path.getmtime(path) != before)

    losses = iter([3.0, 2.0, 2.5, 1.0])
    cb = Spy(str(path), monitor="val_x", save_best_only=True, save_weights_only=True, mode="min",
             initial_value_threshold=2.8)
    cb.set_model(_model())
    cb.model.build((None, 3))
    for epoch in range(4):
        cb.on_epoch_end(epoch, {"val_x": next(losses)})
        time.sleep(0.01)
    assert saved == [False, True, False, True] and cb.best == 1.0
    with pytest.warns(UserWarning, match="Can save best model only with val_x available"):
        cb.on_epoch_end(4, {"loss": 0.1})


def test_integer_save_freq_counts_batches(tmp_path):
    x, y = _data(32)
    model = _model()
    pattern = str(tmp_path / "b-{epoch}-{batch}.weights.h5")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[ModelCheckpoint(pattern, save_freq=3, save_weights_only=True)])
    # 4 batches per epoch: saves after batches 3 (epoch 1), 2 and... every 3rd batch overall: 3, 6 -> (1, 3), (2, 2)
    assert sorted(os.listdir(tmp_path)) == ["b-1-3.weights.h5", "b-2-2.weights.h5"]


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        ModelCheckpoint(str(tmp_path / "w.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"\.keras"):
        ModelCheckpoint(str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")


CHILD = textwrap.dedent("""
    import sys, numpy as np, nbkeras as keras
    path = sys.argv[1]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1024, activation="relu"),
                              keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.rand(64, 64).astype("float32"); y = x.sum(axis=1, keepdims=True)
    print("ready", flush=True)
    model.fit(x, y, epochs=10000, batch_size=64, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(path)])
""")


def test_kill_9_during_saving_never_leaves_an_unreadable_file(tmp_path):
    """A model of ~1.1M parameters (13 MB with Adam's slots) saved every epoch; the process is killed at
    staggered moments, most of them mid-save. Whatever is at the checkpoint path must load."""
    path = tmp_path / "ckpt.keras"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = np.random.default_rng(0)
    loads = 0
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            deadline = time.monotonic() + 120
            while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0.0, 0.5)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert path.exists(), "the child never wrote a checkpoint"
        model = keras.models.load_model(path)
        assert model.count_params() > 1_000_000
        loads += 1
    assert loads == 4
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    # A kill mid-write may leave a temporary file beside the checkpoint, never a damaged checkpoint.
    assert all(n.startswith(".ckpt.keras.") for n in leftovers)
