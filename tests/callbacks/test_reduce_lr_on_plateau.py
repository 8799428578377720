import pytest

from nbkeras.callbacks import CallbackList, History, ReduceLROnPlateau


def learning_rates(callback, model, values, key="val_loss"):
    """Run one epoch per value; return the learning rate after each epoch."""
    cbs = CallbackList([callback], model=model)
    cbs.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, {"loss": 0.0, key: value})
        rates.append(model.optimizer.learning_rate)
    cbs.on_train_end()
    return rates


def test_reduces_after_patience_epochs_without_improvement(model):
    cb = ReduceLROnPlateau(factor=0.5, patience=1)
    # Epoch 0 sets best; 1 and 2 do not improve (wait reaches 1 each time); 3 improves; 4 does not.
    rates = learning_rates(cb, model, [1.0, 1.0, 1.0, 0.5, 0.6])
    assert rates == pytest.approx([0.01, 0.005, 0.0025, 0.0025, 0.00125])


def test_min_delta_default_is_1e_4(model):
    rates = learning_rates(ReduceLROnPlateau(factor=0.5, patience=1), model, [1.0, 0.99995, 0.9])
    assert rates == pytest.approx([0.01, 0.005, 0.005])


def test_cooldown_pauses_counting(model):
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    # Reduce at epoch 1; epoch 2 is cooldown (counter 2 -> 1); epoch 3 ends it (1 -> 0) and counts -> reduce.
    rates = learning_rates(cb, model, [1.0] * 5)
    assert rates == pytest.approx([0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_min_lr_is_a_floor(model):
    rates = learning_rates(ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.004), model, [1.0] * 4)
    assert rates == pytest.approx([0.01, 0.004, 0.004, 0.004])


def test_mode_max(model):
    rates = learning_rates(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), model,
                           [0.5, 0.7, 0.6], key="val_accuracy")
    assert rates == pytest.approx([0.01, 0.01, 0.005])


def test_logs_learning_rate_and_prints_when_verbose(model, capsys):
    history = History()
    cbs = CallbackList([ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, verbose=1), history], model=model)
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 1.0})
    cbs.on_epoch_end(1, {"loss": 1.0})
    assert history.history["learning_rate"] == [0.01, 0.01]  # the rate the epoch ran with
    assert capsys.readouterr().out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.005.\n"


def test_factor_must_be_below_one():
    with pytest.raises(ValueError, match="ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.0"):
        ReduceLROnPlateau(factor=1.0)


def test_keras2_epsilon_means_min_delta():
    with pytest.warns(UserWarning, match="`epsilon` argument is deprecated"):
        cb = ReduceLROnPlateau(epsilon=0.01)
    assert cb.min_delta == 0.01


def test_missing_monitor_warns(model):
    cb = ReduceLROnPlateau()
    cb.set_model(model)
    with pytest.warns(UserWarning) as record:
        cb.on_epoch_end(0, {"loss": 1.0})
    assert str(record[0].message) == (
        "Learning rate reduction is conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,learning_rate."
    )
