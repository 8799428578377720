"""Loading refuses damaged or foreign files with a ValueError naming the file and leaves models untouched;
custom objects resolve only by name (register_keras_serializable, custom_objects, custom_object_scope)."""

import json
import zipfile

import numpy as np
import pytest

import nbkeras as keras
from nbkeras import saving
from nbkeras.layers import Dense


def _model(units=3):
    m = keras.Sequential([keras.Input((4,)), Dense(units, activation="relu"), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    return m


@pytest.fixture
def saved(tmp_path):
    m = _model()
    m.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)
    path = tmp_path / "m.keras"
    m.save(path)
    return path


@pytest.mark.parametrize("cut", [0, 10, 200, -300, -1])
def test_truncated_keras_file_raises_valueerror_naming_it(saved, tmp_path, cut):
    data = saved.read_bytes()
    bad = tmp_path / "bad.keras"
    bad.write_bytes(data[:cut] if cut else b"")
    with pytest.raises(ValueError, match="bad.keras"):
        keras.models.load_model(bad)


def test_corrupt_weights_inside_the_zip(saved, tmp_path):
    with zipfile.ZipFile(saved) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data[: len(data) // 2] if name == "model.weights.h5" else data)
    with pytest.raises(ValueError, match="bad.keras"):
        keras.models.load_model(bad)


def test_truncated_weights_file_leaves_model_untouched(tmp_path):
    m = _model()
    m.save_weights(tmp_path / "w.weights.h5")
    data = (tmp_path / "w.weights.h5").read_bytes()
    (tmp_path / "bad.weights.h5").write_bytes(data[: len(data) // 3])
    before = m.get_weights()
    with pytest.raises(ValueError, match="bad.weights.h5"):
        m.load_weights(tmp_path / "bad.weights.h5")
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_shape_mismatch_raises_before_any_weight_is_written(tmp_path):
    src = keras.Sequential([keras.Input((4,)), Dense(3), Dense(2)])  # the last layer differs
    src.save_weights(tmp_path / "w.weights.h5")
    dst = keras.Sequential([keras.Input((4,)), Dense(3), Dense(1)])
    before = dst.get_weights()
    with pytest.raises(ValueError, match="shape"):
        dst.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(dst.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # the first layer, which matched, was not written either
    with pytest.warns(UserWarning, match="skip_mismatch"):
        dst.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(dst.get_weights()[0], src.get_weights()[0])
    np.testing.assert_array_equal(dst.get_weights()[2], before[2])


def test_layer_count_mismatch_raises(tmp_path):
    src = keras.Sequential([keras.Input((4,)), Dense(3), Dense(3), Dense(1)])
    src.save_weights(tmp_path / "w.weights.h5")
    dst = keras.Sequential([keras.Input((4,)), Dense(3), Dense(1)])
    with pytest.raises(ValueError):
        dst.load_weights(tmp_path / "w.weights.h5")


def _rewrite_config(path, out, edit):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_unknown_class_lists_known_ones(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["class_name"] = "EvilLayer"
        config["config"]["layers"][1]["module"] = "os"

    _rewrite_config(saved, tmp_path / "u.keras", edit)
    with pytest.raises(ValueError, match=r"Unknown class 'EvilLayer'.*Known classes: .*Dense"):
        keras.models.load_model(tmp_path / "u.keras")


def test_lambda_is_never_run(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "class_name": "__lambda__", "config": {"code": "aW1wb3J0IG9z", "defaults": None, "closure": None}}

    _rewrite_config(saved, tmp_path / "l.keras", edit)
    with pytest.raises(ValueError, match="lambda"):
        keras.models.load_model(tmp_path / "l.keras", safe_mode=False)


def test_register_keras_serializable_and_scopes(tmp_path):
    @saving.register_keras_serializable(package="Test")
    class WideDense(Dense):
        def __init__(self, units, extra=2, **kwargs):
            super().__init__(units * extra, **kwargs)
            self.base_units, self.extra = units, extra

        def get_config(self):
            config = super().get_config()
            config.update(units=self.base_units, extra=self.extra)
            return config

    assert saving.get_registered_name(WideDense) == "Test>WideDense"
    assert saving.get_custom_objects()["Test>WideDense"] is WideDense
    model = keras.Sequential([keras.Input((3,)), WideDense(2, extra=3)])
    entry = saving.serialize_keras_object(model.layers[0])
    assert entry["registered_name"] == "Test>WideDense" and entry["class_name"] == "WideDense"
    model.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    assert type(loaded.layers[0]) is WideDense and loaded.layers[0].units == 6

    class Local(Dense):
        pass

    local = keras.Sequential([keras.Input((3,)), Local(2)])
    local.save(tmp_path / "local.keras")
    with pytest.raises(ValueError, match="Unknown class 'Local'"):
        keras.models.load_model(tmp_path / "local.keras")
    assert type(keras.models.load_model(tmp_path / "local.keras", custom_objects={"Local": Local}).layers[0]) \
        is Local
    with saving.custom_object_scope({"Local": Local}):
        assert type(keras.models.load_model(tmp_path / "local.keras").layers[0]) is Local


def test_serialize_round_trip_of_objects():
    for obj in [keras.initializers.GlorotUniform(seed=3), keras.regularizers.L1L2(l1=0.1, l2=0.2),
                keras.optimizers.Adam(learning_rate=0.01, amsgrad=True), keras.losses.Huber(delta=0.5)]:
        config = saving.serialize_keras_object(obj)
        assert set(config) >= {"module", "class_name", "config", "registered_name"}
        again = saving.deserialize_keras_object(json.loads(json.dumps(config)))
        assert type(again) is type(obj) and again.get_config() == obj.get_config()
    assert saving.deserialize_keras_object(saving.serialize_keras_object(keras.losses.mean_squared_error)) is \
        keras.losses.mean_squared_error


def test_legacy_h5_refused_clearly(tmp_path):
    (tmp_path / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(ValueError, match="legacy"):
        keras.models.load_model(tmp_path / "old.h5")
    with pytest.raises(ValueError, match="legacy"):
        _model().load_weights(tmp_path / "old.h5")
