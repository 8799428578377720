import numpy as np

from nbkeras.callbacks import CallbackList, CSVLogger


def fit(cbs, epoch_logs):
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end()


def test_writes_header_and_one_row_per_epoch(tmp_path, model):
    path = tmp_path / "log.csv"
    fit(CallbackList([CSVLogger(path)], model=model),
        [{"val_loss": 0.6, "loss": 0.5}, {"loss": 0.25, "val_loss": np.float32(0.375)}])
    # Keys sorted, rows in the csv module's excel dialect ("\r\n" line ends), floats as Python prints them.
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,0.5,0.6\r\n1,0.25,0.375\r\n"


def test_without_validation_keys_adds_val_columns_marked_na(tmp_path, model):
    path = tmp_path / "log.csv"
    fit(CallbackList([CSVLogger(str(path))], model=model), [{"loss": 0.5}, {"loss": 0.25, "val_loss": 0.125}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,0.5,NA\r\n1,0.25,0.125\r\n"


def test_separator(tmp_path, model):
    path = tmp_path / "log.csv"
    fit(CallbackList([CSVLogger(path, separator=";")], model=model), [{"loss": 0.5, "val_loss": 1.5}])
    assert path.read_bytes().decode() == "epoch;loss;val_loss\r\n0;0.5;1.5\r\n"


def test_append_writes_the_header_once(tmp_path, model):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path, append=True)
    cbs = CallbackList([logger], model=model)
    fit(cbs, [{"loss": 0.5, "val_loss": 1.0}])
    fit(cbs, [{"loss": 0.25, "val_loss": 0.75}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,0.5,1.0\r\n0,0.25,0.75\r\n"


def test_without_append_a_new_fit_overwrites(tmp_path, model):
    path = tmp_path / "log.csv"
    cbs = CallbackList([CSVLogger(path)], model=model)
    fit(cbs, [{"loss": 0.5, "val_loss": 1.0}])
    fit(cbs, [{"loss": 0.25, "val_loss": 0.75}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,0.25,0.75\r\n"


def test_each_row_is_on_disk_after_its_epoch(tmp_path, model):
    path = tmp_path / "log.csv"
    cbs = CallbackList([CSVLogger(path)], model=model)
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 0.5, "val_loss": 1.0})
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,0.5,1.0\r\n"
    cbs.on_train_end()


def test_sequences_and_strings(tmp_path, model):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"a": [1, 2], "b": "text", "val_a": np.array(3.0)})
    logger.on_train_end()
    assert path.read_bytes().decode() == 'epoch,a,b,val_a\r\n0,"""[1, 2]""",text,3.0\r\n'
