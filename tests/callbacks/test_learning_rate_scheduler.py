import numpy as np
import pytest

from nbkeras.callbacks import CallbackList, History, LearningRateScheduler


def run_epochs(cbs, n):
    cbs.on_train_begin()
    for epoch in range(n):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, {"loss": 1.0})


def test_schedule_gets_epoch_and_current_rate(model):
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5

    history = History()
    run_epochs(CallbackList([LearningRateScheduler(schedule), history], model=model), 3)
    assert seen == [(0, 0.01), (1, 0.005), (2, 0.0025)]
    assert type(model.optimizer.learning_rate) is float and model.optimizer.learning_rate == 0.00125
    # The rate each epoch ran with is logged, so History records it.
    assert history.history["learning_rate"] == [0.005, 0.0025, 0.00125]


def test_one_argument_schedule(model):
    run_epochs(CallbackList([LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], model=model), 2)
    assert model.optimizer.learning_rate == 0.05


def test_numpy_float_output_is_stored_as_python_float(model):
    run_epochs(CallbackList([LearningRateScheduler(lambda epoch, lr: np.float32(0.25))], model=model), 1)
    assert type(model.optimizer.learning_rate) is float and model.optimizer.learning_rate == 0.25


def test_non_float_output_raises(model):
    cbs = CallbackList([LearningRateScheduler(lambda epoch, lr: 1)], model=model)
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float. Got: 1"):
        run_epochs(cbs, 1)


def test_optimizer_without_learning_rate_raises(model):
    model.optimizer = object()
    with pytest.raises(ValueError, match='Optimizer must have a "learning_rate" attribute.'):
        run_epochs(CallbackList([LearningRateScheduler(lambda epoch, lr: lr)], model=model), 1)


def test_verbose_message(model, capsys):
    run_epochs(CallbackList([LearningRateScheduler(lambda epoch, lr: 0.5, verbose=1)], model=model), 1)
    assert capsys.readouterr().out == "\nEpoch 1: LearningRateScheduler setting learning rate to 0.5.\n"
