import math

import numpy as np
import pytest

from nbkeras.callbacks import CallbackList, TerminateOnNaN


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_stops_on_nan_or_inf_loss(model, capsys, loss):
    cbs = CallbackList([TerminateOnNaN()], model=model)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cbs.on_train_batch_end(3, {"loss": loss})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"


def test_ignores_finite_or_missing_loss(model):
    cb = TerminateOnNaN()
    cb.set_model(model)
    cb.on_batch_end(0, {"loss": 1e30})
    cb.on_batch_end(1, {"mae": math.nan})
    cb.on_batch_end(2, None)
    assert not model.stop_training


def test_raise_error(model):
    cb = TerminateOnNaN(raise_error=True)
    cb.set_model(model)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2. Loss value: nan."):
        cb.on_train_batch_end(2, {"loss": math.nan})
    assert not model.stop_training


def test_needs_training_batch_hooks_only():
    cbs = CallbackList([TerminateOnNaN()])
    assert cbs.needs_batch_hooks("train")
    assert not cbs.needs_batch_hooks("test") and not cbs.needs_batch_hooks("predict")
