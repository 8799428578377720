"""TensorBoard callback: the event files parse back and hold the logged values under Keras 3's tags."""

import builtins
import glob
import os
import struct
import zlib

import numpy as np
import pytest

import nbkeras as keras
from nbkeras.callbacks import tensorboard as tb_module


def read_events(directory):
    """All Event protos of the event files in `directory`, parsed from the TFRecord framing:
    uint64 length, uint32 crc of the length, `length` bytes of data, uint32 crc of the data."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    events = []
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            raw = f.read()
        pos = 0
        while pos < len(raw):
            assert pos + 12 <= len(raw), "truncated record header"
            (length,) = struct.unpack("<Q", raw[pos:pos + 8])
            pos += 12
            assert pos + length + 4 <= len(raw), "truncated record"
            event = event_pb2.Event()
            event.ParseFromString(raw[pos:pos + length])
            events.append(event)
            pos += length + 4
    return events


def scalars(directory):
    """{tag: {step: value}} for the scalar summaries in `directory`."""
    out = {}
    for event in read_events(directory):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def histogram_tags(directory):
    out = {}
    for event in read_events(directory):
        for value in event.summary.value:
            if value.HasField("histo"):
                out.setdefault(value.tag, []).append((event.step, value.histo))
    return out


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")
    return x, y


@pytest.fixture
def tbx():
    return pytest.importorskip("tensorboardX")


def test_epoch_scalars_equal_history(tmp_path, tbx):
    x, y = data()
    model = tiny_model()
    log_dir = tmp_path / "logs"
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=str(log_dir))])
    train = scalars(log_dir / "train")
    val = scalars(log_dir / "validation")
    for key in ("loss", "mae"):
        assert sorted(train[f"epoch_{key}"]) == [0, 1, 2]
        np.testing.assert_allclose([train[f"epoch_{key}"][e] for e in range(3)], history.history[key], rtol=1e-6)
        np.testing.assert_allclose([val[f"epoch_{key}"][e] for e in range(3)], history.history[f"val_{key}"],
                                   rtol=1e-6)
    np.testing.assert_allclose([train["epoch_learning_rate"][e] for e in range(3)], 0.05, rtol=1e-6)
    # No batch scalars with update_freq="epoch", and no val_ prefix in the validation tags.
    assert not any(tag.startswith("batch_") for tag in train)
    assert not any("val_" in tag for tag in val)
    # After each validation pass: evaluation_<name>_vs_iterations at the optimizer's iteration count (3 steps/epoch).
    assert sorted(val["evaluation_loss_vs_iterations"]) == [3, 6, 9]
    np.testing.assert_allclose([val["evaluation_loss_vs_iterations"][s] for s in (3, 6, 9)],
                               history.history["val_loss"], rtol=1e-6)


def test_pathlike_log_dir_and_no_validation_dir_without_validation(tmp_path, tbx):
    x, y = data()
    model = tiny_model()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path)])
    train = scalars(tmp_path / "train")
    np.testing.assert_allclose([train["epoch_loss"][e] for e in range(2)], history.history["loss"], rtol=1e-6)
    assert not (tmp_path / "validation").exists()


def test_batch_scalars_every_n_batches(tmp_path, tbx):
    x, y = data()
    model = tiny_model()
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=3), record])
    train = scalars(tmp_path / "train")
    # 4 batches per epoch, 8 in all; the global batch counter runs 1..8 across epochs, every 3rd is logged.
    assert sorted(train["batch_loss"]) == [3, 6]
    for step in (3, 6):
        assert train["batch_loss"][step] == pytest.approx(seen[step - 1]["loss"], rel=1e-6)
        assert train["batch_mae"][step] == pytest.approx(seen[step - 1]["mae"], rel=1e-6)
    assert sorted(train["epoch_loss"]) == [0, 1]


def test_update_freq_batch_logs_every_batch(tmp_path, tbx):
    x, y = data(16)
    model = tiny_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq="batch",
                                                     write_steps_per_second=True)])
    train = scalars(tmp_path / "train")
    assert sorted(train["batch_loss"]) == [1, 2]
    assert sorted(train["batch_steps_per_second"]) == [1, 2]
    assert train["epoch_steps_per_second"][0] > 0


def test_histograms_every_histogram_freq_epochs(tmp_path, tbx):
    x, y = data()
    model = tiny_model()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=2)])
    hists = histogram_tags(tmp_path / "train")
    expected = {f"{w.path.replace(':', '_')}/histogram" for layer in model.layers for w in layer.weights}
    assert set(hists) == expected and len(expected) == 4
    for tag, entries in hists.items():
        assert [step for step, _ in entries] == [0, 2]
    # The last histogram is of the final weights.
    kernel = model.layers[0].weights[0]
    _, histo = hists[f"{kernel.path}/histogram"][-1]
    values = kernel.numpy()
    assert histo.num == values.size
    assert histo.min == pytest.approx(values.min(), rel=1e-6) and histo.max == pytest.approx(values.max(), rel=1e-6)
    assert histo.sum == pytest.approx(values.sum(), rel=1e-5, abs=1e-6)


def test_write_images(tmp_path, tbx):
    x, y = data(8)
    model = tiny_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_images=True)])
    tags = {v.tag for e in read_events(tmp_path / "train") for v in e.summary.value if v.HasField("image")}
    # As Keras: a weight that squeezes to a scalar (the output bias, shape (1,)) is not drawn.
    assert tags == {f"{w.path}/image" for layer in model.layers for w in layer.weights
                    if np.squeeze(w.numpy()).ndim > 0}


def test_evaluate_writes_evaluation_scalars(tmp_path, tbx):
    x, y = data()
    model = tiny_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True,
                          callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    val = scalars(tmp_path / "validation")
    assert val["evaluation_loss_vs_iterations"] == {4: pytest.approx(logs["loss"], rel=1e-6)}


@pytest.mark.parametrize("kwargs", [{"profile_batch": 2}, {"profile_batch": (1, 3)}, {"embeddings_freq": 1},
                                    {"embeddings_metadata": {"emb": "meta.tsv"}}, {"update_freq": 0},
                                    {"update_freq": "sometimes"}, {"histogram_freq": -1}])
def test_unsupported_options_raise(tmp_path, tbx, kwargs):
    with pytest.raises(ValueError):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path), **kwargs)


def test_accepted_defaults(tmp_path, tbx):
    cb = keras.callbacks.TensorBoard(log_dir=str(tmp_path), write_graph=True, profile_batch=0, embeddings_freq=0,
                                     embeddings_metadata=None)
    assert cb.update_freq == "epoch" and cb.histogram_freq == 0
    assert keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq="batch").update_freq == 1


def test_missing_extra_names_it(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboardx(name, *args, **kwargs):
        if name == "tensorboardX" or name.startswith("tensorboardX."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
    with pytest.raises(ImportError, match=r'pip install "nbkeras\[tensorboard\]"') as info:
        keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    assert isinstance(info.value, ValueError)
    assert not tmp_path.joinpath("train").exists()
    assert tb_module.TensorBoard is keras.callbacks.TensorBoard


def test_weight_images_are_valid_pngs(tmp_path, tbx):
    x, y = data(8)
    model = tiny_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_images=True)])
    images = {v.tag: v.image for e in read_events(tmp_path / "train") for v in e.summary.value
              if v.HasField("image")}
    kernel = model.layers[0].weights[0].numpy()  # (3, 4): drawn with the longer side horizontal, 3 rows of 4
    img = images[f"{model.layers[0].weights[0].path}/image"]
    assert (img.height, img.width, img.colorspace) == (3, 4, 1)
    png = img.encoded_image_string
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + length])
    rows = np.frombuffer(raw, np.uint8).reshape(3, 5)[:, 1:]
    np.testing.assert_array_equal(rows, np.round(np.clip(kernel, 0, 1) * 255).astype(np.uint8))
