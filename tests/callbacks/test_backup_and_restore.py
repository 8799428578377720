"""BackupAndRestore: a fit killed with SIGKILL resumes at the right epoch and ends with the weights of an
uninterrupted run (weights and optimizer state come back from the backup)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.callbacks import BackupAndRestore

CHILD = textwrap.dedent("""
    import os, signal, sys, numpy as np, nbkeras as keras
    backup, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 3)).astype("float32"); y = x.sum(axis=1, keepdims=True)
    epochs_run = []
    def on_epoch_end(epoch, logs):
        epochs_run.append(epoch)
        if epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    cbs = [keras.callbacks.BackupAndRestore(backup),
           keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)] if backup != "-" else []
    model.fit(x, y, epochs=6, batch_size=16, shuffle=False, verbose=0, callbacks=cbs)
    np.savez(out, *model.get_weights(), epochs=np.array(epochs_run),
             iterations=np.array(model.optimizer.iterations))
""")


def _run(tmp_path, backup, out, kill_at=-1):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.run([sys.executable, str(script), str(backup), str(out), str(kill_at)], capture_output=True,
                          timeout=300)


def test_killed_fit_resumes_to_the_uninterrupted_result(tmp_path):
    backup = tmp_path / "backup"
    straight = _run(tmp_path, "-", tmp_path / "straight.npz")
    assert straight.returncode == 0, straight.stderr.decode()
    killed = _run(tmp_path, backup, tmp_path / "never.npz", kill_at=2)
    assert killed.returncode == -9
    assert json.loads((backup / "training_metadata.json").read_text()) == {"epoch": 3, "batch": 0}  # saved before the kill
    resumed = _run(tmp_path, backup, tmp_path / "resumed.npz")
    assert resumed.returncode == 0, resumed.stderr.decode()
    a, b = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert list(b["epochs"]) == [3, 4, 5]  # epochs 0-2 were not run again
    assert int(b["iterations"]) == int(a["iterations"]) == 18
    for key in a.files:
        if key.startswith("arr_"):
            np.testing.assert_array_equal(a[key], b[key])
    assert not backup.exists()  # deleted when fit completed


def test_in_process_resume_and_keep_checkpoint(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    cb = BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert json.loads((tmp_path / "b" / "training_metadata.json").read_text())["epoch"] == 2
    hist = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert len(hist.history["loss"]) == 1  # only epoch index 2 ran


def test_batch_frequency_and_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore(str(tmp_path), save_freq="never")
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []
    cb = BackupAndRestore(str(tmp_path / "b"), save_freq=3, delete_checkpoint=False)
    original = cb._save
    cb._save = lambda epoch, batch: (seen.append((epoch, batch)), original(epoch, batch))
    model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2, verbose=0, callbacks=[cb])
    assert seen == [(0, 3), (1, 2)]
    assert os.path.exists(tmp_path / "b" / "latest.weights.h5")
